"""Transmission to the prefecture, its feedback, and information on the State's initiative."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.utils import timezone

from cases import actions
from cases.models import Referral, StateInformation, TimelineEntry, Transmission
from cmer.permissions import denied
from tests.cases.helpers import PDF_BYTES, file_referral


@pytest.fixture
def assessed(world):
    referral = file_referral(
        world.agent, world.tarascon, attachments=[("p.pdf", "application/pdf", PDF_BYTES)]
    )
    return actions.do_change_status(referral, to_status="in_assessment", acting_user=world.referent)


def transmit(client, referral, items=("identity", "facts")):
    return client.post(
        f"/signalements/{referral.pk}/transmission/",
        {"items": list(items), "reason": "Signes de passage à l'acte"},
    )


@pytest.mark.django_db
def test_transmission_blocked_when_the_protocol_is_not_in_force(as_user, world, assessed, protocol):
    protocol.decision = denied("Le protocole de la commune n'est pas en vigueur : expiré.")
    client = as_user(world.referent)
    page = client.get(f"/signalements/{assessed.pk}/transmission/").content.decode()
    assert "pas en vigueur" in page
    response = transmit(client, assessed)
    assert response.status_code == 200
    assert not Transmission.objects.exists()
    assessed.refresh_from_db()
    assert assessed.status == Referral.Status.IN_ASSESSMENT
    detail = client.get(f"/signalements/{assessed.pk}/").content.decode()
    assert 'data-testid="transmit-blocked"' in detail


@pytest.mark.django_db
def test_transmission_records_what_why_who_when_and_alerts_the_liaison(
    as_user, world, assessed, protocol, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = transmit(as_user(world.referent), assessed)
    assert response.status_code == 302
    transmission = Transmission.objects.get()
    assert transmission.shared_items == ["facts", "identity"]
    assert transmission.transmitted_by == world.referent
    assert transmission.reason == "Signes de passage à l'acte"
    assessed.refresh_from_db()
    assert assessed.status == Referral.Status.TRANSMITTED
    recipients = {address for message in mail.outbox for address in message.to}
    assert world.liaison.email in recipients
    assert world.other_department_liaison.email not in recipients
    # Twice is refused.
    assert transmit(as_user(world.referent), assessed).status_code == 200
    assert Transmission.objects.count() == 1


@pytest.mark.django_db
def test_liaison_sees_what_was_shared_and_writes_feedback_for_the_referent(
    as_user, world, assessed, protocol
):
    transmit(as_user(world.referent), assessed, items=("facts",))
    liaison = as_user(world.liaison)
    html = liaison.get(f"/signalements/{assessed.pk}/").content.decode()
    assert "Propos justifiant" in html
    assert "Dupont" not in html  # identity was not shared
    attachment = assessed.attachments.get()
    assert liaison.get(f"/signalements/{assessed.pk}/pieces/{attachment.pk}/").status_code == 404
    assert assessed.reference in liaison.get("/signalements/prefecture/").content.decode()
    assert (
        as_user(world.other_department_liaison).get(f"/signalements/{assessed.pk}/").status_code
        == 404
    )
    liaison.post(
        f"/signalements/{assessed.pk}/retour-prefecture/", {"text": "Situation connue, suivie."}
    )
    entry = TimelineEntry.objects.get(kind=TimelineEntry.Kind.PREFECTURE_FEEDBACK)
    assert entry.author == world.liaison
    referent_page = as_user(world.referent).get(f"/signalements/{assessed.pk}/").content.decode()
    assert "Situation connue, suivie." in referent_page
    # The liaison never manages the referral.
    assert liaison.post(f"/signalements/{assessed.pk}/statut/").status_code == 404
    assert liaison.post(f"/signalements/{assessed.pk}/acces/").status_code == 404


@pytest.mark.django_db
def test_referent_gives_feedback_to_the_agent_who_sees_it(as_user, world, assessed):
    as_user(world.referent).post(
        f"/signalements/{assessed.pk}/retour-agent/", {"text": "Merci, la situation est suivie."}
    )
    html = as_user(world.agent).get(f"/signalements/{assessed.pk}/").content.decode()
    assert "Merci, la situation est suivie." in html
    assert "Propos justifiant" not in html


STATE_INFO = {
    "case": "employee",
    "person": "Candidat au poste d'animateur",
    "content": "Information à caractère confidentiel utile au recrutement.",
}


@pytest.mark.django_db
def test_state_information_needs_both_agreements_and_reaches_the_referent_only(as_user, world):
    liaison = as_user(world.liaison)
    liaison.post(
        "/signalements/informations/nouvelle/", {**STATE_INFO, "commune": world.tarascon.pk}
    )
    info = StateInformation.objects.get()
    assert info.status == StateInformation.Status.DRAFT
    response = liaison.post(f"/signalements/informations/{info.pk}/", follow=True)
    assert "accord du parquet" in response.content.decode().lower()
    info.refresh_from_db()
    assert info.status == StateInformation.Status.DRAFT
    assert as_user(world.referent).get(f"/signalements/informations/{info.pk}/").status_code == 404
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    info.prosecutor_agreement_by = "Procureur de Tarascon"
    info.prosecutor_agreed_on = yesterday
    info.services_agreement_by = "DGSI Marseille"
    info.services_agreed_on = yesterday
    info.save()
    liaison.post(f"/signalements/informations/{info.pk}/")
    info.refresh_from_db()
    assert info.status == StateInformation.Status.SENT
    assert as_user(world.referent).get(f"/signalements/informations/{info.pk}/").status_code == 200
    for persona in (
        "member",
        "agent",
        "other_referent",
        "other_department_liaison",
        "dpo",
        "admin",
    ):
        client = as_user(getattr(world, persona))
        assert client.get(f"/signalements/informations/{info.pk}/").status_code == 404, persona


@pytest.mark.django_db
def test_liaison_cannot_write_to_a_commune_outside_the_department(as_user, world):
    client = as_user(world.liaison)
    client.post("/signalements/informations/nouvelle/", {**STATE_INFO, "commune": world.nimes.pk})
    assert not StateInformation.objects.exists()
    assert as_user(world.referent).get("/signalements/informations/nouvelle/").status_code == 404
