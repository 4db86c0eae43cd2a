"""Referrals with the real conventions gates: protocol in force, confidentiality charter."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from cases import actions
from cases.models import Referral, Transmission
from conventions.models import CharterAcknowledgement
from tests.cases.helpers import file_referral, form_data
from tests.conventions.factories import CharterVersionFactory, ConventionFactory


@pytest.fixture
def assessed(world):
    referral = file_referral(world.agent, world.tarascon)
    return actions.do_change_status(referral, to_status="in_assessment", acting_user=world.referent)


def transmit(client, referral):
    return client.post(
        f"/signalements/{referral.pk}/transmission/",
        {"items": ["facts"], "reason": "Menaces répétées"},
    )


@pytest.mark.django_db
def test_no_protocol_blocks_transmission_with_the_reason(as_user, world, assessed):
    response = transmit(as_user(world.referent), assessed)
    assert "aucun protocole" in response.content.decode()
    assert not Transmission.objects.exists()


@pytest.mark.django_db
def test_expired_protocol_blocks_signed_protocol_in_force_allows(as_user, world, assessed):
    today = timezone.localdate()
    ConventionFactory(
        commune=world.tarascon,
        signed=True,
        effective_date=today - datetime.timedelta(days=800),
        end_date=today - datetime.timedelta(days=10),
    )
    response = transmit(as_user(world.referent), assessed)
    assert "expiré" in response.content.decode()
    assert not Transmission.objects.exists()
    ConventionFactory(
        commune=world.tarascon,
        kind="renewal",
        signed=True,
        effective_date=today - datetime.timedelta(days=9),
        end_date=today + datetime.timedelta(days=700),
    )
    assert transmit(as_user(world.referent), assessed).status_code == 302
    assert Transmission.objects.get().referral == assessed


@pytest.mark.django_db
def test_another_communes_protocol_does_not_count(as_user, world, assessed):
    ConventionFactory(commune=world.miramas, signed=True)
    transmit(as_user(world.referent), assessed)
    assert not Transmission.objects.exists()


@pytest.mark.django_db
def test_charter_must_be_acknowledged_before_any_referral_page(as_user, world, assessed):
    charter = CharterVersionFactory(commune=world.tarascon, department=None, version=1)
    actions.do_grant_access(
        assessed,
        member=world.member,
        contribute=False,
        reason="Suivi",
        expires_on=timezone.localdate() + datetime.timedelta(days=10),
        acting_user=world.referent,
    )
    for user in (world.member, world.referent):
        client = as_user(user)
        for url in (f"/signalements/{assessed.pk}/", "/signalements/"):
            response = client.get(url)
            assert response.status_code == 302
            assert response["Location"].startswith("/conventions/charte")
    CharterAcknowledgement.objects.create(user=world.member, charter=charter)
    assert as_user(world.member).get(f"/signalements/{assessed.pk}/").status_code == 200
    # A new version asks again.
    CharterVersionFactory(commune=world.tarascon, department=None, version=2)
    assert as_user(world.member).get(f"/signalements/{assessed.pk}/").status_code == 302
    # Agents are not bound by the charter.
    assert as_user(world.agent).get("/signalements/").status_code == 200


@pytest.mark.django_db
def test_members_and_referents_may_file_too(as_user, world):
    for user in (world.member, world.referent):
        as_user(user).post("/signalements/nouveau/", form_data(submit="1"))
    assert set(Referral.objects.values_list("author__email", flat=True)) == {
        world.member.email,
        world.referent.email,
    }
