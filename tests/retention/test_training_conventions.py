"""Training records (5 years after the session) and convention documents (end + 10 years)."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from cmer.retention import runner
from conventions.models import Convention, Signatory, SignedDocument
from tests.conventions.factories import ConventionFactory, SignedDocumentFactory
from tests.training.factories import AttendanceFactory, TrainingSessionFactory
from training.models import (
    Attendance,
    AttendanceImport,
    Attestation,
    AttestationBundle,
    Trainee,
    TrainingSession,
)

from .helpers import at

pytestmark = pytest.mark.django_db


def run(when):
    with time_machine.travel(when, tick=False):
        return runner.apply().run


def test_training_records_go_five_years_after_the_session(world):
    old = TrainingSessionFactory(commune=world.tarascon, date=datetime.date(2026, 3, 10))
    recent = TrainingSessionFactory(commune=world.tarascon, date=datetime.date(2026, 9, 1))
    gone = AttendanceFactory(session=old)
    shared = AttendanceFactory(session=old)
    AttendanceFactory(session=recent, trainee=shared.trainee)
    Attestation.objects.create(attendance=gone)
    staged = AttendanceImport(
        session=old, sha256="0" * 64, size=3, file_format="csv", created_by=world.coordinator
    )
    staged.file.save("presences.csv", ContentFile(b"a;b"), save=False)
    staged.save()
    bundle = AttestationBundle(session=old, requested_by=world.coordinator)
    bundle.file.save("attestations.zip", ContentFile(b"PK"), save=False)
    bundle.save()
    names = [staged.file.name, bundle.file.name]
    assert all(default_storage.exists(name) for name in names)

    assert run(at(2031, 3, 9)).results["training"]["count"] == 0
    result = run(at(2031, 3, 10)).results["training"]
    assert result["items"] == [f"session-{old.pk}"] and result["files"] == 2
    # Attestation, 2 attendances, import, bundle, the trainee seen only there.
    assert result["records"] == 6
    assert not any(default_storage.exists(name) for name in names)
    assert not Attendance.objects.filter(session=old).exists()
    assert not Trainee.objects.filter(pk=gone.trainee_id).exists()
    assert Trainee.objects.filter(pk=shared.trainee_id).exists()
    assert Attendance.objects.filter(session=recent).count() == 1
    assert TrainingSession.objects.filter(pk=old.pk).exists()
    assert run(at(2031, 3, 11)).results["training"]["count"] == 0


def test_convention_documents_go_ten_years_after_the_end(world):
    expired = ConventionFactory(
        commune=world.tarascon,
        signed=True,
        effective_date=datetime.date(2016, 1, 1),
        end_date=datetime.date(2018, 12, 31),
    )
    document = SignedDocumentFactory(convention=expired)
    Signatory.objects.filter(convention=expired).update(signed_document=document)
    running = ConventionFactory(
        commune=world.tarascon,
        signed=True,
        effective_date=datetime.date(2016, 1, 1),
        end_date=datetime.date(2040, 12, 31),
    )
    SignedDocumentFactory(convention=running)
    name = document.file.name
    assert default_storage.exists(name)
    assert run(at(2028, 12, 30)).results["convention"]["count"] == 0
    result = run(at(2028, 12, 31)).results["convention"]
    assert result["items"] == [expired.reference] and result["files"] == 1
    assert not default_storage.exists(name)
    assert not SignedDocument.objects.filter(convention=expired).exists()
    assert SignedDocument.objects.filter(convention=running).count() == 1
    # The convention and who signed it stay; the PDF version they covered is gone.
    assert Convention.objects.filter(pk=expired.pk).exists()
    assert Signatory.objects.filter(convention=expired, signed_document__isnull=True).count() == 2


def test_a_terminated_convention_counts_from_its_termination(world):
    ended = ConventionFactory(
        commune=world.tarascon,
        signed=True,
        effective_date=datetime.date(2016, 1, 1),
        end_date=datetime.date(2030, 12, 31),
        status=Convention.Status.TERMINATED,
        terminated_on=datetime.date(2017, 6, 30),
        termination_reason="Fin du dispositif",
    )
    SignedDocumentFactory(convention=ended)
    assert run(at(2027, 6, 29)).results["convention"]["count"] == 0
    assert run(at(2027, 6, 30)).results["convention"]["items"] == [ended.reference]
