"""The coordinator's dashboard on the home page: counts only their scope, a fixed number of
queries whatever the volume, nothing (and no query) for anyone else."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from cmer.accounts.models import Role
from tests.conftest import make_user
from training.dashboard import coordinator_dashboard
from training.models import AttendanceImport

from .factories import (
    AttendanceFactory,
    ServiceHeadcountFactory,
    TraineeFactory,
    TrainingSessionFactory,
)

pytestmark = pytest.mark.django_db


def staged_import(session, user, state="preview"):
    return AttendanceImport.objects.create(
        session=session,
        file="training/imports/x.csv",
        sha256="0" * 64,
        size=10,
        file_format="csv",
        created_by=user,
        state=state,
    )


@pytest.fixture
def scope(world):
    today = timezone.localdate()
    coordinator = world.coordinator
    future = [
        TrainingSessionFactory(
            commune=world.tarascon,
            created_by=coordinator,
            status="planned",
            date=today + datetime.timedelta(days=d),
            title=f"À venir {d}",
        )
        for d in (3, 10)
    ]
    TrainingSessionFactory(  # planned, date passed: to mark held
        commune=world.tarascon,
        created_by=coordinator,
        status="planned",
        date=today - datetime.timedelta(days=2),
    )
    held = TrainingSessionFactory(commune=world.tarascon, created_by=coordinator, date=today)
    for _ in range(3):
        AttendanceFactory(
            session=held, trainee=TraineeFactory(department=world.department, service="Voirie")
        )
    staged_import(held, coordinator)
    staged_import(held, coordinator, state="confirming")
    staged_import(held, coordinator, state="confirmed")
    ServiceHeadcountFactory(commune=world.tarascon, year=today.year, service="voirie", headcount=2)
    # Another commune's sessions, imports and headcounts: never counted.
    miramas = TrainingSessionFactory(
        commune=world.miramas,
        created_by=coordinator,
        status="planned",
        date=today + datetime.timedelta(days=1),
        title="Miramas",
    )
    miramas_held = TrainingSessionFactory(commune=world.miramas, created_by=coordinator, date=today)
    AttendanceFactory(session=miramas_held, trainee=TraineeFactory(department=world.department))
    staged_import(miramas_held, coordinator)
    ServiceHeadcountFactory(commune=world.miramas, year=today.year, service="voirie", headcount=5)
    return {"future": future, "miramas": miramas}


def test_counts_only_the_coordinators_scope(world, scope):
    dashboard = coordinator_dashboard(world.coordinator)
    assert dashboard.upcoming_count == 2
    assert [s.pk for s in dashboard.upcoming] == [s.pk for s in scope["future"]]
    assert dashboard.to_mark_held == 1
    assert dashboard.awaiting_count == 2
    assert {i.state for i in dashboard.awaiting} == {"preview", "confirming"}
    assert dashboard.people_this_year == 3
    assert [(r["scope"], r["trained"], r["headcount"], r["over"]) for r in dashboard.coverage] == [
        ("Tarascon", 3, 2, True)
    ]


def test_home_page_shows_the_dashboard_to_the_coordinator(world, as_user, scope):
    page = as_user(world.coordinator).get(reverse("home")).content.decode()
    assert 'data-testid="training-dashboard"' in page
    assert "2 sessions à venir" in page
    assert "1 session passée à marquer comme tenue" in page
    assert "2 imports en attente de confirmation" in page
    assert "Miramas" not in page.split('data-testid="training-dashboard"')[1].split("</section>")[0]
    assert "INVALID_TEMPLATE_VARIABLE" not in page


def test_a_department_coordinator_counts_the_whole_department(world, scope):
    dept = make_user(
        "formation@pref13.test", Role.TRAINING_COORDINATOR, department=world.department
    )
    dashboard = coordinator_dashboard(dept)
    assert dashboard.upcoming_count == 3 and dashboard.awaiting_count == 3


@pytest.mark.parametrize(
    "persona", ["referent", "member", "agent", "liaison", "dpo", "admin", "other_referent"]
)
def test_no_dashboard_and_no_query_for_other_roles(
    world, as_user, scope, persona, django_assert_num_queries
):
    user = getattr(world, persona)
    user = type(user).objects.get(pk=user.pk)  # fresh: no cached roles
    from cmer import permissions

    permissions.all_roles(user)  # the roles query, which the request has anyway
    with django_assert_num_queries(0):
        assert coordinator_dashboard(user) is None
    page = as_user(user).get(reverse("home")).content.decode()
    assert 'data-testid="training-dashboard"' not in page


def test_query_count_does_not_grow_with_the_volume(
    world, as_user, scope, django_assert_num_queries
):
    from cmer import permissions

    user = type(world.coordinator).objects.get(pk=world.coordinator.pk)
    permissions.all_roles(user)
    with django_assert_num_queries(6) as first:
        coordinator_dashboard(user)
    today = timezone.localdate()
    for day in range(20):
        session = TrainingSessionFactory(
            commune=world.tarascon,
            created_by=world.coordinator,
            status="planned",
            date=today + datetime.timedelta(days=day + 1),
        )
        staged_import(session, world.coordinator)
        ServiceHeadcountFactory(
            commune=world.tarascon, year=today.year, service=f"Service {day}", headcount=3
        )
    user = type(world.coordinator).objects.get(pk=world.coordinator.pk)
    permissions.all_roles(user)
    with django_assert_num_queries(len(first.captured_queries)):
        dashboard = coordinator_dashboard(user)
    assert len(dashboard.upcoming) == 5 and dashboard.awaiting_count == 6
