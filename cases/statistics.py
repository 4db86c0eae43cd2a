"""Referral statistics for the referent (their commune) and the liaison (their department).

Counts only, by month of filing and one breakdown (status, urgency, age bracket, category,
outcome, commune), computed in the database from the fields that survive anonymisation
(``STATISTICS_FIELDS``): nothing is decrypted, no model instance is loaded. Every table goes
through ``cmer.stats`` (no count 1–4 shown, complementary suppression); the breakdowns of one
scope and year share their month totals and are protected as one system (``protect_linked``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, QuerySet
from django.db.models.functions import ExtractMonth
from django.http import Http404
from django.utils.dates import MONTHS
from django.utils.translation import gettext_lazy as _

from cmer import permissions, stats
from cmer.accounts.models import Commune, Department, Role

from .models import Referral, WeakSignalCategory

# The only columns these statistics read: all kept by anonymisation (issue 15). A test checks
# that none is encrypted or a blind index.
STATISTICS_FIELDS = (
    "submitted_at",
    "status",
    "urgency",
    "age_bracket",
    "close_reason",
    "commune",
    "categories",
)

DIMENSIONS = {
    "statut": _("Statut"),
    "urgence": _("Urgence"),
    "age": _("Tranche d'âge au dépôt"),
    "categorie": _("Signes observés"),
    "issue": _("Issue"),
    "commune": _("Commune"),
}
# Breakdowns whose counts add up to the referrals of the month (the category one counts
# mentions: a referral may tick several signs).
ADDITIVE = ("statut", "urgence", "age", "issue", "commune")
OPEN = "open"


@dataclass
class Scope:
    """Whose referrals: one commune (referent) or a department's communes (liaison)."""

    kind: str  # "commune" | "departement"
    pk: int
    name: str
    commune_ids: list[int]
    communes: list[Commune]

    @property
    def dimensions(self) -> list[str]:
        return [d for d in DIMENSIONS if d != "commune" or self.kind == "departement"]


def commune_scope_for(user: Any, pk: int) -> Scope:
    """The referent's own commune, else 404 (another commune, a guessed id, any other role)."""
    ids = permissions.commune_ids_where(user, Role.REFERENT)
    if pk not in ids:
        raise Http404
    commune = Commune.objects.get(pk=pk)
    return Scope("commune", pk, commune.name, [pk], [commune])


def department_scope_for(user: Any, pk: int) -> Scope:
    """A department where ``user`` is the prefecture's liaison, else 404."""
    roles = permissions.role_map(user).by_department.get(pk, set())
    if Role.LIAISON not in roles:
        raise Http404
    department = Department.objects.get(pk=pk)
    communes = list(Commune.objects.filter(department=department).order_by("name"))
    return Scope("departement", pk, department.name, [c.pk for c in communes], communes)


def default_scope_url_args(user: Any, commune: Commune | None) -> tuple[str, int] | None:
    """Where /statistiques/ leads: the current commune for a referent, else the liaison's
    department."""
    referent_ids = permissions.commune_ids_where(user, Role.REFERENT)
    if commune is not None and commune.pk in referent_ids:
        return "commune", commune.pk
    if referent_ids:
        return "commune", referent_ids[0]
    for department_id, roles in sorted(permissions.role_map(user).by_department.items()):
        if Role.LIAISON in roles:
            return "departement", department_id
    return None


def filed_referrals(scope: Scope, year: int) -> QuerySet[Referral]:
    return Referral.objects.filter(
        commune_id__in=scope.commune_ids, submitted_at__year=year, submitted_at__isnull=False
    ).exclude(status=Referral.Status.DRAFT)


def _columns(scope: Scope, dimension: str) -> list[tuple[Any, str]]:
    if dimension == "statut":
        return [(v, str(label)) for v, label in Referral.Status.choices if v != "draft"]
    if dimension == "urgence":
        return [(v, str(label)) for v, label in Referral.Urgency.choices]
    if dimension == "age":
        return [(v, str(label)) for v, label in Referral.AgeBracket.choices]
    if dimension == "issue":
        return [
            (OPEN, str(_("Non clos"))),
            *[(v, str(lb)) for v, lb in Referral.CloseReason.choices],
        ]
    if dimension == "commune":
        return [(c.pk, c.name) for c in scope.communes]
    raise ValueError(dimension)


def _key(row: Mapping[str, Any], dimension: str) -> Any:
    if dimension == "statut":
        return row["status"]
    if dimension == "urgence":
        return row["urgency"]
    if dimension == "age":
        return row["age_bracket"]
    if dimension == "issue":
        return row["close_reason"] or OPEN
    return row["commune_id"]


@dataclass
class StatisticsTable:
    dimension: str
    year: int
    columns: list[str]
    months: list[str]
    table: stats.ProtectedTable

    @property
    def total_label(self) -> str:
        if self.dimension == "categorie":
            return str(_("Total des mentions"))
        return str(_("Total"))

    def body(self) -> list[dict[str, Any]]:
        return [
            {
                "month": month,
                "cells": [self.table.cell(r, c) for c in range(len(self.columns))],
                "total": self.table.row_total(r),
            }
            for r, month in enumerate(self.months)
        ]

    def totals(self) -> list[int | str]:
        return [self.table.column_total(c) for c in range(len(self.columns))]

    def grand_total(self) -> int | str:
        return self.table.grand_total()


def _grid(columns: list[tuple[Any, str]], counts: dict[tuple[int, Any], int]) -> list[list[int]]:
    return [[counts.get((month, key), 0) for key, _label in columns] for month in range(1, 13)]


def compute(scope: Scope, year: int, dimension: str) -> StatisticsTable:
    """One breakdown by month of ``year``, suppressed. Two queries at most (one GROUP BY over
    the referrals; one more over their signs for the category breakdown)."""
    if dimension not in scope.dimensions:
        raise Http404
    referrals = filed_referrals(scope, year)
    months = [str(MONTHS[m]) for m in range(1, 13)]
    if dimension == "categorie":
        columns = [
            (c.pk, c.label) for c in WeakSignalCategory.objects.order_by("position", "label")
        ]
        through = Referral.categories.through.objects.filter(referral__in=referrals)
        counts: dict[tuple[int, Any], int] = {
            (row["month"], row["weaksignalcategory_id"]): row["n"]
            # django-stubs cannot follow annotate() on the auto-created through model: it
            # checks values("month") against that model's fields.
            for row in through.annotate(  # type: ignore[misc]
                month=ExtractMonth("referral__submitted_at")
            )
            .values("month", "weaksignalcategory_id")
            .annotate(n=Count("pk"))
            .order_by()
        }
        table = stats.protect(_grid(columns, counts), columns=len(columns))
        return StatisticsTable(dimension, year, [lb for _k, lb in columns], months, table)
    rows = list(
        referrals.annotate(month=ExtractMonth("submitted_at"))
        .values("month", "status", "urgency", "age_bracket", "close_reason", "commune_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    # Every additive breakdown of this scope and year is protected as one system: their month
    # totals and grand total are the same figures, and a reader may open every breakdown
    # (``cmer.stats.protect_linked``; the page, its CSV and the activity report show the same).
    additive = [d for d in ADDITIVE if d in scope.dimensions]
    grids = []
    for name in additive:
        columns = _columns(scope, name)
        counts = {}
        for row in rows:
            key = (row["month"], _key(row, name))
            counts[key] = counts.get(key, 0) + row["n"]
        grids.append((name, columns, _grid(columns, counts)))
    protected = stats.protect_linked(
        [grid for _n, _c, grid in grids], columns=[len(c) for _n, c, _g in grids]
    )
    for (name, columns, _counts), table in zip(grids, protected, strict=True):
        if name == dimension:
            return StatisticsTable(dimension, year, [lb for _k, lb in columns], months, table)
    raise Http404


def export_csv(result: StatisticsTable, scope: Scope) -> bytes:
    """The table as published on the page (same suppression), semicolons and a BOM for Excel."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([f"{scope.name} — {result.year} — {DIMENSIONS[result.dimension]}"])
    writer.writerow([str(_("Mois")), *result.columns, result.total_label])
    for row in result.body():
        writer.writerow([row["month"], *row["cells"], row["total"]])
    writer.writerow([result.total_label, *result.totals(), result.grand_total()])
    writer.writerow([str(stats.LEGEND)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


# Annual activity report of a cell ------------------------------------------------------------


def report_scope_for(user: Any, pk: int) -> Scope:
    """A cell's report: its referent, or the liaison of its department; else 404."""
    if pk in permissions.commune_ids_where(user, Role.REFERENT, Role.LIAISON):
        commune = Commune.objects.get(pk=pk)
        return Scope("commune", pk, commune.name, [pk], [commune])
    raise Http404


@dataclass
class ActivityReport:
    scope: Scope
    year: int
    meetings_held: int
    outcomes: list[tuple[str, int | str]]
    age_brackets: list[tuple[str, int | str]]
    referrals: int | str
    people_trained: int | str
    conventions_in_force: int
    on: Any


def activity_report(scope: Scope, year: int) -> ActivityReport:
    """The year's activity of one cell, counts only. Referrals by outcome and by age bracket are the
    year totals of the statistics page's outcome and age tables (the same suppression, so the report
    and the page never give each other away); people trained is one count, "< 5" from 1 to 4.
    Meetings and conventions are not people: shown as they are."""
    import datetime

    from django.utils import timezone

    from conventions.models import Convention
    from meetings.models import Meeting
    from training.models import Attendance

    outcome = compute(scope, year, "issue")
    # Same protection as the outcome table: both are year totals of tables protected together.
    ages = compute(scope, year, "age")
    held = Meeting.objects.filter(
        commune_id=scope.pk, status=Meeting.Status.HELD, starts_at__year=year
    ).count()
    trained = (
        Attendance.objects.filter(
            session__commune_id=scope.pk,
            session__date__year=year,
            status=Attendance.Status.PRESENT,
        )
        .values("trainee")
        .distinct()
        .count()
    )
    today = timezone.localdate()
    on = min(today, datetime.date(year, 12, 31))
    in_force = sum(
        1
        for convention in Convention.objects.with_sides().filter(commune_id=scope.pk)
        if convention.is_in_force(on)
    )
    return ActivityReport(
        scope=scope,
        year=year,
        meetings_held=held,
        outcomes=list(zip(outcome.columns, outcome.totals(), strict=True)),
        age_brackets=list(zip(ages.columns, ages.totals(), strict=True)),
        referrals=outcome.grand_total(),
        people_trained=stats.SMALL_LABEL if 1 <= trained <= stats.PRIMARY_MAX else trained,
        conventions_in_force=in_force,
        on=on,
    )
