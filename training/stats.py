"""Training statistics: people trained per year, per service/organisation and audience, coverage
against headcounts; the SVG chart geometry; CSV/XLSX exports safe against formula injection.

Only counts leave this module: never a name.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from django.db.models import Count, Max, Min, Q, QuerySet
from django.db.models.functions import ExtractYear
from django.utils.translation import gettext as _

from .models import Attendance, Audience, ServiceHeadcount, TrainingSession
from .outputs import neutralise

UNKNOWN_GROUP = "—"


@dataclass
class Stats:
    per_year: list[dict[str, Any]] = field(default_factory=list)
    per_group: list[dict[str, Any]] = field(default_factory=list)
    coverage: list[dict[str, Any]] = field(default_factory=list)
    total_people: int = 0

    @property
    def over_covered(self) -> list[dict[str, Any]]:
        """Coverage rows with more people trained than the headcount: a headcount to check."""
        return [row for row in self.coverage if row["over"]]


def compute_stats(
    sessions: QuerySet[TrainingSession],
    headcounts: QuerySet[ServiceHeadcount],
    year: int | None = None,
) -> Stats:
    """Four queries whatever the volume: aggregates are computed by the database."""
    stats = Stats()
    present = Attendance.objects.filter(
        session__in=sessions, status=Attendance.Status.PRESENT
    ).annotate(year=ExtractYear("session__date"))
    in_year = present.filter(session__date__year=year) if year else present

    # A session counts as held once marked held; planned ones (future, or not marked yet) are
    # counted apart, never as held.
    held_filter = Q(status=TrainingSession.Status.HELD)
    by_year = (
        sessions.filter(**({"date__year": year} if year else {}))
        .annotate(y=ExtractYear("date"))
        .values("y")
        .annotate(held=Count("pk", filter=held_filter), planned=Count("pk", filter=~held_filter))
    )
    session_counts = {row["y"]: row["held"] for row in by_year}
    planned_counts = {row["y"]: row["planned"] for row in by_year}
    people: dict[int, Mapping[str, Any]] = {
        row["year"]: row
        for row in in_year.values("year").annotate(
            people=Count("trainee", distinct=True), attendances=Count("pk")
        )
    }
    for y in sorted(set(session_counts) | set(people)):
        stats.per_year.append(
            {
                "year": y,
                "sessions": session_counts.get(y, 0),
                "planned": planned_counts.get(y, 0),
                "people": people.get(y, {}).get("people", 0),
                "attendances": people.get(y, {}).get("attendances", 0),
            }
        )
    stats.total_people = in_year.values("trainee").distinct().count()

    audience_labels = dict(Audience.choices)
    for row in (
        in_year.values("year", "session__audience", "trainee__service_key")
        .annotate(
            people=Count("trainee", distinct=True),
            service=Max("trainee__service"),
            organisation=Max("trainee__organisation"),
        )
        .order_by("-year", "session__audience", "trainee__service_key")
    ):
        stats.per_group.append(
            {
                "year": row["year"],
                "audience": str(audience_labels.get(row["session__audience"], "")),
                "group": row["service"] or row["organisation"] or UNKNOWN_GROUP,
                "people": row["people"],
            }
        )

    stats.coverage = coverage_rows(present, headcounts, year)
    return stats


def coverage_rows(
    present: QuerySet[Attendance], headcounts: QuerySet[ServiceHeadcount], year: int | None
) -> list[dict[str, Any]]:
    """Per headcount row: distinct people of that service trained up to that year, in its scope.

    A commune's headcount counts its own sessions; a department's counts every session of the
    department (its communes' and its own).
    """
    rows = list(headcounts.select_related("commune", "department").order_by("-year", "service"))
    if year:
        rows = [r for r in rows if r.year == year]
    if not rows:
        return []
    first_years = present.values(
        "trainee_id",
        "trainee__service_key",
        "session__commune_id",
        "session__department_id",
        "session__commune__department_id",
    ).annotate(first=Min("year"))
    by_commune: dict[tuple[int, str], dict[int, int]] = {}
    by_department: dict[tuple[int, str], dict[int, int]] = {}
    for item in first_years:
        key_service = item["trainee__service_key"]
        trainee, first = item["trainee_id"], item["first"]
        if item["session__commune_id"] is not None:
            bucket = by_commune.setdefault((item["session__commune_id"], key_service), {})
            bucket[trainee] = min(first, bucket.get(trainee, first))
        department_id = item["session__department_id"] or item["session__commune__department_id"]
        bucket = by_department.setdefault((department_id, key_service), {})
        bucket[trainee] = min(first, bucket.get(trainee, first))
    result = []
    for row in rows:
        if row.commune_id is not None:
            trained_by = by_commune.get((row.commune_id, row.service_key), {})
            scope = row.commune.name
        else:
            # one_scope_constraint: a headcount without a commune has a department.
            department_id = cast(int, row.department_id)
            trained_by = by_department.get((department_id, row.service_key), {})
            scope = row.department.name
        trained = sum(1 for first in trained_by.values() if first <= row.year)
        rate = round(100 * trained / row.headcount) if row.headcount else 0
        result.append(
            {
                "pk": row.pk,
                "year": row.year,
                "scope": scope,
                "service": row.service,
                "headcount": row.headcount,
                "trained": trained,
                "rate": rate,
                "bar": min(rate, 100),
                # More trained than employed: the headcount is out of date or the service is
                # spelled differently in the sheets. Shown as a warning, never as "3,464 %".
                "over": trained > row.headcount,
            }
        )
    return result


# Chart ---------------------------------------------------------------------------------------


def bar_chart(per_year: list[dict[str, Any]], *, width: int = 640, height: int = 260) -> dict:
    """Geometry of a bar chart of people trained per year, drawn as SVG attributes in the
    template (the CSP forbids inline styles and scripts)."""
    left, right, top, bottom = 48, 16, 16, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [row["people"] for row in per_year]
    peak = max(values, default=0)
    scale_max = _nice_ceiling(peak)
    bars = []
    count = len(per_year)
    slot = plot_w / count if count else plot_w
    bar_w = min(60.0, slot * 0.6)
    for index, row in enumerate(per_year):
        bar_h = 0.0 if scale_max == 0 else plot_h * row["people"] / scale_max
        x = left + slot * index + (slot - bar_w) / 2
        y = top + plot_h - bar_h
        bars.append(
            {
                "x": round(x, 1),
                "y": round(y, 1),
                "w": round(bar_w, 1),
                "h": round(bar_h, 1),
                "label_x": round(x + bar_w / 2, 1),
                "value_y": round(y - 4, 1),
                "year": row["year"],
                "value": row["people"],
            }
        )
    ticks = []
    for step in range(5):
        value = scale_max * step / 4
        ticks.append({"y": round(top + plot_h - plot_h * step / 4, 1), "label": f"{value:g}"})
    return {
        "width": width,
        "height": height,
        "left": left,
        "right_x": width - right,
        "base_y": top + plot_h,
        "axis_label_y": top + plot_h + 24,
        "tick_x": left - 6,
        "bars": bars,
        "ticks": ticks if peak else [],
    }


def _nice_ceiling(value: int) -> int:
    if value <= 0:
        return 0
    # Smallest of 4, 8, 20 × 10^k that is ≥ value: four whole-number ticks.
    magnitude = 1
    while True:
        for base in (4, 8, 20):
            candidate = base * magnitude
            if candidate >= value:
                return candidate
        magnitude *= 10


# Exports -------------------------------------------------------------------------------------

# One neutralisation for every training output (training.outputs).
safe_cell = neutralise


def export_rows(stats: Stats) -> tuple[list[str], list[list[Any]]]:
    header = [
        _("Tableau"),
        _("Année"),
        _("Public ou périmètre"),
        _("Service ou organisme"),
        _("Personnes formées"),
        _("Effectif"),
        _("Couverture (%)"),
        _("À vérifier"),
    ]
    rows: list[list[Any]] = []
    for row in stats.per_year:
        rows.append([_("par année"), row["year"], "", "", row["people"], "", "", ""])
    for row in stats.per_group:
        rows.append(
            [
                _("par service"),
                row["year"],
                row["audience"],
                row["group"],
                row["people"],
                "",
                "",
                "",
            ]
        )
    for row in stats.coverage:
        rows.append(
            [
                _("couverture"),
                row["year"],
                row["scope"],
                row["service"],
                row["trained"],
                row["headcount"],
                row["rate"],
                _("effectif inférieur au nombre de personnes formées") if row["over"] else "",
            ]
        )
    return header, [[safe_cell(v) for v in r] for r in rows]


def export_csv(stats: Stats) -> bytes:
    header, rows = export_rows(stats)
    buffer = io.StringIO()
    # Semicolons and a BOM: what French Excel opens correctly with a double click.
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    writer.writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def export_xlsx(stats: Stats) -> bytes:
    from openpyxl import Workbook

    header, rows = export_rows(stats)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Statistiques"))
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
