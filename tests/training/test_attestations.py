from __future__ import annotations

import io
import zipfile

import pytest
from django.urls import reverse
from pypdf import PdfReader

from cmer.audit.models import AuditEntry, Event
from cmer.outbox.models import QueuedTask
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


def test_the_zip_is_built_by_a_task_and_offered_on_its_page(
    world, as_user, session, _private_storage, django_capture_on_commit_callbacks
):
    attend(session, 3)
    client = as_user(world.coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("training:bundle_request", args=[session.pk]))
    bundle = AttestationBundle.objects.get()
    assert response["Location"] == reverse("training:bundle_status", args=[bundle.pk])
    assert bundle.state == AttestationBundle.State.READY
    page = client.get(response["Location"]).content.decode()
    assert reverse("training:bundle_download", args=[bundle.pk]) in page
    assert "data-poll-state" not in page
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


def test_the_request_only_queues_the_build(
    world, as_user, session, _private_storage, django_capture_on_commit_callbacks
):
    """Finding: 30 attestations took seconds to render inside the request; now never."""
    attend(session, 3)
    client = as_user(world.coordinator)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(reverse("training:bundle_request", args=[session.pk]))
    bundle = AttestationBundle.objects.get()
    assert bundle.state == AttestationBundle.State.PENDING
    assert QueuedTask.objects.get().task_name == "training.build_attestation_bundle"
    assert client.get(reverse("training:bundle_download", args=[bundle.pk])).status_code == 404
    page = client.get(reverse("training:bundle_status", args=[bundle.pk])).content.decode()
    assert 'data-poll-state="pending"' in page and "cmer/poll.js" in page
    assert "en préparation" in page
    polled = client.get(
        reverse("training:bundle_status", args=[bundle.pk]), HTTP_ACCEPT="application/json"
    )
    assert polled.json() == {"state": "pending"}
    for callback in callbacks:
        callback()  # the task runs eagerly in tests
    bundle.refresh_from_db()
    assert bundle.state == AttestationBundle.State.READY
    assert bundle.count == 3 and bundle.attempts == 1
    # Idempotent: running the task again does nothing.
    from training.tasks import build_attestation_bundle

    sha = bundle.sha256
    build_attestation_bundle.delay(bundle.pk)
    bundle.refresh_from_db()
    assert bundle.sha256 == sha and bundle.attempts == 1


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
