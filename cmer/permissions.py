"""The permission core: who may do what, where. Every app's ``access.py`` is built on it.

Three layers, each answered in SQL so that list pages cost a fixed number of queries:

1. Roles: a user's active (confirmed, in date) memberships give roles in communes (or in a
   whole department, which covers each of its communes). ``communes_where(user, roles)`` is a
   queryset of communes.
2. Object grants: need-to-know access to one object, given to one named person for a reason until
   an expiry. Stored in django-guardian's *direct foreign-key* tables (see cases.models);
   ``grant_exists(...)`` is the ``Exists()`` subquery for one object, ``in_granted(...)`` the
   condition list pages use (indexable on PostgreSQL). Group and model-level
   permissions are never consulted: a permission given to a group reveals nothing.
3. Decisions: rules answer ``Decision`` (allowed, or denied with a reason the UI can show).

Superuser and staff status give no access to any content: they are read only to *drop* content
roles (an administrator account holds none, DESIGN.md invariant 7), never to grant anything.
"no checker or cache lives across requests": role lookups are memoised on the user object only,
which Django loads afresh for every request.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import models
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.lookups import In
from django.http import Http404, HttpRequest
from django.utils import timezone
from guardian.utils import get_user_obj_perms_model

from cmer.accounts.models import CONTENT_ROLES, Commune, Membership, Role
from cmer.prebuilt import prebuilt

ALL_ROLES = frozenset(Role)


@dataclass(frozen=True)
class Decision:
    """The answer of a rule: allowed, or denied with a reason fit to show the user."""

    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


ALLOWED = Decision(True)


def denied(reason: str) -> Decision:
    return Decision(False, str(reason))


@dataclass
class RoleMap:
    """A user's active roles, by commune id, by department id, and installation-wide.

    ``communes``: the communes of the commune-scoped roles (department loaded), by name.
    """

    by_commune: dict[int, set[Role]] = field(default_factory=dict)
    by_department: dict[int, set[Role]] = field(default_factory=dict)
    installation: set[Role] = field(default_factory=set)
    communes: dict[int, Commune] = field(default_factory=dict)


@prebuilt
def _memberships_in_force(today: datetime.date) -> QuerySet[Membership]:
    """Every request's roles query, built once per process and day (cmer.prebuilt)."""
    return (
        Membership.objects.active(today)
        .select_related("commune__department")
        .order_by("commune__name", "commune_id")
    )


def _role_map(user: Any) -> RoleMap:
    if user is None or not user.is_authenticated or not user.is_active:
        return RoleMap()
    today = timezone.localdate()
    cached = getattr(user, "_cmer_role_map", None)
    if cached is not None and cached[0] == today:
        return cached[1]
    roles = RoleMap()
    # An administrator account holds no content role (DESIGN.md invariant 7): should one exist
    # anyway (written around Membership.save), it is ignored here as in ``active()``.
    privileged = bool(user.is_staff or user.is_superuser)
    # One query gives the roles and the communes they are held in (what every page shows):
    # confirmed memberships only (four-eyes, cmer.accounts.memberships).
    rows = _memberships_in_force(today).filter(user=user)
    for membership in rows:
        role = Role(membership.role)
        if privileged and role in CONTENT_ROLES:
            continue
        if membership.commune_id is not None:
            roles.by_commune.setdefault(membership.commune_id, set()).add(role)
            roles.communes.setdefault(membership.commune_id, membership.commune)
        elif membership.department_id is not None:
            roles.by_department.setdefault(membership.department_id, set()).add(role)
        else:
            roles.installation.add(role)
    user._cmer_role_map = (today, roles)
    return roles


def role_map(user: Any) -> RoleMap:
    """The user's active roles today, loaded once per request (one query)."""
    return _role_map(user)


def forget_roles(user: Any) -> None:
    """Drop the memoised roles (after a membership change within the same request)."""
    if hasattr(user, "_cmer_role_map"):
        del user._cmer_role_map


def roles_in(user: Any, commune: Commune) -> set[Role]:
    """The roles ``user`` holds today in ``commune``, including department-wide ones."""
    role_map = _role_map(user)
    return set(role_map.by_commune.get(commune.pk, set())) | set(
        role_map.by_department.get(commune.department_id, set())
    )


def has_role(user: Any, commune: Commune, *roles: Role) -> bool:
    return bool(roles_in(user, commune) & set(roles))


def installation_roles(user: Any) -> set[Role]:
    return set(_role_map(user).installation)


def all_roles(user: Any) -> set[Role]:
    role_map = _role_map(user)
    result = set(role_map.installation)
    for roles in (*role_map.by_commune.values(), *role_map.by_department.values()):
        result |= roles
    return result


def communes_where(user: Any, *roles: Role) -> QuerySet[Commune]:
    """Communes where ``user`` holds one of ``roles`` today (commune or department scope).

    One SQL statement; usable as a subquery (``commune__in=communes_where(...)``).
    """
    wanted = set(roles) or set(ALL_ROLES)
    role_map = _role_map(user)
    commune_ids = [cid for cid, held in role_map.by_commune.items() if held & wanted]
    department_ids = [did for did, held in role_map.by_department.items() if held & wanted]
    if not commune_ids and not department_ids:
        return Commune.objects.none()
    return Commune.objects.filter(Q(pk__in=commune_ids) | Q(department_id__in=department_ids))


def user_communes(user: Any) -> list[Commune]:
    """Every commune where ``user`` holds a role today, by name, with their department.

    Read from the roles already loaded (no query) unless the user holds a department-wide role,
    which covers each commune of the department (one query then).
    """
    role_map = _role_map(user)
    if role_map.by_department:
        return list(communes_where(user).select_related("department"))
    return list(role_map.communes.values())


def commune_ids_where(user: Any, *roles: Role) -> list[int]:
    return list(communes_where(user, *roles).values_list("pk", flat=True))


def in_communes_where(user: Any, *roles: Role, field: str = "commune") -> Q | None:
    """``Q`` on ``field`` for the communes where ``user`` holds one of ``roles``; None if none.

    Same scope as ``communes_where`` but written with literal ids, no subquery. Use it inside an
    OR: PostgreSQL cannot use an index for ``commune_id IN (SELECT …)`` under an OR, so it scans
    the whole table (and JIT-compiles the plan); with literal ids it combines index scans
    (BitmapOr). Measured in bench/RESULTS.md ("Referrals list").
    """
    wanted = set(roles) or set(ALL_ROLES)
    role_map = _role_map(user)
    commune_ids = sorted(cid for cid, held in role_map.by_commune.items() if held & wanted)
    department_ids = sorted(did for did, held in role_map.by_department.items() if held & wanted)
    q = None
    if commune_ids:
        q = Q(**{f"{field}_id__in": commune_ids})
    if department_ids:
        by_department = Q(**{f"{field}__department_id__in": department_ids})
        q = by_department if q is None else q | by_department
    return q


def grant_exists(
    user: Any,
    model: type[models.Model],
    codenames: Iterable[str],
    *,
    outer_ref: str = "pk",
    now: datetime.datetime | None = None,
) -> Exists:
    """``Exists()`` over the direct-FK user permission table of ``model``: an unexpired grant.

    Written by hand rather than guardian's ``get_objects_for_user``: its group branch adds an OR
    that turns PostgreSQL's plan into a scan of the whole table (see bench/RESULTS.md).
    """
    grants = _unexpired_grants(user, model, codenames, now)
    return Exists(grants.filter(content_object=OuterRef(outer_ref)))


def _unexpired_grants(
    user: Any, model: type[models.Model], codenames: Iterable[str], now: datetime.datetime | None
) -> QuerySet:
    """The user's own rows of ``model``'s direct-FK permission table, unexpired (never groups)."""
    # guardian's hint says an instance; its code takes the model class as well (it reads the
    # class of an instance), which is what we have here.
    perm_model = get_user_obj_perms_model(model)  # type: ignore[arg-type]
    filters = Q(user_id=getattr(user, "pk", None), permission__codename__in=list(codenames))
    if "expires_at" in {f.name for f in perm_model._meta.get_fields()}:
        filters &= Q(expires_at__gt=now or timezone.now())
    return perm_model._default_manager.filter(filters)


class InIdArray(In):
    """``lhs IN (subquery)``, written ``lhs = ANY(ARRAY(subquery))`` on PostgreSQL.

    For PostgreSQL, ``ARRAY(subquery)`` is an init plan run once, and ``id = ANY($1)`` is an index
    condition: inside an OR it joins the other arms in a BitmapOr (a few primary-key lookups).
    ``id IN (subquery)`` or ``EXISTS`` would instead be a filter evaluated on every row that the
    other conditions bring back. Other databases get the plain ``IN``.
    """

    def get_rhs_op(self, connection: Any, rhs: str) -> str:
        if connection.vendor == "postgresql":
            return f"= ANY(ARRAY{rhs})"
        return super().get_rhs_op(connection, rhs)


def in_granted(
    user: Any,
    model: type[models.Model],
    codenames: Iterable[str],
    *,
    field: str = "pk",
    now: datetime.datetime | None = None,
) -> InIdArray:
    """Condition "``field`` is an object on which ``user`` holds an unexpired grant".

    Same rows as ``grant_exists`` (direct-FK user table only, expiry included, groups never
    consulted), shaped for an OR of access paths on a list page: PostgreSQL looks up the granted
    ids by primary key instead of filtering every row of the user's communes (bench/RESULTS.md,
    "Referrals list"). Usable in ``filter()`` and inside ``Q(...)``.
    """
    granted_ids = _unexpired_grants(user, model, codenames, now).values("content_object_id")
    return InIdArray(F(field), granted_ids.query)


_Row = TypeVar("_Row")


def get_or_404(
    queryset: QuerySet[Any, _Row],
    request: HttpRequest | None = None,
    *,
    record: bool = True,
    **lookup: Any,
) -> _Row:
    """Fetch one object of a *visible-to* queryset, or 404 exactly like a missing row.

    When the row exists but is not visible, the denial goes to the audit trail.
    """
    try:
        return queryset.get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError) as exc:
        if record and request is not None:
            _record_denial_if_exists(queryset.model, request, lookup)
        raise Http404 from exc


def _record_denial_if_exists(model: type[models.Model], request: HttpRequest, lookup: dict) -> None:
    from cmer.audit.core import record_denial

    try:
        exists = model._default_manager.filter(**lookup).exists()
    except (ValueError, TypeError):
        return
    if exists:
        pk = lookup.get("pk", lookup.get("id"))
        record_denial(request, model, pk)
