"""Issue 11, point 1: an administrator account never holds a content role.

The attack reproduced: the technical administrator (Django superuser) adds himself a "municipal
referent, Tarascon" membership in /admin/accounts/membership/add/ and reads a referral and its
attachment. Refused in the admin form, in model validation, on save, by the database on
PostgreSQL; ignored by the permission core if one exists anyway; reported by ``manage.py check``.
"""

from __future__ import annotations

import contextlib
import datetime
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from cases.models import Attachment
from cmer import permissions
from cmer.accounts.checks import CHECK_ID, administrators_hold_no_content_role
from cmer.accounts.models import CONTENT_ROLES, Membership, MembershipStatus, Role
from tests.cases.helpers import PDF_BYTES, file_referral
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/accounts/membership/add/"
REFUSAL = "Un compte d&#x27;administration technique ne peut détenir aucun rôle"


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


@pytest.fixture
def referral(world):
    return file_referral(
        world.agent, world.tarascon, attachments=[("piece.pdf", "application/pdf", PDF_BYTES)]
    )


def referral_urls(referral) -> list[str]:
    attachment = Attachment.objects.get(referral=referral)
    return [
        f"/signalements/{referral.pk}/",
        f"/signalements/{referral.pk}/pieces/{attachment.pk}/",
    ]


def add_form(user, role=Role.REFERENT, *, commune=None, department=None) -> dict[str, str]:
    return {
        "user": str(user.pk),
        "role": str(role),
        "commune": str(commune.pk) if commune else "",
        "department": str(department.pk) if department else "",
        "starts_on": timezone.localdate().isoformat(),
        "ends_on": "",
        "service": "",
    }


def test_admin_adding_himself_a_referent_membership_is_refused_and_content_stays_404(
    world, as_user, referral
):
    admin = as_user(world.admin)
    for url in referral_urls(referral):
        assert admin.get(url).status_code == 404
    before = Membership.objects.count()
    response = admin.post(ADD_URL, add_form(world.admin, commune=world.tarascon))
    assert response.status_code == 200  # the form again, with the error
    assert REFUSAL in response.content.decode()
    assert Membership.objects.count() == before
    for url in referral_urls(referral):
        assert admin.get(url).status_code == 404
    permissions.forget_roles(world.admin)
    assert permissions.roles_in(world.admin, world.tarascon) == set()


@pytest.mark.parametrize("role", sorted(CONTENT_ROLES))
def test_every_content_role_is_refused_to_an_administrator_in_the_admin_form(world, as_user, role):
    staff_only = UserFactory(email="staff@cmer.test", is_staff=True)
    scope = (
        {"department": world.department}
        if role in {Role.LIAISON, Role.DPO}
        else {"commune": world.tarascon}
    )
    for target in (world.admin, staff_only):
        response = as_user(world.admin).post(ADD_URL, add_form(target, role, **scope))
        assert REFUSAL in response.content.decode()
        assert not Membership.objects.filter(user=target, role=role).exists()


def test_the_administrator_role_itself_stays_possible(world):
    membership = Membership(user=world.admin, role=Role.TECH_ADMIN)
    membership.full_clean()  # no error


def test_model_validation_and_save_refuse_a_content_role_to_a_superuser(world):
    membership = Membership(user=world.admin, role=Role.REFERENT, commune=world.tarascon)
    with pytest.raises(ValidationError) as error:
        membership.full_clean()
    assert "user" in error.value.message_dict
    with pytest.raises(ValidationError):
        membership.save()
    with pytest.raises(ValidationError):
        MembershipFactory(user=world.admin, role=Role.CELL_MEMBER, commune=world.tarascon)
    assert not Membership.objects.filter(user=world.admin).exclude(role=Role.TECH_ADMIN).exists()


def test_an_account_holding_a_content_role_cannot_become_staff_or_superuser(world):
    for flag in ("is_staff", "is_superuser"):
        setattr(world.referent, flag, True)
        with pytest.raises(ValidationError):
            world.referent.save()
        setattr(world.referent, flag, False)
    world.referent.refresh_from_db()
    assert not world.referent.is_privileged
    # Once the role has ended, the account may become an administrator.
    membership = world.referent.memberships.get()
    membership.ends_on = membership.starts_on = timezone.localdate() - datetime.timedelta(days=1)
    membership.save()
    world.referent.is_staff = True
    world.referent.save()
    assert permissions.roles_in(world.referent, world.tarascon) == set()


@contextlib.contextmanager
def guards_lifted():
    """Write around the application as an attacker with database access would (and as data from
    before the rule looks): on PostgreSQL the triggers must be lifted for that."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        # ALTER TABLE refuses to run with deferred foreign-key checks pending: check them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE accounts_user DISABLE TRIGGER accounts_user_admin_guard")
        cursor.execute(
            "ALTER TABLE accounts_membership DISABLE TRIGGER accounts_membership_admin_guard"
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE accounts_user ENABLE TRIGGER accounts_user_admin_guard")
            cursor.execute(
                "ALTER TABLE accounts_membership ENABLE TRIGGER accounts_membership_admin_guard"
            )
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


@pytest.fixture
def forbidden(world):
    """A confirmed referent membership of the superuser, written around ``Membership.save``."""
    membership = MembershipFactory(
        user=UserFactory(email="placeholder@cmer.test"), role=Role.REFERENT, commune=world.tarascon
    )
    with guards_lifted():
        Membership.objects.filter(pk=membership.pk).update(user=world.admin)
    return Membership.objects.get(pk=membership.pk)


def test_a_forbidden_membership_that_exists_anyway_is_ignored(world, as_user, referral, forbidden):
    assert forbidden.status == MembershipStatus.CONFIRMED and forbidden.user_id == world.admin.pk
    assert not Membership.objects.active().filter(pk=forbidden.pk).exists()
    assert permissions.roles_in(world.admin, world.tarascon) == set()
    assert not permissions.communes_where(world.admin, Role.REFERENT).exists()
    assert permissions.installation_roles(world.admin) == {Role.TECH_ADMIN}
    admin = as_user(world.admin)
    for url in referral_urls(referral):
        assert admin.get(url).status_code == 404
    assert admin.get("/signalements/").status_code in {200, 404}
    assert referral.reference not in admin.get("/signalements/").content.decode()


def test_manage_py_check_warns_about_a_forbidden_membership(world, forbidden):
    warnings = administrators_hold_no_content_role()
    assert [w.id for w in warnings] == [CHECK_ID]
    assert str(forbidden.pk) in warnings[0].hint
    assert world.admin.email not in warnings[0].msg + warnings[0].hint  # ids only
    err = io.StringIO()
    call_command("check", stderr=err, stdout=io.StringIO())
    assert CHECK_ID in err.getvalue()


def test_check_is_silent_without_forbidden_membership(world):
    assert administrators_hold_no_content_role() == []
    # Ended and refused ones are history, not a risk.
    MembershipFactory(
        user=UserFactory(email="former@cmer.test"),
        role=Role.CELL_MEMBER,
        commune=world.tarascon,
        starts_on=timezone.localdate() - datetime.timedelta(days=10),
        ends_on=timezone.localdate() - datetime.timedelta(days=1),
    )
    with guards_lifted():
        Membership.objects.filter(user__email="former@cmer.test").update(user=world.admin)
    assert administrators_hold_no_content_role() == []


def test_a_forbidden_membership_can_still_be_ended(world, forbidden):
    forbidden.ends_on = timezone.localdate()
    forbidden.save()  # narrowing is allowed: it is how the cleanup is done
    forbidden.refresh_from_db()
    assert forbidden.ends_on == timezone.localdate()
    forbidden.ends_on = None  # widening again is not
    with pytest.raises(ValidationError):
        forbidden.save()


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_postgresql_refuses_a_content_role_for_an_administrator_written_around_the_app(world):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_membership (user_id, role, commune_id, starts_on, service, "
            "status, decision_reason) VALUES (%s, 'referent', %s, CURRENT_DATE, '', "
            "'confirmed', 'x')",
            [world.admin.pk, world.tarascon.pk],
        )
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_user SET is_staff = true WHERE id = %s", [world.member.pk])
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.filter(user=world.member).update(user=world.admin)
    assert not Membership.objects.filter(user=world.admin, role=Role.CELL_MEMBER).exists()


def test_the_admin_user_form_refuses_making_a_referent_an_administrator(world, as_user):
    page = f"/admin/accounts/user/{world.referent.pk}/change/"
    response = as_user(world.admin).post(
        page,
        {
            "first_name": world.referent.first_name,
            "last_name": world.referent.last_name,
            "is_active": "on",
            "is_staff": "on",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert REFUSAL in response.content.decode()
    world.referent.refresh_from_db()
    assert not world.referent.is_privileged
