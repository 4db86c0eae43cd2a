"""The cell's annual activity report (PDF): counts only, suppression applied, scoped."""

from __future__ import annotations

import datetime
import io
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from cases.models import Referral
from meetings.models import Meeting
from tests.cases.helpers import file_referral
from tests.conventions.factories import ConventionFactory
from tests.training.factories import AttendanceFactory, TrainingSessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


def _text(response) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)


def test_report_counts_with_suppression(world, as_user):
    today = timezone.localdate()
    for _ in range(2):
        Meeting.objects.create(
            commune=world.tarascon,
            starts_at=timezone.now() - datetime.timedelta(hours=2),
            place="Mairie",
            chair=world.referent,
            created_by=world.referent,
            status=Meeting.Status.HELD,
        )
    session = TrainingSessionFactory(commune=world.tarascon, date=today)
    for _ in range(3):
        AttendanceFactory(session=session)
    ConventionFactory(
        commune=world.tarascon, signed=True, effective_date=today - datetime.timedelta(days=30)
    )
    for _ in range(6):
        file_referral(world.referent, world.tarascon)
    response = as_user(world.referent).get(
        reverse("statistics:report_pdf", args=[world.tarascon.pk]), {"annee": today.year}
    )
    assert response.status_code == 200
    text = _text(response)
    assert "Rapport annuel d'activité de la cellule" in text
    assert "Réunions de la cellule tenues 2" in text
    assert "Personnes formées (présentes à une session) < 5" in text  # 3 people
    assert "Signalements déposés 6" in text
    assert "Non clos 6" in text
    assert re.search(r"Conventions en vigueur au \d\d/\d\d/\d{4} 1\b", text), text
    assert "Dupont" not in text and "Jeanne" not in text
    assert Referral.objects.count() == 6


def test_liaison_reads_a_cell_of_the_department(world, as_user):
    client = as_user(world.liaison)
    url = reverse("statistics:report_pdf", args=[world.tarascon.pk])
    assert client.get(url).status_code == 200
    assert client.get(reverse("statistics:report_pdf", args=[world.nimes.pk])).status_code == 404


@pytest.mark.parametrize(
    "who",
    [
        "other_referent",
        "member",
        "agent",
        "coordinator",
        "dpo",
        "admin",
        "other_department_liaison",
    ],
)
def test_report_is_404_for_everyone_else(world, as_user, who):
    url = reverse("statistics:report_pdf", args=[world.tarascon.pk])
    assert as_user(getattr(world, who)).get(url).status_code == 404
    assert (
        as_user(world.referent).get(reverse("statistics:report_pdf", args=[999999])).status_code
        == 404
    )
