"""Read side of referrals: who may see which referral, and what they may do with it.

The DESIGN.md table "What each may do with a referral" is implemented here and nowhere else.
List pages use the querysets (SQL only: commune ids and the granted ids from the grant
table), detail pages use ``get_referral_for_user`` which 404s exactly like a missing row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _

from cmer import permissions
from cmer.accounts.models import Role
from cmer.accounts.requests import AuthenticatedRequest
from cmer.audit.core import entries_for_object, record_denial
from cmer.permissions import Decision, denied

from .models import (
    Attachment,
    Referral,
    ReferralUserObjectPermission,
    StateInformation,
    TimelineEntry,
    Transmission,
)

Status = Referral.Status
GRANT_CODENAMES = ("view_referral", "contribute_referral")
ARCHIVE_SESSION_KEY = "cmer_archive_open"
ARCHIVE_OPEN_SECONDS = 15 * 60
NOT_READABLE = (Status.DRAFT, Status.ARCHIVED)


def _any(*qs: Q | None) -> Q | None:
    result = None
    for q in qs:
        if q is not None:  # a user's _content_q(): None when nothing is readable
            result = q if result is None else result | q
    return result


def _communes(user: Any, role: Role) -> QuerySet | None:
    communes = permissions.communes_where(user, role)
    return None if communes.query.is_empty() else communes


def _content_q(user: Any) -> Q | None:
    """Referrals whose identity, facts and attachments ``user`` may read today."""
    return _content_arms(user)[0]


def _content_arms(user: Any) -> tuple[Q | None, bool]:
    """``_content_q`` and whether one of its arms reads whole communes (referent, liaison)."""
    # Literal commune ids, not a subquery: these parts are OR-ed (with the author's own filings
    # too), and PostgreSQL then scans the whole table for ``commune_id IN (SELECT …)``.
    parts = []
    referent_communes = permissions.in_communes_where(user, Role.REFERENT)
    if referent_communes is not None:
        parts.append(referent_communes & ~Q(status__in=NOT_READABLE))
    member_communes = permissions.in_communes_where(user, Role.CELL_MEMBER)
    if member_communes is not None:
        # The granted ids as an indexable ``id = ANY(ARRAY(…))`` on PostgreSQL: the member's
        # arm then reads only the granted rows, not every row of the commune.
        parts.append(
            member_communes
            & ~Q(status__in=NOT_READABLE)
            & Q(permissions.in_granted(user, Referral, GRANT_CODENAMES))
        )
    liaison_communes = permissions.in_communes_where(user, Role.LIAISON)
    if liaison_communes is not None:
        parts.append(
            liaison_communes
            & ~Q(status__in=NOT_READABLE)
            & Q(Exists(Transmission.objects.filter(referral=OuterRef("pk"))))
        )
    commune_wide = referent_communes is not None or liaison_communes is not None
    return _any(*parts), commune_wide


def referrals_readable_by(user: Any) -> QuerySet[Referral]:
    """Referrals whose content ``user`` may read (archives excluded: they need a reason)."""
    q = _content_q(user)
    return Referral.objects.filter(q) if q is not None else Referral.objects.none()


def _own_q(user: Any) -> Q:
    return Q(author_id=user.pk) & ~Q(status=Status.ARCHIVED)


def referrals_listed_for(user: Any) -> QuerySet[Referral]:
    """What a user's list shows: readable referrals, plus their own filings (status only)."""
    return Referral.objects.filter(_any(_content_q(user), _own_q(user)))


def listed_parts(user: Any) -> list[QuerySet[Referral]]:
    """``referrals_listed_for`` as disjoint querysets whose union is the same rows.

    For a list page (``cases.views.listing.list_page`` reads them as one ``UNION ALL``): OR-ing the
    commune's rows with the user's own filings makes PostgreSQL read the rows through a bitmap
    of both indexes, i.e. visit every heap block of the commune; each part alone reads its
    rows from one index (the referent's from the covering list index, without the heap).
    Where no arm reads a whole commune, one queryset.
    """
    content, commune_wide = _content_arms(user)
    own = _own_q(user)
    if content is None:
        return [Referral.objects.filter(own)]
    if not commune_wide:
        # A cell member's rows are driven by the grants (a few primary-key lookups): the OR
        # costs the database nothing, and one queryset is cheaper to build than two.
        return [Referral.objects.filter(content | own)]
    return [Referral.objects.filter(content), Referral.objects.filter(own & ~content)]


def transmitted_for_liaison(user: Any) -> QuerySet[Referral]:
    communes = _communes(user, Role.LIAISON)
    if communes is None:
        return Referral.objects.none()
    return Referral.objects.filter(
        Q(commune__in=communes),
        ~Q(status__in=NOT_READABLE),
        Exists(Transmission.objects.filter(referral=OuterRef("pk"))),
    )


def archived_for_referent(user: Any) -> QuerySet[Referral]:
    communes = _communes(user, Role.REFERENT)
    if communes is None:
        return Referral.objects.none()
    return Referral.objects.filter(commune__in=communes, status=Status.ARCHIVED)


@dataclass
class Capabilities:
    read_content: bool = False
    edit_draft: bool = False
    add_note: bool = False
    manage: bool = False
    write_feedback: bool = False
    add_addendum: bool = False
    see_access_log: bool = False
    is_author: bool = False
    via_archive: bool = False
    transmit: Decision = field(default_factory=lambda: denied(""))

    @property
    def sees_status_only(self) -> bool:
        return not self.read_content and not self.edit_draft


def _grants_held(user: Any, referral: Referral) -> tuple[bool, bool]:
    """Whether ``user`` holds a grant on ``referral`` (read), and one to add notes: one
    statement for both."""
    held = (
        Referral.objects.filter(pk=referral.pk)
        .annotate(
            read=permissions.grant_exists(user, Referral, GRANT_CODENAMES),
            notes=permissions.grant_exists(user, Referral, ("contribute_referral",)),
        )
        .values_list("read", "notes")
        .first()
    )
    read, notes = held or (False, False)
    return bool(read), bool(read and notes)


def archive_open(request: HttpRequest, referral_pk: int) -> bool:
    opened = request.session.get(ARCHIVE_SESSION_KEY, {})
    until = opened.get(str(referral_pk))
    return bool(until and until > time.time())


def remember_archive_open(request: HttpRequest, referral_pk: int) -> None:
    opened = {
        k: v for k, v in request.session.get(ARCHIVE_SESSION_KEY, {}).items() if v > time.time()
    }
    opened[str(referral_pk)] = time.time() + ARCHIVE_OPEN_SECONDS
    request.session[ARCHIVE_SESSION_KEY] = opened


def capabilities(user: Any, referral: Referral, request: HttpRequest | None = None) -> Capabilities:
    """What ``user`` may do with ``referral`` (assumed visible). One query at most (a grant)."""
    caps = Capabilities(is_author=referral.author_id == user.pk)
    roles = permissions.roles_in(user, referral.commune)
    status = referral.status
    if status == Status.DRAFT:
        caps.edit_draft = caps.is_author
        caps.read_content = caps.is_author
        return caps
    if status == Status.ARCHIVED:
        if Role.REFERENT in roles and request is not None and archive_open(request, referral.pk):
            caps.read_content = True
            caps.via_archive = True
            caps.see_access_log = True
        return caps
    if Role.REFERENT in roles:
        caps.read_content = caps.manage = caps.add_note = caps.see_access_log = True
        caps.add_addendum = True
        caps.transmit = can_transmit(referral)
    elif Role.CELL_MEMBER in roles:
        caps.read_content, caps.add_note = _grants_held(user, referral)
    if Role.LIAISON in roles and hasattr(referral, "transmission"):
        caps.read_content = True
        caps.write_feedback = True
    if caps.is_author and status != Status.CLOSED:
        caps.add_addendum = True
    if referral.anonymised_at is not None:
        # Anonymised (cases.retention) while still open, by the age rule: nothing is left to
        # read, and nothing may be added that the retention clock would never erase.
        return Capabilities(is_author=caps.is_author, read_content=caps.read_content)
    return caps


# The statuses a referral may be transmitted from (then the protocol decides).
TRANSMITTABLE = (Status.IN_ASSESSMENT, Status.FOLLOWED_UP)


def can_transmit(referral: Referral) -> Decision:
    """The single hook deciding whether a referral may go to the prefecture now."""
    if referral.status not in TRANSMITTABLE:
        if referral.status == Status.TRANSMITTED:
            return denied(_("Ce signalement a déjà été transmis à la préfecture."))
        return denied(_("Passez d'abord le signalement en évaluation."))
    from conventions.gates import protocol_in_force

    return protocol_in_force(referral.commune)


def get_referral_for_user(request: AuthenticatedRequest, pk: Any) -> tuple[Referral, Capabilities]:
    """The referral if the user may see it (content or status), else 404 like a missing id."""
    user = request.user
    visible = referrals_listed_for(user) | archived_for_referent(user)
    referral = permissions.get_or_404(
        visible.select_related("commune", "commune__department", "transmission"),
        request,
        pk=pk,
    )
    caps = capabilities(user, referral, request)
    if referral.is_archived and not caps.read_content:
        # Archived: only the referent, after stating a reason (handled by the archive view).
        raise Http404
    if caps.read_content and not caps.edit_draft:
        from conventions.gates import require_charter

        require_charter(request, referral.commune)  # the charter of this commune first
    return referral, caps


# The parts of a referral a transmission can share with the prefecture.
TRANSMITTABLE_ITEMS = frozenset(Transmission.Item.values)
# The commune's own entries on a referral: the addenda to its frozen text and the referent's
# feedback to the reporting agent. No transmission carries them (DESIGN.md: the liaison reads
# what was transmitted), so the liaison never reads them, however many parts were shared.
CELL_ENTRIES = "cell_entries"
# What a reader of a referral's content sees of it: everything, unless they read it as the
# prefecture's liaison (see ``shared_items_for``).
ALL_ITEMS = TRANSMITTABLE_ITEMS | {CELL_ENTRIES}
# Timeline entries shown to the liaison when the referent shared "timeline"; the prefecture's
# own feedback is always shown to them.
_SHARED_TIMELINE_KINDS = (
    TimelineEntry.Kind.NOTE,
    TimelineEntry.Kind.DECISION,
    TimelineEntry.Kind.STATUS,
)


def shared_items_for(user: Any, referral: Referral, caps: Capabilities) -> frozenset[str]:
    """Which parts of ``referral`` (``Transmission.Item`` values) ``user`` reads.

    The prefecture's liaison reads what the referent shared with the prefecture, nothing more;
    anyone else who may read the content (``caps``) reads all of it. A referent of the commune
    who is also a liaison (``caps.manage``), or the author of a draft, is not limited.
    """
    if not (caps.read_content or caps.edit_draft):
        return frozenset()
    if caps.manage or caps.edit_draft:
        return ALL_ITEMS
    if Role.LIAISON not in permissions.roles_in(user, referral.commune):
        return ALL_ITEMS
    transmission = getattr(referral, "transmission", None)
    if transmission is None:
        return frozenset()
    # The stored list can only narrow what the liaison reads, never widen it.
    return frozenset(transmission.shared_items or ()) & TRANSMITTABLE_ITEMS


def timeline_for(referral: Referral, shared: frozenset[str]) -> QuerySet[TimelineEntry]:
    """The timeline entries of ``referral`` for a reader who reads ``shared`` of it.

    The commune's readers (``CELL_ENTRIES`` in ``shared``) read every entry. The liaison reads
    the prefecture's own feedback, and the cell's notes, decisions and status changes when the
    timeline was shared; never the addenda nor the feedback to the agent, even when all four
    parts were shared (``shared`` is then every transmittable part, not ``ALL_ITEMS``).
    """
    timeline = referral.timeline.select_related("author").order_by("created_at", "pk")
    if CELL_ENTRIES in shared:
        return timeline
    kinds = [TimelineEntry.Kind.PREFECTURE_FEEDBACK]
    if Transmission.Item.TIMELINE in shared:
        kinds.extend(_SHARED_TIMELINE_KINDS)
    return timeline.filter(kind__in=kinds)


def attachments_for(referral: Referral, shared: frozenset[str]) -> QuerySet[Attachment]:
    if Transmission.Item.ATTACHMENTS not in shared:
        return Attachment.objects.none()
    return referral.attachments.all()


def get_attachment_for_user(
    request: HttpRequest, referral: Referral, caps: Capabilities, attachment_pk: Any
) -> Attachment:
    """An attachment of ``referral`` the user may download, else 404 (the denial recorded)."""
    shared = shared_items_for(request.user, referral, caps)
    require(Transmission.Item.ATTACHMENTS in shared, request, referral)
    return permissions.get_or_404(attachments_for(referral, shared), request, pk=attachment_pk)


def may_export_dossier(user: Any, referral: Referral, caps: Capabilities) -> bool:
    """Whether ``user`` may take ``referral``'s dossier out of the application as a PDF.

    The commune's referent (an archive once opened with a reason: ``caps.read_content``) and the
    department's liaison for a referral transmitted to the prefecture (what was shared only:
    ``shared_items_for``): the transmission already hands that part to the State, whose services
    need it in their own file. Not a cell member, even granted: a grant gives reading for a
    reason until an expiry, and a copy would outlive both. Never the author of a draft, and no
    other role reads the content at all (DESIGN.md, "What each may do with a referral").
    """
    if not caps.read_content or caps.edit_draft:
        return False
    roles = permissions.roles_in(user, referral.commune)
    if Role.REFERENT in roles:
        return True
    return Role.LIAISON in roles and hasattr(referral, "transmission")


def agent_feedback_for(referral: Referral) -> QuerySet[TimelineEntry]:
    """What the referent told the reporting agent (the author's status page)."""
    return referral.timeline.filter(kind=TimelineEntry.Kind.AGENT_FEEDBACK).order_by("created_at")


def grants_of(referral: Referral) -> QuerySet[ReferralUserObjectPermission]:
    """The members' grants on ``referral`` (for its referent's detail page)."""
    return (
        ReferralUserObjectPermission.objects.filter(content_object=referral)
        .select_related("user", "permission")
        .order_by("expires_at")
    )


def get_grant(request: HttpRequest, referral: Referral, grant_pk: Any) -> Any:
    """One grant on ``referral``, else 404 (a grant on another referral is missing here)."""
    return permissions.get_or_404(
        ReferralUserObjectPermission.objects.filter(content_object=referral), request, pk=grant_pk
    )


def sent_state_information_of(referral: Referral) -> QuerySet[StateInformation]:
    return referral.state_info.filter(status=StateInformation.Status.SENT)


def access_log_of(referral: Referral) -> Any:
    """Who accessed ``referral`` (``caps.see_access_log``): one row per person, event and kind
    of access, with how many times and the first and last time, newest first.

    Grouped in SQL, so that a referral read every day for years stays a few lines to page
    through. ``additional_data`` is the canonical JSON text (cmer.audit): equal reads group.
    """
    return (
        entries_for_object(referral)
        .order_by()
        .values("actor_email", "event", "additional_data")
        .annotate(times=Count("id"), first=Min("timestamp"), last=Max("timestamp"))
        .order_by("-last", "actor_email")
    )


def get_liaison_referral(request: HttpRequest, pk: Any) -> Referral:
    return permissions.get_or_404(
        transmitted_for_liaison(request.user).select_related("commune"), request, pk=pk
    )


def transmitted_by_reference(user: Any, commune: Any, reference: str) -> Referral | None:
    """The referral of ``commune`` with ``reference``, among those transmitted to ``user``.

    For the liaison's State information form: a reference that exists but was never
    transmitted gets the very answer of one that does not exist, so nothing is learned.
    """
    return (
        transmitted_for_liaison(user)
        .filter(commune=commune, reference=reference.strip().upper())
        .first()
    )


def state_information_visible_to(user: Any) -> QuerySet[StateInformation]:
    """Sent information to the referents of the commune; the liaison sees what they wrote."""
    parts = []
    referent_communes = _communes(user, Role.REFERENT)
    if referent_communes is not None:
        parts.append(Q(commune__in=referent_communes, status=StateInformation.Status.SENT))
    liaison_communes = _communes(user, Role.LIAISON)
    if liaison_communes is not None:
        parts.append(Q(commune__in=liaison_communes, author_id=user.pk))
    q = _any(*parts)
    return StateInformation.objects.filter(q) if q is not None else StateInformation.objects.none()


def get_state_information(request: HttpRequest, pk: Any) -> StateInformation:
    return permissions.get_or_404(
        state_information_visible_to(request.user).select_related("commune", "referral"),
        request,
        pk=pk,
    )


def require(condition: bool, request: HttpRequest, referral: Referral) -> None:
    """Visible but not allowed for this action: still 404, so that nothing is learned."""
    if not condition:
        record_denial(request, Referral, referral.pk)
        raise Http404


def referral_commune_choices(user: Any) -> QuerySet:
    """Communes where ``user`` may file a referral."""
    return permissions.communes_where(user, Role.REPORTING_AGENT, Role.CELL_MEMBER, Role.REFERENT)
