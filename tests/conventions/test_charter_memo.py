"""Issue 13 (CPU per page): once everything is read, a session checks one number — the newest
charter version — instead of the charters, and checks them again as soon as anything that could
make one pending changes: a new version anywhere, new roles, a commune moved to another
department."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cmer.accounts.models import Role
from conventions.gates import CHARTER_MEMO
from tests.cases.helpers import file_referral
from tests.conftest import acknowledge_charters
from tests.factories import DepartmentFactory, MembershipFactory

from .factories import CharterVersionFactory


def _charter_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    reads = [
        q["sql"]
        for q in queries.captured_queries
        if "conventions_charteracknowledgement" in q["sql"]
    ]
    return response, reads


def test_a_session_that_read_everything_checks_one_number_then_the_charters_on_a_new_version(
    world, as_user
):
    referral = file_referral(world.agent, world.tarascon)
    charter = CharterVersionFactory(commune=world.tarascon, version=1)
    client = as_user(world.referent)
    url = reverse("cases:detail", args=[referral.pk])
    first, reads = _charter_queries(client, url)
    assert first.status_code == 302 and reads  # pending: checked, and sent to the charter
    assert CHARTER_MEMO not in client.session
    client.post(reverse("conventions:charter"), {"charter": charter.pk, "next": url})
    response, reads = _charter_queries(client, url)
    assert response.status_code == 200 and reads  # checked once more, then kept
    assert CHARTER_MEMO in client.session
    response, reads = _charter_queries(client, url)
    assert response.status_code == 200 and not reads  # nothing changed: not read again
    CharterVersionFactory(commune=world.miramas, version=1)  # another commune's new version
    response, reads = _charter_queries(client, url)
    assert response.status_code == 200 and reads  # checked again, still nothing pending here
    CharterVersionFactory(commune=world.tarascon, version=2)
    response, reads = _charter_queries(client, url)
    assert response.status_code == 302 and reads
    assert CHARTER_MEMO not in client.session


def test_new_roles_are_checked_against_their_charters_at_the_next_request(world, as_user):
    acknowledge_charters(world.referent)
    CharterVersionFactory(commune=world.miramas, version=1)
    in_miramas = file_referral(world.other_referent, world.miramas)
    client = as_user(world.referent)
    assert client.get(reverse("cases:list")).status_code == 200
    assert _charter_queries(client, reverse("cases:list"))[1] == []  # kept
    MembershipFactory(user=world.referent, role=Role.REFERENT, commune=world.miramas)
    response, reads = _charter_queries(client, reverse("cases:detail", args=[in_miramas.pk]))
    assert reads  # the scopes changed: the charters are read again
    assert response.status_code == 302  # Miramas's charter is not read yet


def test_a_commune_moved_to_another_department_is_checked_again(world, as_user):
    elsewhere = DepartmentFactory(code="84", name="Vaucluse")  # with its model charter
    acknowledge_charters(world.referent)
    client = as_user(world.referent)
    client.get(reverse("cases:list"))
    assert _charter_queries(client, reverse("cases:list"))[1] == []
    world.tarascon.department = elsewhere
    world.tarascon.save()
    assert _charter_queries(client, reverse("cases:list"))[1]
