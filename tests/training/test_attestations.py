from __future__ import annotations

import io
import zipfile

import pytest
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from cmer.audit.models import AuditEntry, Event
from cmer.outbox.models import QueuedTask
from tests.conftest import step_up
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
    client = step_up(as_user(world.coordinator))
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
    client = step_up(as_user(world.coordinator))
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
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = archive.namelist()
    assert "attestations.pdf" in names
    # Three attestations, the combined PDF and the reader's note (tests/training/test_export_marks).
    assert names[-1] == "LISEZMOI.txt"
    names = names[:-1]
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
    client = step_up(as_user(world.coordinator))
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


def test_a_withdrawn_attestation_says_so_with_its_date(world, as_user, session):
    (attendance,) = attend(session, 1)
    attestation = actions.ensure_attestations([attendance])[attendance.pk]
    attendance.status = "absent"
    actions.do_update_attendance(attendance, acting_user=world.coordinator)
    attestation.refresh_from_db()
    assert attestation.withdrawn_at is not None
    page = Client().post(reverse("training:verify"), {"code": attestation.code}).content.decode()
    assert 'data-testid="verify-withdrawn"' in page
    day = timezone.localtime(attestation.withdrawn_at).strftime("%d/%m/%Y")
    assert f"Attestation retirée le {day}" in page
    assert "verify-invalid" not in page and "verify-valid" not in page
    # Present again: the same code is valid again.
    attendance.status = "present"
    actions.do_update_attendance(attendance, acting_user=world.coordinator)
    page = Client().post(reverse("training:verify"), {"code": attestation.code}).content.decode()
    assert 'data-testid="verify-valid"' in page


def test_a_corrected_sheet_withdraws_the_attestation(world, as_user, session):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from training.models import AttendanceImport

    client = as_user(world.coordinator)
    sheet = "Nom;Prénom;Courriel;Présent\r\nBarbier;Inès;ines@tarascon.test;{}\r\n"
    for status in ("oui", "non"):
        client.post(
            reverse("training:import_upload", args=[session.pk]),
            {"file": SimpleUploadedFile("liste.csv", sheet.format(status).encode())},
        )
        staged = AttendanceImport.objects.latest("pk")
        with TestCase.captureOnCommitCallbacks(execute=True):
            client.post(reverse("training:import_confirm", args=[staged.pk]))
        staged.refresh_from_db()
        if status == "oui":
            attendance = session.attendances.get()
            attestation = actions.ensure_attestations([attendance])[attendance.pk]
    assert staged.result["withdrawn_attestations"] == 1
    attestation.refresh_from_db()
    assert attestation.withdrawn_at is not None
    page = Client().post(reverse("training:verify"), {"code": attestation.code}).content.decode()
    assert "Attestation retirée le" in page


def test_verification_is_public_shows_only_the_attestation_and_is_recorded(world, session):
    (attendance,) = attend(session, 1, last_name="Barbier", first_name="Inès")
    attendance.remark = "arrivée en retard"
    attendance.save()
    attestation = actions.ensure_attestations([attendance])[attendance.pk]
    client = Client()  # nobody logged in
    assert client.get(reverse("training:verify")).status_code == 200
    page = client.post(reverse("training:verify"), {"code": attestation.code}).content.decode()
    assert 'data-testid="verify-valid"' in page and "Inès Barbier" in page
    # Not on the attestation: not on the page.
    for private in (attendance.trainee.email, "arrivée en retard", attendance.trainee.service):
        assert private not in page
    client.post(reverse("training:verify"), {"code": "AAAA-BBBB-CCCC"})
    entries = [
        e
        for e in AuditEntry.objects.filter(event=Event.ACCESS)
        if (e.additional_data or {}).get("what") == "attestation_verification"
    ]
    assert sorted(e.additional_data["result"] for e in entries) == ["unknown", "valid"]
    valid = next(e for e in entries if e.additional_data["result"] == "valid")
    assert valid.actor is None and valid.object_pk == str(attestation.pk)
    assert valid.commune_id == world.tarascon.pk  # the DPO of the department sees it
    assert valid.remote_addr == "127.0.0.1"
    assert attestation.code not in str([e.additional_data for e in entries])


def test_verification_is_rate_limited_per_address(world, session, settings):
    from django.core.cache import cache

    from training import views

    cache.clear()
    limit = views.VERIFY_LIMIT
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(limit):
        response = client.post(reverse("training:verify"), {"code": "AAAA-BBBB-CCCC"})
        assert response.status_code == 200
    for _ in range(3):
        response = client.post(reverse("training:verify"), {"code": "AAAA-BBBB-CCCC"})
        assert response.status_code == 429
        assert 'data-testid="verify-limited"' in response.content.decode()
        assert int(response["Retry-After"]) <= views.VERIFY_WINDOW
    # Refused before the lookup; the refusal recorded once, not per attempt.
    denials = [
        e
        for e in AuditEntry.objects.filter(event=Event.DENIED)
        if (e.additional_data or {}).get("reason") == "rate_limited"
    ]
    assert len(denials) == 1 and denials[0].remote_addr == "203.0.113.7"
    # Another address is not limited; reading the page is not counted.
    other = Client(REMOTE_ADDR="198.51.100.2")
    assert other.post(reverse("training:verify"), {"code": "AAAA-BBBB-CCCC"}).status_code == 200
    assert client.get(reverse("training:verify")).status_code == 200
    cache.clear()
