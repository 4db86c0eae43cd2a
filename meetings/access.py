"""Read side of meetings: who may see which meeting and what they may do with it.

- The referent of a commune runs its cell: every meeting of the commune, and manages them.
- An invited cell member or liaison reads the meetings they were invited to (while they still
  hold a role there; a withdrawn invitation gives nothing).
- The liaison also sees the department's calendar: dates, commune, held or not, how many
  referrals were discussed, no content (``department_calendar``).
- Everybody else (other communes, agents, training coordinator, DPO, technical administrator,
  superuser) gets 404 exactly like a missing id (DESIGN.md invariant 7).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from cmer import permissions
from cmer.accounts.models import Membership, Role, User
from cmer.accounts.requests import AuthenticatedRequest
from cmer.audit.core import record_denial

from .models import (
    ActionItem,
    AgendaItem,
    ExternalParticipant,
    Invitation,
    Meeting,
    MinutesDocument,
    ReviewComment,
)

CELL_ROLES = (Role.CELL_MEMBER, Role.REFERENT, Role.LIAISON)
SOON_DAYS = 7


def _invited(user: Any) -> Exists:
    return Exists(
        Invitation.objects.filter(
            meeting=OuterRef("pk"), user_id=user.pk, withdrawn_at__isnull=True
        )
    )


def meetings_visible_to(user: Any) -> QuerySet[Meeting]:
    """Meetings whose content ``user`` may read. SQL only (literal commune ids + ``Exists``)."""
    parts = []
    referent = permissions.in_communes_where(user, Role.REFERENT)
    if referent is not None:
        parts.append(referent)
    cell = permissions.in_communes_where(user, *CELL_ROLES)
    if cell is not None:
        parts.append(cell & Q(_invited(user)))
    if not parts:
        return Meeting.objects.none()
    q = parts[0]
    for part in parts[1:]:
        q |= part
    return Meeting.objects.filter(q)


@dataclass
class Capabilities:
    manage: bool = False  # plan, agenda, attendance, decisions, approve (referent of the commune)
    invited: bool = False
    propose_correction: bool = False
    update_own_actions: bool = False


def capabilities(user: Any, meeting: Meeting) -> Capabilities:
    roles = permissions.roles_in(user, meeting.commune)
    caps = Capabilities(manage=Role.REFERENT in roles)
    caps.invited = Invitation.objects.filter(
        meeting=meeting, user_id=user.pk, withdrawn_at__isnull=True
    ).exists()
    caps.propose_correction = caps.invited and review_open(meeting)
    caps.update_own_actions = caps.invited or caps.manage
    return caps


def review_open(meeting: Meeting, today: datetime.date | None = None) -> bool:
    day = today or timezone.localdate()
    return (
        meeting.minutes_state == Meeting.Minutes.REVIEW
        and meeting.review_until is not None
        and day <= meeting.review_until
    )


def get_meeting_for_user(request: AuthenticatedRequest, pk: Any) -> tuple[Meeting, Capabilities]:
    """The meeting if ``request.user`` may read it, else 404 like a missing id (denial audited)."""
    meeting = permissions.get_or_404(
        meetings_visible_to(request.user).select_related("commune", "chair"), request, pk=pk
    )
    from conventions.gates import require_charter

    require_charter(request, meeting.commune)  # the charter of this meeting's commune first
    return meeting, capabilities(request.user, meeting)


def require(condition: bool, request: AuthenticatedRequest, meeting: Meeting) -> None:
    """Visible but not allowed for this action: still 404, so that nothing is learned."""
    if not condition:
        record_denial(request, Meeting, meeting.pk)
        raise Http404


def planning_communes(user: Any) -> QuerySet:
    """Communes where ``user`` may plan meetings (referent)."""
    return permissions.communes_where(user, Role.REFERENT)


def may_plan_in(user: Any, commune: Any) -> bool:
    return commune is not None and planning_communes(user).filter(pk=commune.pk).exists()


def is_liaison(user: Any) -> bool:
    """Holds the liaison role somewhere: the department's calendar is theirs."""
    return bool(permissions.communes_where(user, Role.LIAISON).exists())


def meeting_lists(
    user: Any, *, exclude: Q | None = None, limit: int = 100
) -> tuple[list[Meeting], list[Meeting]]:
    """The list page: planned meetings still to come (soonest first), then the others (newest
    first), ``limit`` each, among the meetings ``user`` may read minus ``exclude``."""
    visible = meetings_visible_to(user).select_related("commune")
    if exclude is not None:
        visible = visible.exclude(exclude)
    now = timezone.now()
    upcoming = visible.filter(starts_at__gte=now, status=Meeting.Status.PLANNED)
    others = visible.exclude(starts_at__gte=now, status=Meeting.Status.PLANNED)
    return list(upcoming.order_by("starts_at", "pk")[:limit]), list(others[:limit])


def active_invitee_ids(meeting: Meeting) -> list[int]:
    return list(
        meeting.invitations.filter(withdrawn_at__isnull=True).values_list("user_id", flat=True)
    )


def action_owners(meeting: Meeting) -> QuerySet[User]:
    """Who may own an action of ``meeting``: its invitees still in the commune's cell."""
    return invitable_users(meeting.commune).filter(
        meeting_invitations__meeting=meeting, meeting_invitations__withdrawn_at__isnull=True
    )


def corrections_for(meeting: Meeting, user: Any, caps: Capabilities) -> QuerySet[ReviewComment]:
    """Proposed corrections: the referent and the chair (président de séance, even when not the
    referent) read them all, anyone else only their own."""
    comments = meeting.review_comments.select_related("author")
    if not caps.manage and meeting.chair_id != user.pk:
        comments = comments.filter(author=user)
    return comments


def detail_content(meeting: Meeting, user: Any, caps: Capabilities) -> dict[str, Any]:
    """What the meeting page shows to ``user``, already allowed to read ``meeting``."""
    return {
        "agenda": agenda_with_labels(meeting, user),
        "invitations": list(
            meeting.invitations.filter(withdrawn_at__isnull=True)
            .select_related("user")
            .order_by("user__last_name", "user__first_name", "pk")
        ),
        "externals": list(meeting.externals.all()),
        "actions": meeting.action_items.select_related("owner", "agenda_item").order_by(
            "due_on", "pk"
        ),
        "comments": corrections_for(meeting, user, caps),
        "addenda": meeting.addenda.select_related("author"),
        "documents": meeting.documents.order_by("-version"),
    }


def get_agenda_item(request: AuthenticatedRequest, meeting: Meeting, pk: Any) -> AgendaItem:
    """An item of this meeting's agenda, else 404 (an id of another meeting is missing)."""
    return permissions.get_or_404(AgendaItem.objects.filter(meeting=meeting), request, pk=pk)


def get_external(request: AuthenticatedRequest, meeting: Meeting, pk: Any) -> ExternalParticipant:
    return permissions.get_or_404(
        ExternalParticipant.objects.filter(meeting=meeting), request, pk=pk
    )


def get_action_item(request: AuthenticatedRequest, meeting: Meeting, pk: Any) -> ActionItem:
    return permissions.get_or_404(ActionItem.objects.filter(meeting=meeting), request, pk=pk)


def invitable_users(commune: Any) -> QuerySet[User]:
    """Who may be invited: the commune's cell members and referents, the department's liaisons."""
    memberships = Membership.objects.active().filter(
        Q(commune=commune, role__in=[Role.CELL_MEMBER, Role.REFERENT])
        | Q(department_id=commune.department_id, role=Role.LIAISON)
    )
    return User.objects.filter(pk__in=memberships.values("user_id"), is_active=True).order_by(
        "last_name", "first_name", "email"
    )


def chair_choices(commune: Any) -> QuerySet[User]:
    """Who may chair: a referent or cell member of the commune."""
    memberships = Membership.objects.active().filter(
        commune=commune, role__in=[Role.CELL_MEMBER, Role.REFERENT]
    )
    return User.objects.filter(pk__in=memberships.values("user_id"), is_active=True).order_by(
        "last_name", "first_name", "email"
    )


def readable_referral_ids(user: Any, referral_ids: list[int]) -> set[int]:
    """Among ``referral_ids``, those ``user`` may open (cases' own rules). One query."""
    if not referral_ids:
        return set()
    from cases.access import referrals_readable_by

    return set(referrals_readable_by(user).filter(pk__in=referral_ids).values_list("pk", flat=True))


def agenda_referrals_for(user: Any, commune: Any) -> QuerySet:
    """Referrals of ``commune`` that ``user`` may put on an agenda: those they may read."""
    from cases.access import referrals_readable_by

    return referrals_readable_by(user).filter(commune=commune)


def get_document_for_user(
    request: AuthenticatedRequest, meeting: Meeting, pk: Any
) -> MinutesDocument:
    return permissions.get_or_404(MinutesDocument.objects.filter(meeting=meeting), request, pk=pk)


def calendar_rows(user: Any, limit: int = 500) -> QuerySet[Meeting]:
    """The liaison's calendar page: the newest ``limit`` rows of ``department_calendar``."""
    return department_calendar(user).select_related("commune")[:limit]


def department_calendar(user: Any) -> QuerySet[Meeting]:
    """The liaison's view of the department: dates, commune, status, number of referrals
    discussed. Values only, no content, no names."""
    communes = permissions.communes_where(user, Role.LIAISON)
    if communes.query.is_empty():
        return Meeting.objects.none()
    return (
        Meeting.objects.filter(commune__in=communes)
        .annotate(
            referral_count=Count(
                "agenda_items", filter=Q(agenda_items__referral__isnull=False), distinct=True
            )
        )
        .order_by("-starts_at", "-pk")
    )


def action_items_for_home(user: Any, today: datetime.date | None = None) -> QuerySet[ActionItem]:
    """Open action items due within a week or overdue: the user's own, and those of the
    meetings of communes where the user is the referent. Only ids, dates and status are shown
    on the home page (the text stays behind the meeting's own access check)."""
    day = today or timezone.localdate()
    q = Q(owner_id=user.pk) & Q(meeting__in=meetings_visible_to(user))
    referent = permissions.in_communes_where(user, Role.REFERENT, field="meeting__commune")
    if referent is not None:
        q |= referent
    return (
        ActionItem.objects.filter(q, status=ActionItem.Status.OPEN)
        .filter(due_on__lte=day + datetime.timedelta(days=SOON_DAYS))
        .select_related("meeting")
        .order_by("due_on", "pk")
    )


# Action items listed on the home page; past this many only the overdue count goes on.
HOME_ACTIONS_SHOWN = 20


@dataclass(frozen=True)
class HomeActions:
    """The home page's action items (``items``, the first ``HOME_ACTIONS_SHOWN`` by due date)
    and how many are overdue in all (``overdue``, the referent's dashboard)."""

    items: list[ActionItem]
    overdue: int

    def __bool__(self) -> bool:
        return bool(self.items)


def home_actions(user: Any, today: datetime.date | None = None) -> HomeActions:
    """``action_items_for_home`` read once for the list and the overdue count: one statement,
    two only when every listed item is overdue (the count then goes past the list)."""
    day = today or timezone.localdate()
    items = list(action_items_for_home(user, day)[:HOME_ACTIONS_SHOWN])
    overdue = sum(1 for item in items if item.due_on < day)
    if len(items) == HOME_ACTIONS_SHOWN and overdue == len(items):
        overdue = action_items_for_home(user, day).filter(due_on__lt=day).count()
    return HomeActions(items=items, overdue=overdue)


def agenda_with_labels(meeting: Meeting, user: Any) -> list[dict[str, Any]]:
    """The agenda as shown: each referral by reference + pseudonym, with a link only for those
    who may read the referral (cases' own rules decide)."""
    from .pseudonym import label

    items = list(
        AgendaItem.objects.filter(meeting=meeting)
        .select_related("referral")
        .prefetch_related("decisions", "decisions__author")
    )
    readable = readable_referral_ids(user, [item.referral_id for item in items if item.referral_id])
    rows = []
    for item in items:
        rows.append(
            {
                "item": item,
                "label": label(item.referral, meeting.local_day)
                if item.referral_id
                else item.title,
                "referral_link": item.referral_id in readable,
            }
        )
    return rows
