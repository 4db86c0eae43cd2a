"""Signed PDFs: checked by content, stored privately with their SHA-256, re-verified on every
download; versions never overwrite each other; the verify page stores nothing."""

from __future__ import annotations

import hashlib
from unittest import mock

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cmer.audit.models import AuditEntry
from conventions.models import SignedDocument

from .factories import ConventionFactory, make_pdf, pdf_upload


def stored_files(root) -> list:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.fixture
def convention(world):
    return ConventionFactory(commune=world.tarascon, status="awaiting_signatures")


def upload(client, convention, file):
    return client.post(reverse("conventions:document_upload", args=[convention.pk]), {"file": file})


def test_upload_stores_hash_and_versions(world, as_user, convention, _private_storage):
    client = as_user(world.referent)
    first = make_pdf("premier scan")
    response = upload(client, convention, SimpleUploadedFile("protocole-signe-maire.pdf", first))
    assert response.status_code == 302
    second = make_pdf("second scan")
    assert upload(client, convention, SimpleUploadedFile("b.pdf", second)).status_code == 302
    v1, v2 = SignedDocument.objects.order_by("version")
    assert (v1.version, v2.version) == (1, 2)
    assert v1.sha256 == hashlib.sha256(first).hexdigest()
    assert v2.sha256 == hashlib.sha256(second).hexdigest()
    assert v1.file.name != v2.file.name
    assert "protocole-signe-maire" not in v1.file.name  # stored under a random name
    with default_storage.open(v1.file.name) as stored:
        assert stored.read() == first  # the old version is intact
    assert len(stored_files(_private_storage)) == 2
    page = client.get(reverse("conventions:detail", args=[convention.pk])).content.decode()
    assert v1.sha256 in page and v2.sha256 in page


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"MZ\x90\x00 this is an executable", "n&#x27;est pas un PDF"),
        (b"<html>%PDF-1.4</html>", "n&#x27;est pas un PDF"),
        (b"%PDF-1.7\n garbage that is not a pdf at all", "endommagé ou illisible"),
        (make_pdf()[:200], "endommagé ou illisible"),
    ],
    ids=["exe", "html", "garbage", "truncated"],
)
def test_bad_files_are_refused_and_nothing_is_saved(
    world, as_user, convention, _private_storage, content, message
):
    response = upload(as_user(world.referent), convention, SimpleUploadedFile("x.pdf", content))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not SignedDocument.objects.exists()
    assert stored_files(_private_storage) == []


def test_too_big_is_refused(world, as_user, convention, _private_storage):
    content = make_pdf()
    content += b" " * (20 * 1024 * 1024 + 1 - len(content))  # a valid PDF, one byte too big
    response = upload(as_user(world.referent), convention, SimpleUploadedFile("big.pdf", content))
    assert response.status_code == 400
    assert "20 Mo" in response.content.decode()
    assert not SignedDocument.objects.exists()
    assert stored_files(_private_storage) == []


def test_failure_after_writing_leaves_no_orphan_file(world, convention, _private_storage):
    from conventions import actions

    with (
        mock.patch("conventions.actions._event", side_effect=RuntimeError("audit down")),
        pytest.raises(RuntimeError),
    ):
        actions.do_upload_document(convention, pdf_upload(), acting_user=world.referent)
    assert not SignedDocument.objects.exists()
    assert stored_files(_private_storage) == []


def test_download_verifies_and_records(world, as_user, convention):
    content = make_pdf("original")
    upload(as_user(world.referent), convention, SimpleUploadedFile("a.pdf", content))
    document = SignedDocument.objects.get()
    url = reverse("conventions:document_download", args=[convention.pk, document.pk])
    response = as_user(world.liaison).get(url)
    assert response.status_code == 200
    assert response.content == content
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'attachment; filename="convention-{convention.pk}-v1.pdf"'
    )
    assert "no-store" in response["Cache-Control"]
    entry = AuditEntry.objects.filter(event="access", object_pk=str(document.pk)).latest("pk")
    assert entry.actor == world.liaison
    assert entry.additional_data["integrity"] == "ok"


def test_tampered_file_raises_an_integrity_alarm(world, as_user, convention):
    upload(as_user(world.referent), convention, pdf_upload("original"))
    document = SignedDocument.objects.get()
    path = default_storage.path(document.file.name)
    with open(path, "r+b") as handle:  # someone edits the stored file behind the application
        handle.seek(-5, 2)
        handle.write(b"XXXXX")
    url = reverse("conventions:document_download", args=[convention.pk, document.pk])
    response = as_user(world.referent).get(url)
    assert response.status_code == 409
    assert response["Content-Type"].startswith("text/html")
    assert "Le fichier conservé ne correspond plus à son empreinte" in response.content.decode()
    assert b"XXXXX" not in response.content
    entry = AuditEntry.objects.filter(object_pk=str(document.pk), event="access").latest("pk")
    assert entry.additional_data["integrity"] == "mismatch"
    assert entry.additional_data["expected"] == document.sha256


def test_missing_file_raises_an_integrity_alarm(world, as_user, convention):
    upload(as_user(world.referent), convention, pdf_upload("original"))
    document = SignedDocument.objects.get()
    default_storage.delete(document.file.name)
    url = reverse("conventions:document_download", args=[convention.pk, document.pk])
    response = as_user(world.referent).get(url)
    assert response.status_code == 409
    assert "fichier introuvable" in response.content.decode()
    entry = AuditEntry.objects.filter(object_pk=str(document.pk), event="access").latest("pk")
    assert entry.additional_data["integrity"] == "missing"


def test_verify_page_matches_by_hash_and_stores_nothing(
    world, as_user, convention, _private_storage
):
    content = make_pdf("original")
    upload(as_user(world.referent), convention, SimpleUploadedFile("a.pdf", content))
    files_before = stored_files(_private_storage)
    documents_before = SignedDocument.objects.count()
    url = reverse("conventions:verify")
    client = as_user(world.liaison)
    assert client.get(url).status_code == 200
    same = client.post(url, {"file": SimpleUploadedFile("copie.pdf", content)})
    assert same.status_code == 200
    assert "Document authentique" in same.content.decode()
    altered = client.post(url, {"file": SimpleUploadedFile("copie.pdf", content + b"\n")})
    assert "Document inconnu" in altered.content.decode()
    # Another department's liaison cannot learn that Tarascon's document exists.
    other = as_user(world.other_department_liaison).post(
        url, {"file": SimpleUploadedFile("copie.pdf", content)}
    )
    assert "Document inconnu" in other.content.decode()
    assert stored_files(_private_storage) == files_before
    assert SignedDocument.objects.count() == documents_before


def test_verify_page_is_for_convention_managers_only(world, as_user):
    for persona in ("member", "agent", "coordinator", "dpo", "admin"):
        response = as_user(getattr(world, persona)).get(reverse("conventions:verify"))
        assert response.status_code == 404, persona
