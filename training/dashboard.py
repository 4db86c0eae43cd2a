"""The training coordinator's home dashboard: upcoming sessions, sessions to mark held, imports
awaiting confirmation, this year's coverage — counted in the coordinator's scope only.

Registered with the core's home page (``cmer.home``) from ``TrainingConfig.ready()``; nobody but
a coordinator costs a query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import ExtractYear
from django.utils import timezone

from . import access
from .models import Attendance, AttendanceImport, TrainingSession
from .stats import coverage_rows

UPCOMING_SHOWN = 5
IMPORTS_SHOWN = 5


@dataclass
class CoordinatorDashboard:
    year: int
    upcoming: list[TrainingSession] = field(default_factory=list)
    upcoming_count: int = 0
    to_mark_held: int = 0
    awaiting: list[AttendanceImport] = field(default_factory=list)
    awaiting_count: int = 0
    people_this_year: int = 0
    coverage: list[dict[str, Any]] = field(default_factory=list)

    @property
    def over_covered(self) -> list[dict[str, Any]]:
        return [row for row in self.coverage if row["over"]]


def coordinator_dashboard(user: Any) -> CoordinatorDashboard | None:
    """The dashboard of a training coordinator, or None for anyone else (no query then).

    Six statements whatever the volume: sessions (upcoming and overdue counts in one), the
    next sessions, imports awaiting, people trained this year, headcounts, coverage.
    """
    if not access.can_manage_training(user):
        return None
    today = timezone.localdate()
    sessions = access.sessions_visible_to(user)
    planned = Q(status=TrainingSession.Status.PLANNED)
    counts = sessions.aggregate(
        upcoming=Count("pk", filter=planned & Q(date__gte=today)),
        overdue=Count("pk", filter=planned & Q(date__lt=today)),
    )
    dashboard = CoordinatorDashboard(
        year=today.year,
        upcoming_count=counts["upcoming"],
        to_mark_held=counts["overdue"],
    )
    dashboard.upcoming = list(
        sessions.filter(planned, date__gte=today)
        .select_related("commune", "department")
        .order_by("date", "pk")[:UPCOMING_SHOWN]
    )
    waiting = list(
        AttendanceImport.objects.filter(
            session__in=sessions,
            state__in=[AttendanceImport.State.PREVIEW, AttendanceImport.State.CONFIRMING],
        )
        .select_related("session")
        .only(
            "pk", "state", "created_at", "failure", "session__id", "session__title", "session__date"
        )
        .order_by("-created_at", "-pk")[: IMPORTS_SHOWN + 1]
    )
    dashboard.awaiting = waiting[:IMPORTS_SHOWN]
    dashboard.awaiting_count = len(waiting)  # "5+" beyond what is shown
    present = Attendance.objects.filter(
        session__in=sessions,
        session__status=TrainingSession.Status.HELD,
        status=Attendance.Status.PRESENT,
    )
    dashboard.people_this_year = (
        present.filter(session__date__year=today.year).values("trainee").distinct().count()
    )
    dashboard.coverage = coverage_rows(
        present.annotate(year=ExtractYear("session__date")),
        access.headcounts_managed_by(user),
        today.year,
    )
    return dashboard
