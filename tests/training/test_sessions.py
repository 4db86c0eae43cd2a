from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from cmer.accounts.models import Role
from tests.conftest import make_user
from training.models import TrainingSession

from .factories import AttendanceFactory, TrainingSessionFactory

pytestmark = pytest.mark.django_db


def form_data(scope, **extra):
    data = {
        "scope": scope,
        "title": "Prévenir la radicalisation violente",
        "date": "2026-03-12",
        "duration_hours": "3.5",
        "trainer": "CNAPR",
        "place": "Salle des fêtes",
        "audience": "elected",
        "capacity": "40",
    }
    data.update(extra)
    return data


def test_coordinator_creates_a_session(world, as_user):
    client = as_user(world.coordinator)
    page = client.get(reverse("training:create")).content.decode()
    assert "Miramas" not in page  # only where the user coordinates
    response = client.post(reverse("training:create"), form_data(f"c:{world.tarascon.pk}"))
    session = TrainingSession.objects.get()
    assert response["Location"] == reverse("training:detail", args=[session.pk])
    assert (session.commune, session.department, session.created_by) == (
        world.tarascon,
        None,
        world.coordinator,
    )
    assert session.status == TrainingSession.Status.PLANNED
    assert "Prévenir" not in response.get("Location", "")


def test_cannot_create_in_another_commune(world, as_user):
    client = as_user(world.coordinator)
    response = client.post(reverse("training:create"), form_data(f"c:{world.miramas.pk}"))
    assert response.status_code in {200, 404}
    assert not TrainingSession.objects.exists()
    response = client.post(reverse("training:create"), form_data(f"d:{world.department.pk}"))
    assert not TrainingSession.objects.exists()


def test_department_coordinator_creates_a_department_session(world, as_user):
    dept = make_user(
        "formation@pref13.test", Role.TRAINING_COORDINATOR, department=world.department
    )
    client = as_user(dept)
    client.post(reverse("training:create"), form_data(f"d:{world.department.pk}"))
    session = TrainingSession.objects.get()
    assert (session.commune, session.department) == (None, world.department)


def test_invalid_form_saves_nothing(world, as_user):
    client = as_user(world.coordinator)
    response = client.post(
        reverse("training:create"), form_data(f"c:{world.tarascon.pk}", date="", title="")
    )
    assert response.status_code == 200
    assert not TrainingSession.objects.exists()


def test_edit_and_mark_held(world, as_user):
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    session = TrainingSessionFactory(
        commune=world.tarascon, created_by=world.coordinator, status="planned", date=tomorrow
    )
    client = as_user(world.coordinator)
    client.post(reverse("training:mark_held", args=[session.pk]))
    session.refresh_from_db()
    assert session.status == "planned"  # not yet held
    yesterday = (timezone.localdate() - datetime.timedelta(days=1)).isoformat()
    client.post(
        reverse("training:edit", args=[session.pk]),
        form_data(f"c:{world.tarascon.pk}", date=yesterday),
    )
    client.post(reverse("training:mark_held", args=[session.pk]))
    session.refresh_from_db()
    assert session.status == "held"
    assert session.title == "Prévenir la radicalisation violente"


def test_session_with_attendance_cannot_move_department(world, as_user):
    session = TrainingSessionFactory(commune=world.tarascon, created_by=world.coordinator)
    AttendanceFactory(session=session)
    both = make_user("formation@both.test", Role.TRAINING_COORDINATOR, commune=world.tarascon)
    from tests.factories import MembershipFactory

    MembershipFactory(user=both, role=Role.TRAINING_COORDINATOR, commune=world.nimes)
    response = as_user(both).post(
        reverse("training:edit", args=[session.pk]), form_data(f"c:{world.nimes.pk}")
    )
    assert response.status_code == 200
    session.refresh_from_db()
    assert session.commune == world.tarascon


def test_attendance_edit(world, as_user):
    attendance = AttendanceFactory(
        session=TrainingSessionFactory(commune=world.tarascon, created_by=world.coordinator)
    )
    client = as_user(world.coordinator)
    client.post(
        reverse("training:attendance_edit", args=[attendance.pk]),
        {"status": "excused", "remark": "arrêt maladie"},
    )
    attendance.refresh_from_db()
    assert (attendance.status, attendance.remark) == ("excused", "arrêt maladie")


def test_titles_carry_no_personal_data(world, as_user):
    attendance = AttendanceFactory(
        session=TrainingSessionFactory(commune=world.tarascon, created_by=world.coordinator)
    )
    client = as_user(world.coordinator)
    name = attendance.trainee.last_name
    for url in (
        reverse("training:detail", args=[attendance.session_id]),
        reverse("training:attendance_edit", args=[attendance.pk]),
    ):
        page = client.get(url).content.decode()
        title = page.split("<title>", 1)[1].split("</title>", 1)[0]
        assert name not in title
        assert name in page
