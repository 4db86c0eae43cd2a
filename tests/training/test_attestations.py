from __future__ import annotations

import io
import zipfile

import pytest
from django.urls import reverse
from pypdf import PdfReader

from cmer.audit.models import AuditEntry, Event
from training import actions
from training.models import Attestation, AttestationBundle

from .factories import AttendanceFactory, TraineeFactory, TrainingSessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(world):
    return TrainingSessionFactory(
        commune=world.tarascon, created_by=world.coordinator, title="Signaux faibles"
    )


def attend(session, n, **kwargs):
    return [
        AttendanceFactory(
            session=session,
            trainee=TraineeFactory(department=world_department(session), **kwargs),
        )
        for _ in range(n)
    ]


def world_department(session):
    return session.commune.department


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_single_attestation(world, as_user, session):
    (attendance,) = attend(session, 1, last_name="Lefèvre", first_name="Hélène")
    client = as_user(world.coordinator)
    response = client.get(reverse("training:attestation_pdf", args=[attendance.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    code = Attestation.objects.get(attendance=attendance).code
    assert code in response["Content-Disposition"]
    assert "Lefèvre" not in response["Content-Disposition"]
    text = pdf_text(response.content)
    assert "Hélène Lefèvre" in text
    assert "Signaux faibles" in text
    assert code in text
    # Same code the second time.
    client.get(reverse("training:attestation_pdf", args=[attendance.pk]))
    assert Attestation.objects.get(attendance=attendance).code == code
    attestation = Attestation.objects.get(attendance=attendance)
    assert AuditEntry.objects.filter(event=Event.ACCESS, object_pk=str(attestation.pk)).exists()


def test_no_attestation_for_an_absent_person_or_a_planned_session(world, as_user, session):
    absent = AttendanceFactory(
        session=session, trainee=TraineeFactory(department=world.department), status="absent"
    )
    planned = TrainingSessionFactory(
        commune=world.tarascon, created_by=world.coordinator, status="planned"
    )
    (planned_attendance,) = attend(planned, 1)
    client = as_user(world.coordinator)
    for attendance in (absent, planned_attendance):
        url = reverse("training:attestation_pdf", args=[attendance.pk])
        assert client.get(url).status_code == 404


def test_small_session_zip_is_built_at_once(world, as_user, session, _private_storage):
    attend(session, 3)
    client = as_user(world.coordinator)
    client.post(reverse("training:bundle_request", args=[session.pk]))
    bundle = AttestationBundle.objects.get()
    assert bundle.state == AttestationBundle.State.READY
    response = client.get(reverse("training:bundle_download", args=[bundle.pk]))
    assert response.status_code == 200
    assert f"attestations-session-{session.pk}.zip" in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = archive.namelist()
    assert "attestations.pdf" in names
    assert len(names) == 4
    assert len(PdfReader(io.BytesIO(archive.read("attestations.pdf"))).pages) == 3
    codes = set(Attestation.objects.values_list("code", flat=True))
    assert len(codes) == 3
    for name in names[1:]:
        assert any(code in name for code in codes)
        assert len(PdfReader(io.BytesIO(archive.read(name))).pages) == 1
    assert AuditEntry.objects.filter(event=Event.ACCESS, object_pk=str(bundle.pk)).exists()


def test_large_session_zip_is_built_by_a_task(
    world, as_user, session, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(actions, "SYNC_BUNDLE_LIMIT", 2)
    attend(session, 3)
    client = as_user(world.coordinator)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(reverse("training:bundle_request", args=[session.pk]))
    bundle = AttestationBundle.objects.get()
    assert bundle.state == AttestationBundle.State.PENDING
    assert client.get(reverse("training:bundle_download", args=[bundle.pk])).status_code == 404
    for callback in callbacks:
        callback()  # the task runs eagerly in tests
    bundle.refresh_from_db()
    assert bundle.state == AttestationBundle.State.READY
    assert bundle.count == 3
    # Idempotent: running the task again does nothing.
    from training.tasks import build_attestation_bundle

    sha = bundle.sha256
    build_attestation_bundle.delay(bundle.pk)
    bundle.refresh_from_db()
    assert bundle.sha256 == sha


def test_verification(world, as_user, session):
    (attendance,) = attend(session, 1, last_name="Barbier", first_name="Inès")
    attestation = actions.ensure_attestations([attendance])[attendance.pk]
    client = as_user(world.agent)
    typed = attestation.code.lower().replace("-", " ")
    page = client.post(reverse("training:verify"), {"code": typed}).content.decode()
    assert 'data-testid="verify-valid"' in page
    assert "Inès Barbier" in page
    assert "Signaux faibles" in page
    page = client.post(reverse("training:verify"), {"code": "AAAA-BBBB-CCCC"}).content.decode()
    assert 'data-testid="verify-invalid"' in page
    page = client.post(reverse("training:verify"), {"code": "abc"}).content.decode()
    assert "douze" in page


def test_verification_fails_once_the_person_is_marked_absent(world, as_user, session):
    (attendance,) = attend(session, 1)
    attestation = actions.ensure_attestations([attendance])[attendance.pk]
    attendance.status = "absent"
    attendance.save()
    page = as_user(world.agent).post(reverse("training:verify"), {"code": attestation.code})
    assert 'data-testid="verify-invalid"' in page.content.decode()
