"""Attendance workbooks are read with caps and a time budget (issue 17, point 2).

The issue's workbook: 186 KB, valid, whose sheet holds 180 MiB of XML comment — it kept a
request busy for 53 s. Built here at run time, never committed.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests import bombs
from training.models import AttendanceImport
from training.parsing import FileRefused, parse_attendance

from .factories import TrainingSessionFactory

MAX_SECONDS = 10
MAX_PEAK = 50 * bombs.MiB


@pytest.fixture(scope="module")
def comment_bomb() -> bytes:
    return bombs.xlsx_with_comment(180 * bombs.MiB)


def refusal(data: bytes) -> str:
    try:
        parse_attendance(data, "presences.xlsx")
    except FileRefused as refused:
        return str(refused)
    return "accepted"


def test_the_comment_bomb_is_refused_from_its_directory(comment_bomb):
    assert len(comment_bomb) < 1024 * 1024
    message, cost = bombs.measure(lambda: refusal(comment_bomb))
    assert "dépasse 16 Mo une fois décompressé" in message
    assert cost.seconds < MAX_SECONDS, cost
    assert cost.peak_bytes < MAX_PEAK, cost


def test_past_the_caps_the_parse_budget_stops_the_reader(comment_bomb, settings):
    """Caps raised so that only the time budget is left: the reader stops at it."""
    settings.UPLOAD_ARCHIVE_MAX_MEMBER_BYTES = 400 * bombs.MiB
    settings.UPLOAD_ARCHIVE_MAX_TOTAL_BYTES = 800 * bombs.MiB
    settings.UPLOAD_ARCHIVE_MAX_RATIO = 100_000
    settings.UPLOAD_PARSE_SECONDS = 2
    message, cost = bombs.measure(lambda: refusal(comment_bomb))
    assert "Fichier trop long à lire (plus de 2 secondes)" in message
    assert cost.seconds < MAX_SECONDS, cost
    assert cost.peak_bytes < MAX_PEAK, cost


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: bombs.zip_bomb(name="xl/worksheets/sheet2.xml"), "dépasse 16 Mo"),
        (lambda: bombs.zip_bomb(8 * bombs.MiB, name="xl/media/a.bin"), "plus de 100 fois"),
        (lambda: bombs.many_members(5000), "plus de 1000 éléments"),
    ],
    ids=["member-200MiB", "ratio", "members"],
)
def test_other_bombs_are_refused_fast(build, message):
    data = build()
    result, cost = bombs.measure(lambda: refusal(data))
    assert message in result
    assert cost.seconds < MAX_SECONDS, cost
    assert cost.peak_bytes < MAX_PEAK, cost


@pytest.mark.django_db
def test_the_bomb_uploaded_is_refused_and_nothing_is_kept(
    comment_bomb, world, as_user, _private_storage
):
    session = TrainingSessionFactory(commune=world.tarascon, created_by=world.coordinator)
    client = as_user(world.coordinator)
    response, cost = bombs.measure(
        lambda: client.post(
            reverse("training:import_upload", args=[session.pk]),
            {"file": SimpleUploadedFile("presences.xlsx", comment_bomb)},
        )
    )
    assert response.status_code == 200
    assert "une fois décompressé" in response.content.decode()
    assert cost.seconds < MAX_SECONDS, cost
    assert cost.peak_bytes < MAX_PEAK, cost
    assert not AttendanceImport.objects.exists()
    assert not _private_storage.exists() or not any(_private_storage.rglob("*.xlsx"))


def test_a_large_ordinary_workbook_still_parses_within_the_budget():
    rows = [[f"Nom{i}", f"Prénom{i}", "oui"] for i in range(5000)]
    data = bombs.xlsx_with_comment(10, rows=rows)
    result, cost = bombs.measure(lambda: parse_attendance(data, "presences.xlsx"))
    assert len(result.rows) == 5000
    assert cost.seconds < 5, cost
