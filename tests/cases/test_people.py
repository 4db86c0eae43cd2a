"""Duplicate warning and person search through the blind index; key rotation."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management import call_command
from django.db import connection

from cases.models import Referral
from tests.cases.helpers import PDF_BYTES, file_referral


@pytest.mark.django_db
def test_referent_is_warned_of_a_person_already_referred(as_user, world):
    first = file_referral(world.agent, world.tarascon)
    second = file_referral(
        world.other_agent, world.tarascon, surname="DUPONT", first_names="jeanne"
    )
    other_commune = file_referral(world.other_referent, world.miramas)
    html = as_user(world.referent).get(f"/signalements/{second.pk}/").content.decode()
    warning = html.split('data-testid="duplicate-warning"')[1].split("</div>")[0]
    assert first.reference in warning and other_commune.reference not in warning
    # The agent filing learns nothing.
    agent_page = as_user(world.other_agent).get(f"/signalements/{second.pk}/").content.decode()
    assert "duplicate-warning" not in agent_page and first.reference not in agent_page
    # A different birth year is another person.
    third = file_referral(world.agent, world.tarascon, birth_date=datetime.date(1990, 1, 1))
    html = as_user(world.referent).get(f"/signalements/{third.pk}/").content.decode()
    assert "duplicate-warning" not in html


@pytest.mark.django_db
def test_person_search_is_a_post_through_the_blind_index(as_user, world):
    target = file_referral(world.agent, world.tarascon, surname="Éléonore-Ça", first_names="Zoé")
    file_referral(world.agent, world.tarascon)
    client = as_user(world.referent)
    assert client.get("/signalements/recherche/").status_code == 200
    response = client.post(
        "/signalements/recherche/",
        {"surname": "eleonore ca", "first_names": "ZOE", "birth_year": "2008"},
    )
    results = response.content.decode().split('data-testid="search-results"')[1]
    assert target.reference in results and results.count("<li>") == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT name_index FROM cases_referral WHERE id = %s", [target.pk])
        index = cursor.fetchone()[0]
    assert len(index) == 64 and "eleonore" not in index
    for persona in ("agent", "member", "liaison", "admin"):
        assert as_user(getattr(world, persona)).post(
            "/signalements/recherche/", {"surname": "x", "first_names": "y"}
        ).status_code in {404, 302}


@pytest.mark.django_db
def test_key_rotation_round_trip(world, settings):
    from cryptography.fernet import Fernet

    referral = file_referral(
        world.agent, world.tarascon, attachments=[("p.pdf", "application/pdf", PDF_BYTES)]
    )
    old_key = settings.FIELD_ENCRYPTION_KEY
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = f"{new_key},{old_key}"
    out = io.StringIO()
    call_command("rotate_encryption_key", stdout=out)
    assert "attachments: 1 files re-encrypted" in out.getvalue()
    from cmer.audit.models import AuditEntry

    trace = AuditEntry.objects.filter(event="change").order_by("-pk").first()
    assert trace.additional_data["key_rotation"] is True
    settings.FIELD_ENCRYPTION_KEY = new_key  # old key gone: everything must still read
    fresh = Referral.objects.get(pk=referral.pk)
    assert fresh.surname == "Dupont" and "Propos justifiant" in fresh.facts
    from cases import files

    attachment = fresh.attachments.get()
    assert files.read_decrypted(attachment.stored_name) == PDF_BYTES
    assert fresh.timeline.first().to_status == "submitted"
