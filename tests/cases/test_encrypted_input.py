"""User input that looks like ciphertext ("enc1:…") is text like any other, never a 500."""

from __future__ import annotations

import pytest
from django.db import connection

from cases.models import Referral, TimelineEntry
from tests.cases.helpers import file_referral, form_data

LOOKALIKE = "enc1:gAAAAABnot-a-real-token"


@pytest.mark.django_db
def test_referral_form_post_with_the_cipher_prefix_is_stored_and_read_back(as_user, world):
    client = as_user(world.agent)
    data = form_data(submit="1", surname=LOOKALIKE, facts=LOOKALIKE + " au gymnase")
    response = client.post("/signalements/nouveau/", data)
    referral = Referral.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/signalements/{referral.pk}/depose/"
    assert referral.surname == LOOKALIKE
    assert referral.facts == LOOKALIKE + " au gymnase"
    with connection.cursor() as cursor:
        cursor.execute("SELECT surname FROM cases_referral WHERE id = %s", [referral.pk])
        stored = cursor.fetchone()[0]
    # Encrypted like any value: the column never holds the typed text.
    assert stored.startswith("enc1:") and LOOKALIKE not in stored
    detail = as_user(world.referent).get(f"/signalements/{referral.pk}/")
    assert detail.status_code == 200
    assert LOOKALIKE.encode() in detail.content


@pytest.mark.django_db
def test_note_post_with_the_cipher_prefix_is_a_note(as_user, world):
    referral = file_referral(world.agent, world.tarascon)
    client = as_user(world.referent)
    response = client.post(
        f"/signalements/{referral.pk}/notes/", {"kind": "note", "text": LOOKALIKE}
    )
    assert response.status_code == 302
    note = TimelineEntry.objects.get(referral=referral, kind=TimelineEntry.Kind.NOTE)
    assert note.text == LOOKALIKE


def test_to_python_never_decrypts():
    """Python holds clear text; only the database holds ciphertext (``from_db_value``)."""
    field = Referral._meta.get_field("surname")
    assert field.to_python(LOOKALIKE) == LOOKALIKE
    assert field.clean(LOOKALIKE, None) == LOOKALIKE
