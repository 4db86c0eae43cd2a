"""The register of processing (art. 30): built from the installation, for the DPO only."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from pypdf import PdfReader

from cmer import register
from cmer.audit.models import AuditEntry, Event

pytestmark = pytest.mark.django_db


def test_dpo_reads_the_register(world, as_user):
    response = as_user(world.dpo).get(reverse("register:page"))
    assert response.status_code == 200
    body = response.content.decode()
    # Encrypted fields found by walking the models.
    assert "faits observés" in body and "motif de la transmission" in body
    assert "Référent municipal" in body
    assert "Bouches-du-Rhône" in body


def test_encrypted_fields_walk_every_model():
    found = register.encrypted_fields()
    assert ("signalement", "nom") in found
    assert ("entrée du suivi", "texte") in found


def test_a_changed_setting_changes_the_register(world, as_user, settings, monkeypatch):
    client = as_user(world.dpo)
    settings.RETENTION_ARCHIVE_YEARS = 2
    settings.AXES_FAILURE_LIMIT = 7
    body = client.get(reverse("register:page")).content.decode()
    assert "2 ans après l&#x27;archivage" in body
    assert "après 7 échecs" in body
    # The database's host (the open connection keeps its own copy of the settings).
    monkeypatch.setitem(settings.DATABASES["default"], "HOST", "db.mairie.example")
    assert "db.mairie.example" in dict(register.hosting())["Base de données"]
    settings.RETENTION_ARCHIVE_YEARS = 3
    body = client.get(reverse("register:page")).content.decode()
    assert "3 ans après l&#x27;archivage" in body and "2 ans après l&#x27;archivage" not in body


def test_recipients_count_holders_without_names(world, as_user):
    rows = {row["role"]: row["holders"] for row in register.recipients()}
    assert rows["Référent municipal"] == 2
    body = as_user(world.dpo).get(reverse("register:page")).content.decode()
    assert world.referent.email not in body


def test_pdf_holds_the_register_and_is_recorded(world, as_user):
    response = as_user(world.dpo).get(reverse("register:pdf"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert "Registre des traitements" in text
    assert "Durées de conservation" in text
    assert AuditEntry.objects.filter(event=Event.EXPORT, actor=world.dpo).exists()


@pytest.mark.parametrize(
    "who", ["referent", "member", "agent", "liaison", "coordinator", "admin", "other_referent"]
)
def test_everyone_else_gets_404(world, as_user, who):
    client = as_user(getattr(world, who))
    assert client.get(reverse("register:page")).status_code == 404
    assert client.get(reverse("register:pdf")).status_code == 404


def test_anonymous_goes_to_login(client):
    response = client.get(reverse("register:page"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
