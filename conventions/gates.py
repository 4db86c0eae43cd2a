"""Gates other apps call before they let data flow.

- ``protocol_in_force(commune, on)``: may this commune transmit referrals to the prefecture?
  A ``Decision`` whose reason tells the referent why not and what to do.
- ``charter_acknowledged(user)``: has the user acknowledged the current confidentiality charter
  that applies to them? Required before opening any referral or minutes.
- ``charter_required``: a decorator for function views that sends the user to the charter page
  (``conventions:charter?next=…``) until they have acknowledged it.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from cmer import permissions
from cmer.accounts.models import Commune, Role
from cmer.accounts.requests import CmerRequest
from cmer.permissions import ALLOWED, Decision, denied
from cmer.prebuilt import prebuilt

from .models import CharterAcknowledgement, CharterVersion, Convention

# Roles that see referrals or minutes and therefore must acknowledge the charter.
CHARTER_ROLES = (Role.CELL_MEMBER, Role.REFERENT, Role.LIAISON)


def _what_to_do(side: str | None = None) -> str:
    """What the reader can do about it: the commune contacts the prefecture; the prefecture's
    liaison is the prefecture, so is told what to record instead (never to contact himself)."""
    if side == "prefecture":
        return _(
            "Enregistrez la signature du préfet pour la préfecture ; le référent de la commune "
            "enregistre celle de la commune. Le protocole entre en vigueur une fois signé par "
            "les deux parties, à sa date d'effet."
        )
    return _(
        "Contactez la préfecture (correspondant du département) pour faire signer ou renouveler "
        "le protocole, puis enregistrez-le dans « Conventions et charte »."
    )


def _date(day: datetime.date) -> str:
    return formats.date_format(day, "SHORT_DATE_FORMAT")


@prebuilt
def protocols_with_sides() -> QuerySet[Convention]:
    """Protocols and renewals (amendments apart), newest first, with ``with_sides()``: what
    decides whether a commune's protocol is in force. Built once per process
    (``cmer.prebuilt``): every referral page and the dashboards ask."""
    return (
        Convention.objects.with_sides()
        .exclude(kind=Convention.Kind.AMENDMENT)
        .order_by("-effective_date", "-pk")
    )


def protocol_in_force(
    commune: Commune, on: datetime.date | None = None, *, side: str | None = None
) -> Decision:
    """ALLOWED if ``commune`` has a protocol or renewal in force on ``on`` (default: today).

    Amendments do not count on their own: they change a protocol, they do not install the cell.
    Only a protocol whose signatures both sides recorded themselves counts (``with_sides()``:
    a stored "signed" status without them reads as awaiting signatures). Otherwise a denial
    whose reason says why (none, unsigned, not yet effective, expired, terminated) and what to
    do (``side``: the reader's party, "commune" by default, "prefecture" for the liaison).
    One query.
    """
    day = on or timezone.localdate()
    conventions = list(protocols_with_sides().filter(commune=commune))
    states = [(convention, convention.state_on(day)) for convention in conventions]
    if any(state == Convention.Status.IN_FORCE for _c, state in states):
        return ALLOWED
    prefix = _("Le protocole de la commune n'est pas en vigueur : ")
    upcoming = [c for c, state in states if state == Convention.Status.SIGNED]
    if upcoming:
        first = min(upcoming, key=lambda c: c.effective_date)
        why = _("le protocole signé ne prend effet que le %(date)s.") % {
            "date": _date(first.effective_date)
        }
        return denied(f"{prefix}{why} {_('Les transmissions seront possibles à cette date.')}")
    pending = [
        c
        for c, state in states
        if state in (Convention.Status.DRAFT, Convention.Status.AWAITING_SIGNATURES)
    ]
    if pending:
        why = _("le protocole est en préparation et n'est pas encore signé par les deux parties.")
        return denied(f"{prefix}{why} {_what_to_do(side)}")
    expired = [c for c, state in states if state == Convention.Status.EXPIRED]
    if expired:
        latest = expired[0]
        end = latest.period_end_on(day)
        why = _("le dernier protocole a expiré le %(date)s.") % {"date": _date(end)} if end else ""
        return denied(f"{prefix}{why} {_what_to_do(side)}")
    terminated = [c for c, state in states if state == Convention.Status.TERMINATED]
    if terminated:
        why = _("le dernier protocole a été résilié.")
        return denied(f"{prefix}{why} {_what_to_do(side)}")
    why = _("aucun protocole n'est enregistré pour cette commune.")
    return denied(f"{prefix}{why} {_what_to_do(side)}")


def _charter_scopes(user: Any) -> tuple[dict[int, int], list[int]]:
    """Communes (member or referent) and departments (liaison) whose charter binds ``user``.

    Communes come as ``{commune id: department id}``. Read from the roles and communes already
    loaded for this request (cmer.permissions): no query.
    """
    role_map = permissions.role_map(user)
    bound = {Role.CELL_MEMBER, Role.REFERENT}
    communes = {
        cid: role_map.communes[cid].department_id
        for cid, roles in role_map.by_commune.items()
        if roles & bound
    }
    department_ids = [did for did, roles in role_map.by_department.items() if Role.LIAISON in roles]
    return communes, department_ids


def _required(user: Any, versions: QuerySet[CharterVersion]) -> list[CharterVersion]:
    """The current version, among ``versions``, of each scope binding ``user``. One query.

    A commune's own charter applies to its members and referent; a commune without one falls
    back to its department's. A liaison is bound by their department's charter. Scopes with no
    published charter ask nothing.
    """
    if user is None or not user.is_authenticated:
        return []
    communes, department_ids = _charter_scopes(user)
    if not communes and not department_ids:
        return []
    wanted_departments = set(department_ids) | set(communes.values())
    scoped = versions.filter(
        Q(commune_id__in=list(communes), department__isnull=True)
        | Q(department_id__in=wanted_departments, commune__isnull=True)
    )
    latest_commune: dict[int, CharterVersion] = {}
    latest_department: dict[int | None, CharterVersion] = {}
    version: CharterVersion | None
    for version in scoped.order_by("version"):
        if version.commune_id is not None:
            latest_commune[version.commune_id] = version
        else:
            latest_department[version.department_id] = version
    required: dict[int, CharterVersion] = {}
    for commune_id, department_id in communes.items():
        version = latest_commune.get(commune_id) or latest_department.get(department_id)
        if version is not None:
            required[version.pk] = version
    for department_id in department_ids:
        version = latest_department.get(department_id)
        if version is not None:
            required[version.pk] = version
    return list(required.values())


def _acknowledged_by(user: Any, versions: QuerySet[CharterVersion]) -> QuerySet[CharterVersion]:
    """``versions`` annotated with ``acknowledged`` (by ``user``): no second query."""
    return versions.annotate(
        acknowledged=Exists(  # type: ignore[no-redef]  # django-stubs, see models.py
            CharterAcknowledgement.objects.filter(user_id=user.pk, charter=OuterRef("pk"))
        )
    )


def _by_scope(versions: list[CharterVersion]) -> list[CharterVersion]:
    return sorted(versions, key=lambda v: (str(v.scope), v.pk))


def current_charters_for(user: Any) -> list[CharterVersion]:
    """The current charter version of each scope binding ``user`` (one query)."""
    versions = CharterVersion.objects.select_related("commune", "department")
    return _by_scope(_required(user, versions))


def pending_charters_for(user: Any) -> list[CharterVersion]:
    """Current charters binding ``user`` that they have not acknowledged yet (one query)."""
    if user is None or not user.is_authenticated:
        return []
    versions = CharterVersion.objects.select_related("commune", "department")
    versions = _acknowledged_by(user, versions)
    return _by_scope([v for v in _required(user, versions) if not v.acknowledged])


def charter_acknowledged(user: Any) -> bool:
    """True if ``user`` acknowledged every current charter that binds them.

    Only cell members, referents and liaisons must acknowledge; other roles (agent, coordinator,
    DPO, administrator) get True. Every scope has a charter (the model one at least:
    charter_model.py). One query at most (none for a user whom no charter can bind): the scopes
    come from the roles loaded for the request, the acknowledgements are an ``Exists()``.
    """
    return not blocked_scopes(user)


@dataclass(frozen=True)
class BlockedScopes:
    """Where a user may not see referrals or minutes yet: charters pending there.

    ``commune_ids``: communes whose own charter binds the user (member, referent) and is not
    acknowledged; ``department_ids``: departments whose charter binds a liaison, which covers
    every commune of the department. A charter pending in Tarascon blocks Tarascon only.
    """

    commune_ids: frozenset[int] = frozenset()
    department_ids: frozenset[int] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.commune_ids or self.department_ids)

    def covers(self, commune: Commune) -> bool:
        return commune.pk in self.commune_ids or commune.department_id in self.department_ids

    def q(self, prefix: str = "commune") -> Q:
        """The rows of blocked communes (to ``exclude()`` from a list)."""
        return Q(**{f"{prefix}_id__in": list(self.commune_ids)}) | Q(
            **{f"{prefix}__department_id__in": list(self.department_ids)}
        )


# In the session: the scopes and the newest charter version seen when nothing was pending
# (``blocked_scopes``).
CHARTER_MEMO = "cmer_charters_read"


def _scopes_key(communes: dict[int, int], department_ids: list[int]) -> str:
    """The scopes binding the user, as a short string (communes with their department)."""
    return ",".join(
        [f"c{cid}:{did}" for cid, did in sorted(communes.items())]
        + [f"d{did}" for did in sorted(department_ids)]
    )


def _newest_charter_version() -> int:
    """The highest charter version id: one statement on the primary key, written without the
    ORM (it runs on every page; building a queryset would cost ten times more)."""
    table = connection.ops.quote_name(CharterVersion._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MAX(id) FROM {table}")  # noqa: S608 (our own table name)
        row = cursor.fetchone()
    return int(row[0] or 0)


def blocked_scopes(user: Any, request: CmerRequest | None = None) -> BlockedScopes:
    """The scopes whose current charter binds ``user`` and is not acknowledged (one query;
    with ``request``, once per request: the view's gate and base.html's notice share it).

    With ``request``, a session where everything was read keeps that fact with the scopes and
    the newest charter version it was checked against. While both are unchanged nothing can
    be pending: versions are only ever added (never edited or deleted, ``PROTECT``) and
    acknowledgements are never removed, so the next pages check one number instead of the
    charters (issue 13: CPU per page). A new version anywhere, or a change of roles or scopes,
    checks the charters again on the very next request, as before.
    """
    if user is None or not user.is_authenticated:
        return BlockedScopes()
    cached = getattr(request, "_cmer_blocked_scopes", None)
    if cached is not None:
        return cached
    communes, department_ids = _charter_scopes(user)
    if not communes and not department_ids:
        return BlockedScopes()
    session = getattr(request, "session", None)
    memo: list[Any] | None = None
    if session is not None:
        memo = [_scopes_key(communes, department_ids), _newest_charter_version()]
        if session.get(CHARTER_MEMO) == memo:
            result = BlockedScopes()
            if request is not None:
                request._cmer_blocked_scopes = result
            return result
    result = _blocked_now(user, communes, department_ids)
    if session is not None:
        if result:
            session.pop(CHARTER_MEMO, None)
        else:
            session[CHARTER_MEMO] = memo
    if request is not None:
        request._cmer_blocked_scopes = result
    return result


def _blocked_now(user: Any, communes: dict[int, int], department_ids: list[int]) -> BlockedScopes:
    versions = CharterVersion.objects.only("pk", "commune_id", "department_id", "version")
    pending = [v for v in _required(user, _acknowledged_by(user, versions)) if not v.acknowledged]
    blocked_communes = set()
    blocked_departments = set()
    for version in pending:
        if version.commune_id is not None:
            blocked_communes.add(version.commune_id)
        elif version.department_id in department_ids:
            blocked_departments.add(version.department_id)
        else:
            # A commune falling back to its department's charter (published before model
            # charters existed): it blocks the communes that use it.
            blocked_communes |= {
                cid for cid, did in communes.items() if did == version.department_id
            }
    return BlockedScopes(frozenset(blocked_communes), frozenset(blocked_departments))


class CharterPending(Exception):
    """Raised by ``require_charter``; ``CharterGateMiddleware`` turns it into a redirect to the
    charter page, so that access helpers can apply the gate per object."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def charter_redirect(request: HttpRequest) -> HttpResponseRedirect:
    query = urlencode({"next": request.get_full_path()})
    return HttpResponseRedirect(f"{reverse('conventions:charter')}?{query}")


def require_charter(request: CmerRequest, commune: Commune) -> None:
    """Per object: the content of ``commune`` needs its charter acknowledged (else redirect)."""
    if blocked_scopes(request.user, request).covers(commune):
        raise CharterPending(request.get_full_path())


class CharterGateMiddleware:
    """Turns ``CharterPending`` into the redirect to the charter page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, CharterPending):
            return charter_redirect(request)
        return None


def charter_required(
    view: Callable[..., HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    """Decorator for function views: the charter of the scope the user works in first.

    Per scope: the user is sent to the charter when it is pending where they work now
    (``request.commune``), or pending everywhere they are bound; a charter pending in
    another commune does not stop them. Objects of a blocked commune opened from here are
    stopped per object (``require_charter``) and lists leave them out (``BlockedScopes.q``).
    """

    @wraps(view)
    def wrapped(request: CmerRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        blocked = blocked_scopes(request.user, request)
        if blocked:
            commune = getattr(request, "commune", None)
            communes, department_ids = _charter_scopes(request.user)
            everywhere = (
                set(communes)
                <= blocked.commune_ids
                | {cid for cid, did in communes.items() if did in blocked.department_ids}
                and set(department_ids) <= blocked.department_ids
            )
            if everywhere or (commune is not None and blocked.covers(commune)):
                return charter_redirect(request)
        return view(request, *args, **kwargs)

    return wrapped
