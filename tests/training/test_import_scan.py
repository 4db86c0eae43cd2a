"""Attendance sheets pass a real clamd before anything is stored (issue 17, point 1)."""

from __future__ import annotations

import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cmer.audit.models import AuditEntry, Event
from tests.clamd import EICAR, SIGNATURE
from training.models import AttendanceImport

from .factories import TrainingSessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(world):
    return TrainingSessionFactory(commune=world.tarascon, created_by=world.coordinator)


def csv_with(remark: bytes) -> bytes:
    return b"Nom;Pr\xc3\xa9nom;Remarque\r\nDurand;L\xc3\xa9a;" + remark + b"\r\n"


def xlsx_with(remark: str) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Nom", "Prénom", "Remarque"])
    sheet.append(["Durand", "Léa", remark])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(client, session, name: str, data: bytes):
    return client.post(
        reverse("training:import_upload", args=[session.pk]),
        {"file": SimpleUploadedFile(name, data)},
    )


def stored_files(root) -> list:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.parametrize(
    ("name", "data"),
    [("presences.csv", csv_with(EICAR)), ("presences.xlsx", xlsx_with(EICAR.decode()))],
    ids=["csv", "xlsx-zip"],
)
def test_eicar_sheet_is_refused_audited_and_not_stored(
    clamav, world, as_user, session, _private_storage, name, data
):
    response = upload(as_user(world.coordinator), session, name, data)
    assert response.status_code == 200
    assert SIGNATURE in response.content.decode()
    assert not AttendanceImport.objects.exists()
    assert stored_files(_private_storage) == []
    entry = AuditEntry.objects.get(event=Event.MALWARE)
    assert entry.actor == world.coordinator
    assert entry.object_pk == str(session.pk)
    assert entry.additional_data["where"] == "training.attendance"


def test_clean_sheet_is_scanned_and_staged(clamav, world, as_user, session, _private_storage):
    response = upload(as_user(world.coordinator), session, "presences.xlsx", xlsx_with("RAS"))
    assert response.status_code == 302
    assert AttendanceImport.objects.count() == 1
    assert len(stored_files(_private_storage)) == 1
    assert not AuditEntry.objects.filter(event=Event.MALWARE).exists()


def test_clamd_stopped_refuses_the_sheet_and_stores_nothing(
    stopped_clamav, world, as_user, session, _private_storage
):
    response = upload(as_user(world.coordinator), session, "presences.csv", csv_with(b"RAS"))
    assert response.status_code == 200
    assert "Analyse antivirus indisponible, réessayez plus tard" in response.content.decode()
    assert not AttendanceImport.objects.exists()
    assert stored_files(_private_storage) == []


def test_the_upload_page_says_when_scanning_is_off(settings, world, as_user, session):
    settings.CLAMAV_SOCKET = ""
    page = as_user(world.coordinator).get(reverse("training:import_upload", args=[session.pk]))
    assert "Analyse antivirus désactivée" in page.content.decode()
