"""Home dashboards of the municipal referent and of the prefecture's liaison (issue 16).

Counted in the user's scope only (the communes where they are referent; the communes of the
departments where they are liaison), in a fixed number of statements whatever the volume
(pinned by tests). Other apps' data is read through their own access functions: meetings'
``meetings_visible_to`` (and ``home_actions`` for the overdue count), conventions' state, training's
headcounts. Registered with the core's home page (``cmer.home``) from ``CasesConfig.ready()``.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.utils import timezone

from cmer import permissions
from cmer.accounts.models import Commune, Role

from .models import Referral, ReferralUserObjectPermission, TimelineEntry

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

Status = Referral.Status
EXPIRING_DAYS = 14
CELL_ACTIVITY_DAYS = 180


@dataclass
class Coverage:
    people: int
    headcount: int

    @property
    def percent(self) -> int | None:
        return round(100 * self.people / self.headcount) if self.headcount else None

    @property
    def over(self) -> bool:
        """More people trained than the declared headcount: the headcount is out of date."""
        return bool(self.headcount) and self.people > self.headcount


@dataclass
class ReferentDashboard:
    by_status: list[tuple[StrOrPromise, int]] = field(default_factory=list)
    urgent_open: int = 0
    oldest_unassessed: Referral | None = None
    expiring_grants: int = 0
    next_meeting: Any = None
    protocols: list[dict[str, Any]] = field(default_factory=list)
    coverage: Coverage | None = None


def _protocol_rows(communes: Sequence[Commune], today: datetime.date) -> list[dict[str, Any]]:
    """Per commune: the protocol's state and end date (one query for all the communes)."""
    from conventions.gates import protocols_with_sides
    from conventions.models import Convention

    conventions = protocols_with_sides().filter(commune__in=communes)
    by_commune: dict[int, list[Any]] = {}
    for convention in conventions:
        by_commune.setdefault(convention.commune_id, []).append(convention)
    rows = []
    for commune in communes:
        mine = by_commune.get(commune.pk, [])
        in_force = next((c for c in mine if c.is_in_force(today)), None)
        shown = in_force or (mine[0] if mine else None)
        rows.append(
            {
                "commune": commune,
                "in_force": in_force is not None,
                "state_label": Convention.Status(shown.state_on(today)).label if shown else None,
                "ends_on": shown.period_end_on(today) if shown else None,
            }
        )
    return rows


def _coverage(communes: list[Commune], year: int) -> Coverage:
    """People trained this year (present at a held session of these communes) against the
    headcounts declared for them (two queries)."""
    from training.models import Attendance, ServiceHeadcount, TrainingSession

    people = (
        Attendance.objects.filter(
            session__commune__in=communes,
            session__status=TrainingSession.Status.HELD,
            session__date__year=year,
            status=Attendance.Status.PRESENT,
        )
        .values("trainee")
        .distinct()
        .count()
    )
    headcount = ServiceHeadcount.objects.filter(commune__in=communes, year=year).aggregate(
        total=Sum("headcount")
    )["total"]
    return Coverage(people=people, headcount=headcount or 0)


def referent_dashboard(user: Any) -> ReferentDashboard | None:
    """None for anyone but a referent (no query then). Eight statements otherwise (the
    overdue action items are counted with the home page's list, ``meetings.access.home_actions``).
    """
    commune_ids = sorted(
        cid
        for cid, roles in permissions.role_map(user).by_commune.items()
        if Role.REFERENT in roles
    )
    if not commune_ids:
        return None
    from meetings.access import meetings_visible_to
    from meetings.models import Meeting

    now = timezone.now()
    today = timezone.localdate()
    communes = [permissions.role_map(user).communes[cid] for cid in commune_ids]
    referrals = Referral.objects.filter(commune_id__in=commune_ids).exclude(status=Status.DRAFT)
    shown = [s for s in Status.values if s != Status.DRAFT]
    counts = referrals.aggregate(
        **{s: Count("pk", filter=Q(status=s)) for s in shown},
        urgent_open=Count(
            "pk",
            filter=Q(urgency=Referral.Urgency.DANGER)
            & ~Q(status__in=[Status.CLOSED, Status.ARCHIVED]),
        ),
    )
    labels = dict(Status.choices)
    dashboard = ReferentDashboard(
        by_status=[(labels[s], counts[s]) for s in shown],
        urgent_open=counts["urgent_open"],
    )
    dashboard.oldest_unassessed = (
        referrals.filter(status=Status.SUBMITTED)
        .only("pk", "reference", "submitted_at", "urgency")
        .order_by("submitted_at", "pk")
        .first()
    )
    dashboard.expiring_grants = ReferralUserObjectPermission.objects.filter(
        content_object__commune_id__in=commune_ids,
        expires_at__gte=now,
        expires_at__lte=now + datetime.timedelta(days=EXPIRING_DAYS),
    ).count()
    dashboard.next_meeting = (
        meetings_visible_to(user)
        .filter(status=Meeting.Status.PLANNED, starts_at__gte=now)
        .select_related("commune")
        .order_by("starts_at", "pk")
        .first()
    )
    dashboard.protocols = _protocol_rows(communes, today)
    dashboard.coverage = _coverage(communes, today.year)
    return dashboard


@dataclass
class LiaisonRow:
    commune: Commune
    awaiting_feedback: int
    protocol: dict[str, Any]
    meetings_held: int
    coverage: Coverage | None = None


def liaison_dashboard(user: Any) -> list[LiaisonRow] | None:
    """Per commune of the liaison's departments: referrals transmitted and awaiting the
    prefecture's feedback, the protocol's state, the cell's activity (meetings held in the last
    six months), training coverage this year. None for anyone but a liaison. Five statements
    whatever the number of communes."""
    role_map = permissions.role_map(user)
    department_ids = [did for did, roles in role_map.by_department.items() if Role.LIAISON in roles]
    if not department_ids:
        return None
    from meetings.models import Meeting
    from training.models import Attendance, ServiceHeadcount, TrainingSession

    today = timezone.localdate()
    since = timezone.now() - datetime.timedelta(days=CELL_ACTIVITY_DAYS)
    feedback = TimelineEntry.objects.filter(
        referral=OuterRef("pk"), kind=TimelineEntry.Kind.PREFECTURE_FEEDBACK
    )
    communes = list(
        Commune.objects.filter(department_id__in=department_ids)
        .annotate(
            awaiting=Count(
                "referrals",
                filter=Q(referrals__status=Status.TRANSMITTED)
                & ~Q(referrals__in=Referral.objects.filter(Exists(feedback))),
                distinct=True,
            )
        )
        .order_by("name")
    )
    held = dict(
        Meeting.objects.filter(
            commune__in=communes, status=Meeting.Status.HELD, starts_at__gte=since
        )
        .values_list("commune_id")
        .annotate(n=Count("pk"))
    )
    people = dict(
        Attendance.objects.filter(
            session__commune__in=communes,
            session__status=TrainingSession.Status.HELD,
            session__date__year=today.year,
            status=Attendance.Status.PRESENT,
        )
        .values_list("session__commune_id")
        .annotate(n=Count("trainee", distinct=True))
    )
    headcounts = dict(
        ServiceHeadcount.objects.filter(commune__in=communes, year=today.year)
        .values_list("commune_id")
        .annotate(total=Sum("headcount"))
    )
    protocols = {row["commune"].pk: row for row in _protocol_rows(communes, today)}
    return [
        LiaisonRow(
            commune=commune,
            awaiting_feedback=commune.awaiting,
            protocol=protocols[commune.pk],
            meetings_held=held.get(commune.pk, 0),
            coverage=Coverage(people.get(commune.pk, 0), headcounts.get(commune.pk, 0)),
        )
        for commune in communes
    ]
