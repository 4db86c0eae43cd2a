"""Issue 11, point 2: four-eyes on access rights.

A membership the technical administrator adds or widens is a request: it gives nothing until a
second person with authority confirms it, and nothing after a refusal. Each authority rule, and
each person who must not decide (self, requester, other commune, other department, other roles,
the administrator), is tried with crafted requests.
"""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from cases.models import Attachment
from cmer import permissions
from cmer.accounts.memberships import (
    do_confirm_membership,
    pending_count_for,
    requests_pending_for,
    version_of,
)
from cmer.accounts.models import Membership, MembershipStatus, Role
from cmer.audit.models import AuditEntry, Event
from tests.cases.helpers import PDF_BYTES, file_referral
from tests.conftest import make_user, step_up
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/accounts/membership/add/"
PENDING_URL = reverse("memberships:pending")


def confirm_url(membership: Membership) -> str:
    return reverse("memberships:confirm", args=[membership.pk])


def refuse_url(membership: Membership) -> str:
    return reverse("memberships:refuse", args=[membership.pk])


def request_membership(world, user, role, **scope) -> Membership:
    return MembershipFactory(
        user=user, role=role, requested=True, requested_by=world.admin, **scope
    )


def confirm(client, membership):
    membership.refresh_from_db()
    step_up(client)  # deciding asks a fresh code: tests/accounts/test_stepup.py
    return client.post(confirm_url(membership), {"version": version_of(membership)})


def refuse(client, membership, reason="Personne inconnue du service"):
    membership.refresh_from_db()
    step_up(client)
    return client.post(
        refuse_url(membership), {"version": version_of(membership), "reason": reason}
    )


def fresh_roles(user, commune):
    permissions.forget_roles(user)
    return permissions.roles_in(user, commune)


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


# --- The administrator's request, through the admin ---------------------------------------------


def admin_add(client, user, role, *, commune=None, department=None, starts_on=None):
    return client.post(
        ADD_URL,
        {
            "user": str(user.pk),
            "role": str(role),
            "commune": str(commune.pk) if commune else "",
            "department": str(department.pk) if department else "",
            "starts_on": (starts_on or timezone.localdate()).isoformat(),
            "ends_on": "",
            "service": "Prévention",
        },
    )


def test_a_referent_requested_in_the_admin_reads_nothing_until_the_liaison_confirms(world, as_user):
    referral = file_referral(
        world.agent, world.tarascon, attachments=[("piece.pdf", "application/pdf", PDF_BYTES)]
    )
    attachment = Attachment.objects.get(referral=referral)
    urls = [
        f"/signalements/{referral.pk}/",
        f"/signalements/{referral.pk}/pieces/{attachment.pk}/",
    ]
    newcomer = make_user("newcomer@tarascon.test", Role.CELL_MEMBER, commune=world.miramas)
    response = admin_add(as_user(world.admin), newcomer, Role.REFERENT, commune=world.tarascon)
    assert response.status_code == 302
    membership = Membership.objects.get(user=newcomer, role=Role.REFERENT)
    assert membership.status == MembershipStatus.REQUESTED
    assert membership.requested_by == world.admin and membership.requested_at is not None
    assert fresh_roles(newcomer, world.tarascon) == set()
    client = as_user(newcomer)
    for url in urls:
        assert client.get(url).status_code == 404
    # The Tarascon referent has no authority over a referent: only the liaison.
    assert confirm(as_user(world.referent), membership).status_code == 404
    assert confirm(as_user(world.liaison), membership).status_code == 302
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.CONFIRMED
    assert membership.decided_by == world.liaison
    assert fresh_roles(newcomer, world.tarascon) == {Role.REFERENT}
    client = as_user(newcomer)
    for url in urls:  # Tarascon's charter first (their Miramas one was read)
        assert client.get(url)["Location"].startswith("/conventions/charte/?next=")
    from tests.conftest import acknowledge_charters

    acknowledge_charters(type(newcomer).objects.get(pk=newcomer.pk))
    step_up(client)  # the attachment is an export: a fresh code first
    for url in urls:
        assert client.get(url).status_code == 200


def test_a_refused_request_gives_no_access(world, as_user):
    newcomer = UserFactory(email="newcomer@tarascon.test")
    membership = request_membership(world, newcomer, Role.CELL_MEMBER, commune=world.tarascon)
    response = refuse(as_user(world.referent), membership)
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.REFUSED
    assert membership.decision_reason == "Personne inconnue du service"
    assert fresh_roles(newcomer, world.tarascon) == set()
    assert not Membership.objects.active().filter(user=newcomer).exists()
    # A refused request cannot be confirmed afterwards.
    assert confirm(as_user(world.referent), membership).status_code == 404
    assert fresh_roles(newcomer, world.tarascon) == set()


def test_a_refusal_needs_a_reason(world, as_user):
    membership = request_membership(
        world, UserFactory(email="n@tarascon.test"), Role.CELL_MEMBER, commune=world.tarascon
    )
    response = refuse(as_user(world.referent), membership, reason="   ")
    assert response.status_code == 200
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.REQUESTED


# --- Who may decide ------------------------------------------------------------------------------

RULES = [
    # (role requested, scope, allowed confirmers, forbidden confirmers)
    (
        Role.CELL_MEMBER,
        "tarascon",
        ["referent"],
        [
            "member",
            "agent",
            "coordinator",
            "other_referent",
            "liaison",
            "dpo",
            "other_department_liaison",
            "admin",
        ],
    ),
    (
        Role.REPORTING_AGENT,
        "tarascon",
        ["referent"],
        ["member", "other_referent", "liaison", "admin"],
    ),
    (
        Role.TRAINING_COORDINATOR,
        "tarascon",
        ["referent"],
        ["coordinator", "other_referent", "liaison", "admin"],
    ),
    (
        Role.REFERENT,
        "tarascon",
        ["liaison"],
        ["referent", "other_referent", "member", "dpo", "other_department_liaison", "admin"],
    ),
    (
        Role.LIAISON,
        "department",
        ["liaison", "dpo"],
        ["referent", "member", "other_department_liaison", "admin"],
    ),
    (
        Role.DPO,
        "department",
        ["liaison", "dpo"],
        ["referent", "agent", "other_department_liaison", "admin"],
    ),
    (
        Role.TRAINING_COORDINATOR,
        "department",
        ["liaison", "dpo"],
        ["referent", "coordinator", "other_department_liaison", "admin"],
    ),
]


def _scope(world, name):
    if name == "tarascon":
        return {"commune": world.tarascon}
    return {"commune": None, "department": world.department}


@pytest.mark.parametrize(("role", "scope", "allowed", "forbidden"), RULES)
def test_authority_rules(world, as_user, role, scope, allowed, forbidden):
    target = UserFactory(email="target@cmer.test")
    membership = request_membership(world, target, role, **_scope(world, scope))
    for name in forbidden:
        person = getattr(world, name)
        client = as_user(person)
        assert confirm(client, membership).status_code == 404, name
        assert refuse(client, membership).status_code == 404, name
        assert client.get(refuse_url(membership)).status_code == 404, name
        assert membership.pk not in requests_pending_for(person).values_list("pk", flat=True)
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.REQUESTED
    for name in allowed:
        person = getattr(world, name)
        permissions.forget_roles(person)
        assert list(requests_pending_for(person)) == [membership], name
    assert confirm(as_user(getattr(world, allowed[0])), membership).status_code == 302
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.CONFIRMED


def test_nobody_confirms_their_own_membership(world, as_user):
    # The DPO holds a department role: they could confirm a coordinator of the department, but
    # not one requested for themself.
    own = request_membership(
        world, world.dpo, Role.TRAINING_COORDINATOR, commune=None, department=world.department
    )
    client = as_user(world.dpo)
    assert confirm(client, own).status_code == 404
    assert refuse(client, own).status_code == 404
    assert own.pk not in requests_pending_for(world.dpo).values_list("pk", flat=True)
    with pytest.raises(Membership.DoesNotExist):
        do_confirm_membership(own.pk, acting_user=world.dpo, version=version_of(own))
    own.refresh_from_db()
    assert own.status == MembershipStatus.REQUESTED
    # The liaison may.
    assert confirm(as_user(world.liaison), own).status_code == 302


def test_nobody_confirms_a_request_they_made(world, as_user):
    membership = MembershipFactory(
        user=UserFactory(email="n@tarascon.test"),
        role=Role.CELL_MEMBER,
        commune=world.tarascon,
        requested=True,
        requested_by=world.referent,
    )
    assert confirm(as_user(world.referent), membership).status_code == 404
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.REQUESTED


def test_the_database_refuses_a_self_confirmation(world):
    from django.db import IntegrityError, transaction

    membership = request_membership(
        world, UserFactory(email="n@tarascon.test"), Role.CELL_MEMBER, commune=world.tarascon
    )
    for decider in (membership.user, world.admin):
        with pytest.raises(IntegrityError), transaction.atomic():
            Membership.objects.filter(pk=membership.pk).update(
                status=MembershipStatus.CONFIRMED, decided_by=decider
            )


def test_crafted_requests(world, as_user):
    membership = request_membership(
        world, UserFactory(email="n@tarascon.test"), Role.CELL_MEMBER, commune=world.tarascon
    )
    client = step_up(as_user(world.referent))
    assert client.get(confirm_url(membership)).status_code == 405
    assert client.post("/roles/demandes/999999/confirmer/", {"version": "x"}).status_code == 404
    assert client.post("/roles/demandes/abc/confirmer/").status_code == 404
    # An active membership (not a request) is not decided again.
    active = Membership.objects.get(user=world.member)
    assert confirm(client, active).status_code == 404
    # A stale or forged version: nothing changes, the user is told.
    response = client.post(confirm_url(membership), {"version": "forged"}, follow=True)
    assert "modifiée depuis son affichage" in response.content.decode()
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.REQUESTED
    # Anonymous: to the login page.
    from django.test import Client

    anonymous = Client().post(confirm_url(membership), {"version": version_of(membership)})
    assert anonymous.status_code == 302 and "/comptes/connexion/" in anonymous["Location"]


def test_a_request_changed_after_it_was_shown_is_not_confirmed_blindly(world, as_user):
    membership = request_membership(
        world, UserFactory(email="n@tarascon.test"), Role.CELL_MEMBER, commune=world.tarascon
    )
    seen = version_of(membership)
    membership.role = Role.REPORTING_AGENT
    membership.requested_at = timezone.now() + datetime.timedelta(seconds=1)
    membership.save()
    step_up(as_user(world.referent)).post(confirm_url(membership), {"version": seen})
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.REQUESTED


# --- Changes and ending --------------------------------------------------------------------------


def admin_change(client, membership, **changes):
    data = {
        "user": str(membership.user_id),
        "role": str(membership.role),
        "commune": str(membership.commune_id or ""),
        "department": str(membership.department_id or ""),
        "starts_on": membership.starts_on.isoformat(),
        "ends_on": membership.ends_on.isoformat() if membership.ends_on else "",
        "service": membership.service,
    }
    data.update(changes)
    return client.post(f"/admin/accounts/membership/{membership.pk}/change/", data)


def test_ending_a_membership_takes_effect_at_once(
    world, as_user, django_capture_on_commit_callbacks
):
    membership = Membership.objects.get(user=world.member)
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_change(
            as_user(world.admin),
            membership,
            starts_on=yesterday.isoformat(),
            ends_on=yesterday.isoformat(),
        )
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.CONFIRMED  # no confirmation needed
    assert fresh_roles(world.member, world.tarascon) == set()
    entry = AuditEntry.objects.filter(event=Event.REVOKE, object_pk=str(membership.pk)).get()
    assert entry.additional_data["membership"] == "ended"
    assert entry.actor == world.admin
    assert [m.to for m in mail.outbox] == [[world.member.email]]


def test_moving_a_membership_to_another_commune_is_a_request(world, as_user):
    membership = Membership.objects.get(user=world.member)
    response = admin_change(as_user(world.admin), membership, commune=str(world.miramas.pk))
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.REQUESTED
    assert membership.requested_by == world.admin
    assert fresh_roles(world.member, world.miramas) == set()
    assert fresh_roles(world.member, world.tarascon) == set()
    # Miramas' referent decides, not Tarascon's.
    assert confirm(as_user(world.referent), membership).status_code == 404
    assert confirm(as_user(world.other_referent), membership).status_code == 302
    assert fresh_roles(world.member, world.miramas) == {Role.CELL_MEMBER}


def test_extending_a_membership_is_a_request(world, as_user):
    membership = Membership.objects.get(user=world.member)
    membership.ends_on = timezone.localdate() + datetime.timedelta(days=10)
    membership.save()  # narrowing: still confirmed
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.CONFIRMED
    admin_change(as_user(world.admin), membership, ends_on="")
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.REQUESTED
    assert fresh_roles(world.member, world.tarascon) == set()


def test_a_confirmed_membership_never_widens_by_code_either(world):
    membership = Membership.objects.get(user=world.member)
    membership.role = Role.REFERENT
    membership.save()
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.REQUESTED
    assert membership.decided_by is None and membership.decision_reason == ""


def test_the_user_page_of_the_admin_shows_memberships_read_only(world, as_user):
    client = as_user(world.admin)
    page = client.get(f"/admin/accounts/user/{world.member.pk}/change/")
    assert page.status_code == 200
    assert 'name="memberships-0-role"' not in page.content.decode()


# --- Active memberships, audit, e-mails, home page ----------------------------------------------


def test_only_confirmed_memberships_are_active(world):
    target = UserFactory(email="n@tarascon.test")
    requested = request_membership(world, target, Role.CELL_MEMBER, commune=world.tarascon)
    assert not Membership.objects.active().filter(pk=requested.pk).exists()
    assert not requested.is_active_on(timezone.localdate())


def test_request_confirmation_and_refusal_are_audited_and_mailed(
    world, as_user, django_capture_on_commit_callbacks
):
    newcomer = UserFactory(email="newcomer@tarascon.test")
    with django_capture_on_commit_callbacks(execute=True):
        admin_add(as_user(world.admin), newcomer, Role.CELL_MEMBER, commune=world.tarascon)
    membership = Membership.objects.get(user=newcomer)
    requested = AuditEntry.objects.get(event=Event.GRANT, object_pk=str(membership.pk))
    assert requested.actor == world.admin
    assert requested.additional_data["membership"] == "requested"
    assert requested.additional_data["role"] == "member"
    assert requested.commune_id == world.tarascon.pk
    recipients = sorted(m.to[0] for m in mail.outbox)
    assert recipients == [newcomer.email, world.referent.email]
    for message in mail.outbox:
        assert "Dupont" not in message.body and "signalement" not in message.subject.lower()
    to_referent = next(m for m in mail.outbox if m.to == [world.referent.email])
    assert newcomer.email not in to_referent.body  # "a request awaits you", no name
    assert PENDING_URL in to_referent.body

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        confirm(as_user(world.referent), membership)
    confirmed = AuditEntry.objects.filter(event=Event.GRANT, object_pk=str(membership.pk))
    assert confirmed.count() == 2
    last = confirmed.order_by("-id").first()
    assert last.actor == world.referent and last.additional_data["membership"] == "confirmed"
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [newcomer.email, world.referent.email, world.admin.email]
    )

    other = request_membership(
        world, UserFactory(email="other@tarascon.test"), Role.CELL_MEMBER, commune=world.tarascon
    )
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        refuse(as_user(world.referent), other, reason="Pas membre de la cellule")
    refused = AuditEntry.objects.get(event=Event.REVOKE, object_pk=str(other.pk))
    assert refused.actor == world.referent
    assert refused.additional_data["membership"] == "refused"
    assert refused.additional_data["reason"] == "Pas membre de la cellule"
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        ["other@tarascon.test", world.referent.email, world.admin.email]
    )
    assert all("Pas membre" not in m.body for m in mail.outbox)


def test_the_pending_page_shows_who_asked_for_whom_which_role_where_from_when(world, as_user):
    target = UserFactory(email="n@tarascon.test", first_name="Noé", last_name="Nouveau")
    starts = timezone.localdate() + datetime.timedelta(days=3)
    request_membership(world, target, Role.CELL_MEMBER, commune=world.tarascon, starts_on=starts)
    page = as_user(world.referent).get(PENDING_URL).content.decode()
    assert "Noé Nouveau" in page
    assert world.admin.get_full_name() in page
    assert "Membre de la cellule" in page and "Tarascon" in page
    assert starts.strftime("%d/%m/%Y") in page
    assert "Noé" not in page.split("<title>")[1].split("</title>")[0]
    empty = as_user(world.member).get(PENDING_URL)
    assert empty.status_code == 200
    assert 'data-testid="no-membership-request"' in empty.content.decode()


def test_home_page_links_to_the_pending_requests_with_a_count(world, as_user):
    for n in range(2):
        request_membership(
            world,
            UserFactory(email=f"n{n}@tarascon.test"),
            Role.CELL_MEMBER,
            commune=world.tarascon,
        )
    home = as_user(world.referent).get("/").content.decode()
    assert 'data-testid="pending-memberships"' in home
    assert "2 demandes de rôle attendent votre confirmation" in home
    assert PENDING_URL in home
    for name in ("member", "other_referent", "liaison", "admin"):
        page = as_user(getattr(world, name)).get("/").content.decode()
        assert 'data-testid="pending-memberships"' not in page, name


def test_pending_count_costs_no_query_without_authority(world, django_assert_num_queries):
    permissions.role_map(world.member)
    with django_assert_num_queries(0):
        assert pending_count_for(world.member) == 0


def test_pending_page_query_count_is_fixed(world, as_user, django_assert_max_num_queries):
    for n in range(5):
        request_membership(
            world,
            UserFactory(email=f"n{n}@tarascon.test"),
            Role.CELL_MEMBER,
            commune=world.tarascon,
        )
    client = as_user(world.referent)
    client.get(PENDING_URL)
    with django_assert_max_num_queries(12) as captured:
        client.get(PENDING_URL)
    baseline = len(captured)
    request_membership(
        world, UserFactory(email="n9@tarascon.test"), Role.CELL_MEMBER, commune=world.tarascon
    )
    with django_assert_max_num_queries(baseline):
        client.get(PENDING_URL)


def test_the_person_sees_their_role_requested_but_not_active(world, as_user):
    newcomer = UserFactory(email="n@tarascon.test")
    request_membership(world, newcomer, Role.CELL_MEMBER, commune=world.tarascon)
    page = as_user(newcomer).get(reverse("accounts:account")).content.decode()
    requested = page.split('data-testid="requested-roles"')[1].split("</ul>")[0]
    assert "Membre de la cellule" in requested and "Tarascon" in requested
    assert "Aucun rôle actif." in page
    other = as_user(world.member).get(reverse("accounts:account")).content.decode()
    assert 'data-testid="requested-roles"' not in other
