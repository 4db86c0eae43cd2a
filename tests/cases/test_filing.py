"""Reporting agent: file, draft, freeze, emergency guidance, bad input."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from cases.models import Attachment, Referral, TimelineEntry
from tests.cases.helpers import PDF_BYTES, file_referral, form_data

CREATE = "/signalements/nouveau/"


@pytest.mark.django_db
def test_agent_files_a_referral_and_referent_is_told_without_personal_data(
    as_user, world, django_capture_on_commit_callbacks
):
    client = as_user(world.agent)
    data = form_data(submit="1")
    data["attachments"] = SimpleUploadedFile("note.pdf", PDF_BYTES, content_type="application/pdf")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(CREATE, data)
    referral = Referral.objects.get()
    assert response["Location"] == f"/signalements/{referral.pk}/depose/"
    assert referral.status == Referral.Status.SUBMITTED
    assert referral.reference.startswith("TAR-") and referral.reference.endswith("-0001")
    assert referral.commune == world.tarascon and referral.author == world.agent
    assert referral.age_group == Referral.AgeGroup.ADULT
    assert referral.attachments.count() == 1
    assert [m.to for m in mail.outbox] == [[world.referent.email]]
    message = mail.outbox[0]
    for secret in ("Martin", "Lucas", "Rupture", "Stade"):
        assert secret not in message.subject + message.body
    assert f"/signalements/{referral.pk}/" in message.body


@pytest.mark.django_db
def test_references_are_sequential_per_commune_and_year(world):
    first = file_referral(world.agent, world.tarascon)
    second = file_referral(world.agent, world.tarascon)
    other = file_referral(world.other_referent, world.miramas)
    assert first.reference[-4:] == "0001" and second.reference[-4:] == "0002"
    assert other.reference.startswith("MIR-") and other.reference.endswith("0001")


@pytest.mark.django_db
def test_draft_is_saved_resumed_then_submitted(as_user, world):
    client = as_user(world.agent)
    response = client.post(CREATE, form_data(facts="", save="1"))
    draft = Referral.objects.get()
    assert draft.status == Referral.Status.DRAFT and not draft.reference
    assert response["Location"] == f"/signalements/{draft.pk}/brouillon/"
    page = client.get(f"/signalements/{draft.pk}/brouillon/").content.decode()
    assert "Martin" in page
    client.post(f"/signalements/{draft.pk}/brouillon/", form_data(submit="1"))
    draft.refresh_from_db()
    assert draft.status == Referral.Status.SUBMITTED
    # Other people do not see someone's draft.
    assert as_user(world.referent).get(f"/signalements/{draft.pk}/").status_code == 200
    other_draft = file_referral(world.agent, world.tarascon, submit=False)
    for user in (world.referent, world.other_agent, world.member):
        assert as_user(user).get(f"/signalements/{other_draft.pk}/").status_code == 404


@pytest.mark.django_db
def test_text_is_frozen_at_submission_and_corrections_are_addenda(as_user, world):
    referral = file_referral(world.agent, world.tarascon)
    client = as_user(world.agent)
    assert client.get(f"/signalements/{referral.pk}/brouillon/").status_code == 404
    assert client.post(f"/signalements/{referral.pk}/brouillon/", form_data()).status_code == 404
    referral.refresh_from_db()
    assert referral.surname == "Dupont"
    referral.facts = "rewritten"
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        referral.save()
    response = client.post(
        f"/signalements/{referral.pk}/complement/",
        {"text": "La date exacte était le 3 novembre.", "reason": "Erreur de date"},
    )
    assert response.status_code == 302
    addendum = TimelineEntry.objects.get(referral=referral, kind=TimelineEntry.Kind.ADDENDUM)
    assert addendum.author == world.agent and addendum.reason == "Erreur de date"
    page = as_user(world.referent).get(f"/signalements/{referral.pk}/").content.decode()
    assert page.index("Propos justifiant") < page.index("La date exacte")


@pytest.mark.django_db
def test_after_submission_the_agent_sees_reference_and_status_only(as_user, world):
    referral = file_referral(world.agent, world.tarascon)
    page = as_user(world.agent).get(f"/signalements/{referral.pk}/").content.decode()
    assert referral.reference in page
    assert "Dupont" not in page and "Propos justifiant" not in page
    listing = as_user(world.agent).get("/signalements/").content.decode()
    assert referral.reference in listing


@pytest.mark.django_db
def test_danger_now_shows_emergency_guidance_before_and_after(as_user, world):
    client = as_user(world.agent)
    form_page = client.get(CREATE).content.decode()
    assert 'data-show-when="urgency=danger"' in form_page and "112" in form_page
    client.post(CREATE, form_data(urgency="danger", submit="1"))
    referral = Referral.objects.get()
    after = client.get(f"/signalements/{referral.pk}/depose/").content.decode()
    assert 'data-testid="emergency-notice"' in after
    assert 'href="tel:+33800005696"' in after and 'href="tel:17"' in after


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"birth_date": "2099-01-01"}, "futur"),
        ({"facts_date": "2099-01-01"}, "futur"),
        ({"birth_date": "2026-02-30"}, "date"),
        (
            {
                "surname": "",
                "first_names": "",
                "birth_date": "",
                "residence_commune": "",
                "submit": "1",
            },
            "identification",
        ),
        ({"facts": "x" * 1501}, "1500"),
        ({"source": "police_file"}, "choix"),
    ],
)
@pytest.mark.django_db
def test_bad_input_saves_nothing(as_user, world, private_storage, overrides, message):
    response = as_user(world.agent).post(CREATE, form_data(**overrides))
    assert response.status_code == 200
    assert message in response.content.decode().lower() or message in response.content.decode()
    assert not Referral.objects.exists()


@pytest.mark.django_db
def test_disguised_or_oversized_files_are_refused_and_nothing_is_left(
    as_user, world, private_storage, settings
):
    exe = SimpleUploadedFile("rapport.pdf", b"MZ\x90\x00" + b"\x00" * 100)
    response = as_user(world.agent).post(CREATE, {**form_data(submit="1"), "attachments": exe})
    assert response.status_code == 200
    assert "Type de fichier refusé" in response.content.decode()
    assert not Referral.objects.exists() and not Attachment.objects.exists()
    assert not (private_storage / "attachments").exists() or not any(
        (private_storage / "attachments").iterdir()
    )
    from cases import files

    big = SimpleUploadedFile("big.pdf", PDF_BYTES + b"0" * (files.MAX_ATTACHMENT_BYTES + 1))
    response = as_user(world.agent).post(CREATE, {**form_data(submit="1"), "attachments": big})
    assert "20 Mo" in response.content.decode()
    assert not Referral.objects.exists()


@pytest.mark.django_db
def test_tampered_post_cannot_choose_commune_status_or_author(as_user, world):
    data = form_data(
        submit="1",
        commune=str(world.miramas.pk),
        status="closed",
        author=str(world.referent.pk),
        reference="MIR-2026-9999",
    )
    as_user(world.agent).post(CREATE, data)
    referral = Referral.objects.get()
    assert referral.commune == world.tarascon
    assert referral.author == world.agent
    assert referral.status == Referral.Status.SUBMITTED
    assert referral.reference.startswith("TAR-")


@pytest.mark.django_db
def test_roles_without_filing_rights_cannot_file(as_user, world):
    for user in (world.coordinator, world.dpo, world.admin, world.liaison):
        assert as_user(user).get(CREATE).status_code == 404
        as_user(user).post(CREATE, form_data(submit="1"))
    assert not Referral.objects.exists()


@pytest.mark.django_db
def test_identity_and_facts_are_encrypted_at_rest(world):
    file_referral(world.agent, world.tarascon)
    with connection.cursor() as cursor:
        cursor.execute("SELECT surname, first_names, facts, birth_date FROM cases_referral")
        row = cursor.fetchone()
    for value in row:
        assert value.startswith("enc1:")
    joined = " ".join(row)
    assert "Dupont" not in joined and "Jeanne" not in joined and "gymnase" not in joined
