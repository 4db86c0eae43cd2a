"""Referral statistics by age bracket on the filing day (not minor/adult): the page, the CSV and
the annual report, with the same suppression (no count 1–4 shown, none recoverable)."""

from __future__ import annotations

import datetime
import io

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from cases import statistics
from cases.models import Referral
from tests.cases.helpers import file_referral
from tests.core.test_suppression import assert_protected

pytestmark = pytest.mark.django_db

YEAR = timezone.localdate().year
BRACKETS = [str(label) for _value, label in Referral.AgeBracket.choices]


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


def _file(world, month: int, count: int, **overrides) -> None:
    moment = datetime.datetime(YEAR, month, 3, 10, 0, tzinfo=datetime.UTC)
    with time_machine.travel(moment, tick=False):
        for _ in range(count):
            file_referral(world.referent, world.tarascon, **overrides)


def _filed(world) -> None:
    born = datetime.date(YEAR - 17, 6, 1)  # 17 in January and February of YEAR
    _file(world, 1, 6, birth_date=born)
    _file(world, 2, 2, birth_date=None, approximate_age=12)
    _file(world, 2, 8, birth_date=None, approximate_age=30)
    _file(world, 2, 5, birth_date=None, approximate_age=None, age_group="minor")


def test_the_page_counts_by_bracket_with_suppression(world, as_user):
    _filed(world)
    url = reverse("statistics:page", args=["commune", world.tarascon.pk])
    response = as_user(world.referent).get(url, {"annee": YEAR, "par": "age"})
    assert response.status_code == 200
    result = response.context["result"]
    assert result.columns == BRACKETS
    assert "Mineur ou majeur" not in response.content.decode()
    column = {label: i for i, label in enumerate(result.columns)}
    # Counted by bracket (the grid before publication)…
    assert result.table.grid[0][column["16 à 17 ans"]] == 6
    assert result.table.grid[1][column["Moins de 13 ans"]] == 2
    assert result.table.grid[1][column["25 ans et plus"]] == 8
    assert result.table.grid[1][column["Mineur, âge non précisé"]] == 5
    # …and published suppressed.
    assert result.table.cell(1, column["Moins de 13 ans"]) == "< 5"
    # The 2 cannot be worked out from February's total or the column's: checked by enumerating
    # every solution of the published figures.
    counts = [[0] * len(BRACKETS) for _ in range(12)]
    counts[0][column["16 à 17 ans"]] = 6
    counts[1][column["Moins de 13 ans"]] = 2
    counts[1][column["25 ans et plus"]] = 8
    counts[1][column["Mineur, âge non précisé"]] = 5
    assert_protected(counts, result.table)
    published = [v for line in result.table.published_rows() for v in line]
    assert not any(isinstance(v, int) and 1 <= v <= 4 for v in published)


def test_the_statistics_read_the_bracket_not_the_minor_flag():
    assert "age_bracket" in statistics.STATISTICS_FIELDS
    assert "age_group" not in statistics.STATISTICS_FIELDS


def test_the_csv_by_bracket_applies_the_same_suppression(world, as_user):
    _filed(world)
    client = as_user(world.referent)
    url = reverse("statistics:export_csv", args=["commune", world.tarascon.pk])
    response = client.get(url, {"annee": YEAR, "par": "age"})
    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    assert "Tranche d'âge au dépôt" in text.splitlines()[0]
    assert ";".join(["Mois", *BRACKETS, "Total"]) in text
    page = client.get(
        reverse("statistics:page", args=["commune", world.tarascon.pk]),
        {"annee": YEAR, "par": "age"},
    ).context["result"]
    for row in page.body():
        line = ";".join(str(v) for v in [row["month"], *row["cells"], row["total"]])
        assert line in text
    assert ";2;" not in text and ";2\r" not in text


def test_the_annual_report_counts_by_bracket(world, as_user):
    _filed(world)
    response = as_user(world.referent).get(
        reverse("statistics:report_pdf", args=[world.tarascon.pk]), {"annee": YEAR}
    )
    assert response.status_code == 200
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    assert "Signalements par tranche d'âge au dépôt" in text
    assert "Moins de 13 ans < 5" in text
    assert "Moins de 13 ans 2" not in text
    scope = statistics.commune_scope_for(world.referent, world.tarascon.pk)
    ages = statistics.compute(scope, YEAR, "age")
    for label, value in zip(ages.columns, ages.totals(), strict=True):
        assert f"{label} {value}" in text
