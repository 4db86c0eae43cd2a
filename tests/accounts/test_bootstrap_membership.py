"""The first holder of a department role: a server command with a written reason, audited."""

from __future__ import annotations

import io

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from cmer import permissions
from cmer.accounts.models import Membership, MembershipStatus, Role
from cmer.audit.models import AuditEntry, Event
from tests.factories import DepartmentFactory, UserFactory

pytestmark = pytest.mark.django_db

REASON = "Arrêté préfectoral du 2 novembre désignant la correspondante"


@pytest.fixture
def empty_department(world):
    return DepartmentFactory(code="84", name="Vaucluse")


def bootstrap(*args: str) -> str:
    out = io.StringIO()
    call_command("bootstrap_membership", *args, stdout=out)
    return out.getvalue()


def test_without_a_reason_nothing_is_created(world, empty_department):
    user = UserFactory(email="liaison@pref84.test")
    with pytest.raises(CommandError):
        bootstrap(user.email, "liaison", "--department", "84")
    for short in ("", "   ", "ok"):
        with pytest.raises(CommandError, match="motif"):
            bootstrap(user.email, "liaison", "--department", "84", "--reason", short)
    assert not Membership.objects.filter(user=user).exists()


def test_with_a_reason_the_first_holder_is_confirmed_and_audited(
    world, empty_department, django_capture_on_commit_callbacks
):
    user = UserFactory(email="liaison@pref84.test")
    with django_capture_on_commit_callbacks(execute=True):
        output = bootstrap(user.email, "liaison", "--department", "84", "--reason", REASON)
    membership = Membership.objects.get(user=user)
    assert str(membership.pk) in output
    assert membership.status == MembershipStatus.CONFIRMED
    assert membership.decided_by is None and membership.decision_reason == REASON
    assert membership.role == Role.LIAISON and membership.department == empty_department
    permissions.forget_roles(user)
    assert Role.LIAISON in permissions.role_map(user).by_department[empty_department.pk]
    entry = AuditEntry.objects.get(event=Event.GRANT, object_pk=str(membership.pk))
    assert entry.actor is None
    assert entry.additional_data["membership"] == "bootstrap"
    assert entry.additional_data["reason"] == REASON
    assert [m.to for m in mail.outbox] == [[user.email]]


def test_refused_once_the_department_has_a_holder(world):
    user = UserFactory(email="second@pref13.test")
    with pytest.raises(CommandError, match="déjà un titulaire"):
        bootstrap(user.email, "dpo", "--department", "13", "--reason", REASON)
    assert not Membership.objects.filter(user=user).exists()


def test_refused_for_a_commune_role_an_unknown_account_or_an_administrator(world, empty_department):
    user = UserFactory(email="x@pref84.test")
    with pytest.raises(CommandError):
        bootstrap(user.email, "referent", "--department", "84", "--reason", REASON)
    with pytest.raises(CommandError, match="Aucun compte"):
        bootstrap("nobody@pref84.test", "liaison", "--department", "84", "--reason", REASON)
    with pytest.raises(CommandError, match="administration technique"):
        bootstrap(world.admin.email, "liaison", "--department", "84", "--reason", REASON)
    assert not Membership.objects.filter(department=empty_department).exists()


def test_the_bootstrapped_holder_then_confirms_the_next_one(world, empty_department, as_user):
    from tests.factories import MembershipFactory

    first = UserFactory(email="liaison@pref84.test")
    bootstrap(first.email, "liaison", "--department", "84", "--reason", REASON)
    second = MembershipFactory(
        user=UserFactory(email="dpo@pref84.test"),
        role=Role.DPO,
        commune=None,
        department=empty_department,
        requested=True,
        requested_by=world.admin,
    )
    from cmer.accounts.memberships import version_of
    from tests.conftest import step_up

    response = step_up(as_user(first)).post(
        f"/roles/demandes/{second.pk}/confirmer/", {"version": version_of(second)}
    )
    assert response.status_code == 302
    second.refresh_from_db()
    assert second.status == MembershipStatus.CONFIRMED and second.decided_by == first
