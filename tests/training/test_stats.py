from __future__ import annotations

import csv
import datetime
import io

import openpyxl
import pytest
from django.urls import reverse

from cmer.audit.models import AuditEntry, Event
from training.models import Audience
from training.stats import bar_chart, safe_cell

from .factories import (
    AttendanceFactory,
    ServiceHeadcountFactory,
    TraineeFactory,
    TrainingSessionFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(world):
    d2025 = datetime.date(2025, 5, 20)
    d2026 = datetime.date(2026, 2, 10)
    s1 = TrainingSessionFactory(commune=world.tarascon, created_by=world.coordinator, date=d2025)
    s2 = TrainingSessionFactory(commune=world.tarascon, created_by=world.coordinator, date=d2026)
    s3 = TrainingSessionFactory(
        commune=world.tarascon,
        created_by=world.coordinator,
        date=d2026,
        audience=Audience.SPORTS_ASSOCIATIONS,
    )
    miramas = TrainingSessionFactory(commune=world.miramas, created_by=world.coordinator)
    dept = world.department
    voirie = [TraineeFactory(department=dept, service="Voirie") for _ in range(3)]
    police = TraineeFactory(department=dept, service="Police municipale")
    club = TraineeFactory(department=dept, service="", organisation="=Club de judo")
    # 2025: two of Voirie; 2026: a third one of Voirie, one repeat, the police, one absent.
    AttendanceFactory(session=s1, trainee=voirie[0])
    AttendanceFactory(session=s1, trainee=voirie[1])
    AttendanceFactory(session=s2, trainee=voirie[1])
    AttendanceFactory(session=s2, trainee=voirie[2])
    AttendanceFactory(session=s2, trainee=police)
    AttendanceFactory(session=s2, trainee=TraineeFactory(department=dept), status="absent")
    AttendanceFactory(session=s3, trainee=club)
    AttendanceFactory(session=miramas, trainee=TraineeFactory(department=dept, service="Voirie"))
    ServiceHeadcountFactory(commune=world.tarascon, year=2025, service="voirie", headcount=10)
    ServiceHeadcountFactory(commune=world.tarascon, year=2026, service="VOIRIE", headcount=4)
    return locals()


def test_numbers_for_the_commune(world, as_user, data):
    response = as_user(world.referent).get(reverse("training:stats"))
    context = response.context
    stats = context["stats"]
    assert [(r["year"], r["sessions"], r["people"]) for r in stats.per_year] == [
        (2025, 1, 2),
        (2026, 2, 4),
    ]
    assert stats.total_people == 5
    groups = {(r["year"], r["audience"], r["group"]): r["people"] for r in stats.per_group}
    assert groups[(2026, "Agents municipaux", "Voirie")] == 2
    assert groups[(2026, "Agents municipaux", "Police municipale")] == 1
    assert groups[(2026, "Dirigeants sportifs et associatifs", "=Club de judo")] == 1
    coverage = {
        (r["year"], r["service"]): (r["trained"], r["headcount"], r["rate"]) for r in stats.coverage
    }
    # Cumulative: 2 trained by end of 2025 out of 10; 3 by end of 2026 out of 4.
    assert coverage[(2025, "voirie")] == (2, 10, 20)
    assert coverage[(2026, "VOIRIE")] == (3, 4, 75)


def test_year_filter(world, as_user, data):
    response = as_user(world.coordinator).get(reverse("training:stats"), {"year": 2025})
    stats = response.context["stats"]
    assert [r["year"] for r in stats.per_year] == [2025]
    assert [r["year"] for r in stats.coverage] == [2025]


def test_liaison_sees_the_department(world, as_user, data):
    stats = as_user(world.liaison).get(reverse("training:stats")).context["stats"]
    assert stats.total_people == 6  # Miramas' trainee too
    scoped = as_user(world.liaison).get(
        reverse("training:stats"), {"scope": f"c:{world.miramas.pk}"}
    )
    assert scoped.context["stats"].total_people == 1


def test_chart_is_inline_svg_without_style_or_script(world, as_user, data):
    page = as_user(world.coordinator).get(reverse("training:stats")).content.decode()
    start = page.index('<svg xmlns="http://www.w3.org/2000/svg" role="img"')
    svg = page[start : page.index("</svg>", start)]
    assert svg.count("<rect") == 2
    assert "style=" not in svg and "<script" not in svg
    assert "style=" not in page.split("<main", 1)[1]
    assert "INVALID_TEMPLATE_VARIABLE" not in page


def test_chart_geometry():
    chart = bar_chart([{"year": 2025, "people": 3}, {"year": 2026, "people": 8}])
    tall, short = chart["bars"][1], chart["bars"][0]
    assert tall["h"] > short["h"] > 0
    assert tall["y"] + tall["h"] == chart["base_y"]
    assert [t["label"] for t in chart["ticks"]] == ["0", "2", "4", "6", "8"]
    assert bar_chart([])["bars"] == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+33", "'+33"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Voirie", "Voirie"),
        (3, 3),
    ],
)
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


def test_csv_export_is_safe_and_recorded(world, as_user, data):
    response = as_user(world.coordinator).get(reverse("training:stats_export_csv"))
    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][0] == "Tableau"
    assert any(row[3] == "'=Club de judo" for row in rows)
    assert not any(cell.startswith("=") for row in rows for cell in row)
    entry = AuditEntry.objects.filter(event=Event.EXPORT).latest("timestamp")
    assert entry.actor == world.coordinator
    assert entry.additional_data["format"] == "csv"


def test_xlsx_export_has_no_formula(world, as_user, data):
    response = as_user(world.referent).get(reverse("training:stats_export_xlsx"), {"year": 2026})
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    cells = [c for row in workbook.active.iter_rows() for c in row]
    assert all(c.data_type != "f" for c in cells)
    assert "'=Club de judo" in [c.value for c in cells]
    assert AuditEntry.objects.filter(event=Event.EXPORT, actor=world.referent).exists()


def test_headcount_entry_and_correction(world, as_user):
    client = as_user(world.coordinator)
    url = reverse("training:headcounts")
    scope = f"c:{world.tarascon.pk}"
    client.post(url, {"scope": scope, "year": 2026, "service": "Voirie", "headcount": 12})
    client.post(url, {"scope": scope, "year": 2026, "service": "voirie ", "headcount": 15})
    from training.models import ServiceHeadcount

    (row,) = ServiceHeadcount.objects.all()
    assert (row.headcount, row.commune) == (15, world.tarascon)
    # Another commune is not a valid choice for this coordinator.
    response = client.post(
        url, {"scope": f"c:{world.miramas.pk}", "year": 2026, "service": "X", "headcount": 1}
    )
    assert response.status_code in {200, 404}
    assert ServiceHeadcount.objects.count() == 1
    client.post(reverse("training:headcount_delete", args=[row.pk]))
    assert not ServiceHeadcount.objects.exists()


def test_svg_numbers_are_not_localised(world, as_user, data):
    page = as_user(world.coordinator).get(reverse("training:stats")).content.decode()
    start = page.index('<svg xmlns="http://www.w3.org/2000/svg" role="img"')
    svg = page[start : page.index("</svg>", start)]
    import re

    assert not re.search(r'(x|y|y1|y2|width|height)="[0-9]+,[0-9]', svg)


def test_planned_sessions_are_not_counted_as_held(world, as_user, data):
    TrainingSessionFactory(
        commune=world.tarascon,
        created_by=world.coordinator,
        date=datetime.date(2026, 11, 30),
        status="planned",
    )
    stats = as_user(world.coordinator).get(reverse("training:stats")).context["stats"]
    # The coordinator's scope is Tarascon: two held sessions in 2026, one planned.
    assert [(r["year"], r["sessions"], r["planned"]) for r in stats.per_year] == [
        (2025, 1, 0),
        (2026, 2, 1),
    ]


def test_coverage_over_100_percent_is_warned(world, as_user, data):
    # 3 of Voirie trained by 2026; a headcount of 1 (out of date): no "300 %".
    ServiceHeadcountFactory(
        commune=world.tarascon, year=2026, service="Police municipale", headcount=1
    )
    from training.models import ServiceHeadcount

    ServiceHeadcount.objects.filter(service="VOIRIE").update(headcount=1)
    response = as_user(world.coordinator).get(reverse("training:stats"))
    stats = response.context["stats"]
    row = next(r for r in stats.coverage if r["service"] == "VOIRIE")
    assert (row["trained"], row["headcount"], row["over"], row["bar"]) == (3, 1, True, 100)
    page = response.content.decode()
    assert 'data-testid="coverage-over"' in page
    assert "300 %" not in page and "plus de 100 %" in page
    assert [r["service"] for r in stats.over_covered] == ["VOIRIE"]  # police: 1 of 1, not over
    export = as_user(world.coordinator).get(reverse("training:stats_export_csv")).content
    assert "effectif inférieur au nombre de personnes formées".encode() in export
