from __future__ import annotations

import pytest
from django.urls import reverse

from cmer.accounts.models import Membership, Role

from .factories import AttendanceFactory, TraineeFactory, TrainingSessionFactory

pytestmark = pytest.mark.django_db


def test_membership_admin_shows_whether_an_agent_was_trained(world, as_user):
    session = TrainingSessionFactory(commune=world.tarascon, created_by=world.coordinator)
    AttendanceFactory(
        session=session,
        trainee=TraineeFactory(department=world.department, email=world.agent.email.upper()),
    )
    client = as_user(world.admin)
    trained = Membership.objects.get(user=world.agent, role=Role.REPORTING_AGENT)
    untrained = Membership.objects.get(user=world.other_agent, role=Role.REPORTING_AGENT)
    page = client.get(reverse("admin:accounts_membership_change", args=[trained.pk]))
    assert page.status_code == 200
    assert "a suivi une formation" in page.content.decode().lower()
    assert ">oui<" in page.content.decode()
    page = client.get(reverse("admin:accounts_membership_change", args=[untrained.pk]))
    assert ">non<" in page.content.decode()
    listing = client.get(reverse("admin:accounts_membership_changelist")).content.decode()
    assert "oui" in listing and "non" in listing


def test_not_shown_for_other_roles(world):
    from training.access import training_attended_label

    membership = Membership.objects.get(user=world.referent)
    assert training_attended_label(membership) == "—"
