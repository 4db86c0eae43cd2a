"""Referral attachments pass a real clamd before anything is stored (issue 17, point 1)."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cases.models import Attachment, Referral
from cmer.audit.models import AuditEntry, Event
from tests.cases.helpers import PDF_BYTES, file_referral, form_data
from tests.clamd import EICAR, SIGNATURE

CREATE = "/signalements/nouveau/"


def infected_pdf() -> SimpleUploadedFile:
    # A file of an accepted type (the type check passes) that carries the test signature.
    return SimpleUploadedFile(
        "signalement-dupont.pdf", PDF_BYTES + EICAR + b"\n", content_type="application/pdf"
    )


def docx_with(member: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        archive.writestr("word/media/payload.bin", member)
    return buffer.getvalue()


def stored_files(private_storage) -> list:
    folder = private_storage / "attachments"
    return list(folder.iterdir()) if folder.exists() else []


@pytest.mark.django_db
def test_eicar_attachment_is_refused_audited_and_nothing_is_stored(
    clamav, as_user, world, private_storage
):
    response = as_user(world.agent).post(
        CREATE, {**form_data(submit="1"), "attachments": infected_pdf()}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "l&#x27;antivirus y a détecté" in page and SIGNATURE in page
    assert not Referral.objects.exists() and not Attachment.objects.exists()
    assert stored_files(private_storage) == []
    entry = AuditEntry.objects.get(event=Event.MALWARE)
    assert entry.actor == world.agent
    assert entry.commune_id == world.tarascon.pk
    assert entry.additional_data["where"] == "cases.attachment"
    # The trail never holds the file's name or content.
    assert set(entry.additional_data) == {"where", "signature", "size", "sha256"}
    assert "dupont" not in str(entry.additional_data).lower()


@pytest.mark.django_db
def test_eicar_inside_a_docx_is_refused(clamav, as_user, world, private_storage):
    upload = SimpleUploadedFile("rapport.docx", docx_with(EICAR))
    response = as_user(world.agent).post(CREATE, {**form_data(submit="1"), "attachments": upload})
    assert response.status_code == 200
    assert SIGNATURE in response.content.decode()
    assert not Referral.objects.exists() and stored_files(private_storage) == []
    assert AuditEntry.objects.filter(event=Event.MALWARE).count() == 1


@pytest.mark.django_db
def test_eicar_added_to_an_existing_draft_leaves_the_draft_unchanged(
    clamav, as_user, world, private_storage
):
    draft = file_referral(world.agent, world.tarascon, submit=False)
    response = as_user(world.agent).post(
        f"/signalements/{draft.pk}/brouillon/",
        {**form_data(save="1", facts="Texte modifié"), "attachments": infected_pdf()},
    )
    assert response.status_code == 200
    draft.refresh_from_db()
    assert draft.facts != "Texte modifié"
    assert not draft.attachments.exists() and stored_files(private_storage) == []
    entry = AuditEntry.objects.get(event=Event.MALWARE)
    assert entry.object_pk == str(draft.pk)


@pytest.mark.django_db
def test_clean_attachments_are_scanned_and_kept(clamav, as_user, world, private_storage):
    clean_docx = SimpleUploadedFile("rapport.docx", docx_with(b"rien de particulier"))
    clean_pdf = SimpleUploadedFile("note.pdf", PDF_BYTES)
    response = as_user(world.agent).post(
        CREATE, {**form_data(submit="1"), "attachments": [clean_pdf, clean_docx]}
    )
    assert response.status_code == 302
    assert Referral.objects.get().attachments.count() == 2
    assert len(stored_files(private_storage)) == 2
    assert not AuditEntry.objects.filter(event=Event.MALWARE).exists()


@pytest.mark.django_db
def test_clamd_stopped_refuses_the_upload_and_stores_nothing(
    stopped_clamav, as_user, world, private_storage
):
    upload = SimpleUploadedFile("note.pdf", PDF_BYTES)
    response = as_user(world.agent).post(CREATE, {**form_data(submit="1"), "attachments": upload})
    assert response.status_code == 200
    assert "Analyse antivirus indisponible, réessayez plus tard" in response.content.decode()
    assert not Referral.objects.exists() and stored_files(private_storage) == []


@pytest.mark.django_db
def test_the_form_says_when_scanning_is_off(settings, as_user, world):
    settings.CLAMAV_SOCKET = ""
    page = as_user(world.agent).get(CREATE).content.decode()
    assert 'data-testid="antivirus-off"' in page and "Analyse antivirus désactivée" in page
    settings.CLAMAV_SOCKET = "/run/clamav/clamd.sock"
    page = as_user(world.agent).get(CREATE).content.decode()
    assert "antivirus-off" not in page
