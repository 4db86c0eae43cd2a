"""Signed convention PDFs pass a real clamd before anything is stored (issue 17, point 1)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cmer.audit.models import AuditEntry, Event
from conventions.models import SignedDocument
from tests.clamd import EICAR, SIGNATURE

from .factories import ConventionFactory, make_pdf


def stored_files(root) -> list:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.fixture
def convention(world):
    return ConventionFactory(commune=world.tarascon, status="awaiting_signatures")


def upload(client, convention, content: bytes):
    return client.post(
        reverse("conventions:document_upload", args=[convention.pk]),
        {"file": SimpleUploadedFile("protocole.pdf", content)},
    )


def test_eicar_in_a_signed_pdf_is_refused_audited_and_not_stored(
    clamav, world, as_user, convention, _private_storage
):
    # A readable PDF (the content checks pass) that carries the test signature in a comment.
    infected = make_pdf("protocole") + b"%" + EICAR + b"\n"
    response = upload(as_user(world.referent), convention, infected)
    assert response.status_code == 400
    assert SIGNATURE in response.content.decode()
    assert not SignedDocument.objects.exists()
    assert stored_files(_private_storage) == []
    entry = AuditEntry.objects.get(event=Event.MALWARE)
    assert entry.actor == world.referent
    assert entry.object_pk == str(convention.pk)
    assert entry.commune_id == world.tarascon.pk
    assert entry.additional_data["where"] == "conventions.signed_document"
    assert entry.additional_data["size"] == len(infected)


def test_clean_signed_pdf_is_scanned_and_kept(clamav, world, as_user, convention, _private_storage):
    response = upload(as_user(world.referent), convention, make_pdf("protocole"))
    assert response.status_code == 302
    assert SignedDocument.objects.count() == 1
    assert len(stored_files(_private_storage)) == 1
    assert not AuditEntry.objects.filter(event=Event.MALWARE).exists()


def test_clamd_stopped_refuses_the_pdf_and_stores_nothing(
    stopped_clamav, world, as_user, convention, _private_storage
):
    response = upload(as_user(world.referent), convention, make_pdf("protocole"))
    assert response.status_code == 400
    assert "Analyse antivirus indisponible, réessayez plus tard" in response.content.decode()
    assert not SignedDocument.objects.exists()
    assert stored_files(_private_storage) == []


def test_the_upload_form_says_when_scanning_is_off(settings, world, as_user, convention):
    settings.CLAMAV_SOCKET = ""
    page = as_user(world.referent).get(reverse("conventions:detail", args=[convention.pk]))
    assert "Analyse antivirus désactivée" in page.content.decode()
