"""Exports of trainees' personal data (issue 15): an attestation PDF and the zip of a session's
attestations name the reader and the date in the bytes served, ask for a fresh second factor
first (nothing served or recorded before), are recorded, and are 404 for anyone else.

The sign-in sheet (the list of trainees) is tested in test_sign_in_sheet.py."""

from __future__ import annotations

import datetime
import io
import zipfile

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from cmer.accounts.models import Role
from cmer.audit.models import AuditEntry, Event
from tests.conftest import make_user, step_up
from training.models import Attestation, AttestationBundle

from .factories import AttendanceFactory, TraineeFactory, TrainingSessionFactory

pytestmark = pytest.mark.django_db

PERSONAS = ["referent", "member", "agent", "liaison", "dpo", "admin", "other_referent"]


@pytest.fixture
def session(world):
    session = TrainingSessionFactory(
        commune=world.tarascon, created_by=world.coordinator, title="Signaux faibles"
    )
    for last_name in ("Lefèvre", "Barbier"):
        AttendanceFactory(
            session=session,
            trainee=TraineeFactory(department=world.department, last_name=last_name),
        )
    return session


@pytest.fixture
def bundle(world, session, django_capture_on_commit_callbacks):
    from training import actions

    with django_capture_on_commit_callbacks(execute=True):
        made = actions.do_request_bundle(session, acting_user=world.coordinator)
    made.refresh_from_db()
    assert made.state == AttestationBundle.State.READY
    return made


def _stamp() -> str:
    return timezone.localtime().strftime("%d/%m/%Y")


def _pdf_text(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def _recorded(what: str) -> bool:
    return any((data or {}).get("what") == what for data in _all_data())


def _all_data():
    return AuditEntry.objects.values_list("additional_data", flat=True)


def _other_coordinator(world):
    return make_user("formation@miramas.test", Role.TRAINING_COORDINATOR, commune=world.miramas)


# One attestation ------------------------------------------------------------------------------


def test_attestation_pdf_names_the_reader_and_is_recorded(world, as_user, session):
    attendance = session.attendances.get(trainee__last_name="Lefèvre")
    url = reverse("training:attestation_pdf", args=[attendance.pk])
    response = step_up(as_user(world.coordinator)).get(url)
    assert response.status_code == 200
    (page,) = _pdf_text(response.content)
    assert f"Extrait par {world.coordinator.get_full_name()} le {_stamp()}" in page
    attestation = Attestation.objects.get(attendance=attendance)
    (entry,) = AuditEntry.objects.filter(event=Event.ACCESS, object_pk=str(attestation.pk))
    assert entry.actor == world.coordinator
    assert entry.additional_data["what"] == "attestation_pdf"


def test_attestation_pdf_needs_a_fresh_code(world, as_user, session):
    attendance = session.attendances.first()
    url = reverse("training:attestation_pdf", args=[attendance.pk])
    client = as_user(world.coordinator)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:stepup"))
    # A code typed more than five minutes ago is not fresh any more.
    step_up(client)
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=6)):
        stale = client.get(url)
    assert stale.status_code == 302
    assert stale["Location"].startswith(reverse("accounts:stepup"))
    assert b"%PDF" not in response.content + stale.content
    assert not Attestation.objects.exists()  # nothing produced
    assert not _recorded("attestation_pdf")


@pytest.mark.parametrize("persona", PERSONAS)
def test_attestation_pdf_is_404_for_other_roles(world, as_user, session, persona):
    attendance = session.attendances.first()
    url = reverse("training:attestation_pdf", args=[attendance.pk])
    assert step_up(as_user(getattr(world, persona))).get(url).status_code == 404


def test_attestation_pdf_is_404_for_another_communes_coordinator(world, as_user, session):
    attendance = session.attendances.first()
    url = reverse("training:attestation_pdf", args=[attendance.pk])
    assert step_up(as_user(_other_coordinator(world))).get(url).status_code == 404
    assert not Attestation.objects.exists()


# The zip of a session's attestations ----------------------------------------------------------


def test_bundle_names_the_reader_in_a_note_and_its_comment(world, as_user, session, bundle):
    stored = bundle.file.read()
    bundle.file.close()
    response = step_up(as_user(world.coordinator)).get(
        reverse("training:bundle_download", args=[bundle.pk])
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    line = f"Extrait par {world.coordinator.get_full_name()} le {_stamp()}"
    note = archive.read("LISEZMOI.txt").decode("utf-8")
    assert line in note
    assert "Signaux faibles" in note
    assert archive.comment.decode("utf-8").startswith(line)
    # Every attestation is still there, readable.
    assert len([n for n in archive.namelist() if n.endswith(".pdf")]) == 3
    assert len(PdfReader(io.BytesIO(archive.read("attestations.pdf"))).pages) == 2
    # The stored zip is not changed by a download (it is marked for each reader).
    bundle.refresh_from_db()
    assert bundle.file.read() == stored
    bundle.file.close()
    (entry,) = AuditEntry.objects.filter(event=Event.ACCESS, object_pk=str(bundle.pk))
    assert entry.actor == world.coordinator
    assert entry.additional_data["what"] == "attestations_zip"


def test_bundle_names_whoever_downloads_it(world, as_user, session, bundle):
    # Another coordinator of the same commune downloads the zip the first one asked for.
    colleague = make_user(
        "formation2@tarascon.test",
        Role.TRAINING_COORDINATOR,
        commune=world.tarascon,
        first_name="Paule",
        last_name="Roux",
    )
    response = step_up(as_user(colleague)).get(
        reverse("training:bundle_download", args=[bundle.pk])
    )
    note = zipfile.ZipFile(io.BytesIO(response.content)).read("LISEZMOI.txt").decode("utf-8")
    assert "Extrait par Paule Roux le " in note
    assert world.coordinator.get_full_name() not in note


def test_bundle_download_needs_a_fresh_code(world, as_user, session, bundle):
    url = reverse("training:bundle_download", args=[bundle.pk])
    response = as_user(world.coordinator).get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:stepup"))
    assert not response.content.startswith(b"PK")
    assert not _recorded("attestations_zip")


def test_bundle_request_needs_a_fresh_code(world, as_user, session):
    response = as_user(world.coordinator).post(
        reverse("training:bundle_request", args=[session.pk])
    )
    assert response.status_code == 403  # the code page in place, nothing done
    assert not AttestationBundle.objects.exists()


@pytest.mark.parametrize("persona", PERSONAS)
def test_bundle_download_is_404_for_other_roles(world, as_user, session, bundle, persona):
    url = reverse("training:bundle_download", args=[bundle.pk])
    assert step_up(as_user(getattr(world, persona))).get(url).status_code == 404


def test_bundle_download_is_404_for_another_communes_coordinator(world, as_user, bundle):
    url = reverse("training:bundle_download", args=[bundle.pk])
    assert step_up(as_user(_other_coordinator(world))).get(url).status_code == 404
    assert not _recorded("attestations_zip")
