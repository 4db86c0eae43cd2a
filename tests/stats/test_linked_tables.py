"""Statistics across pages: the breakdowns of one scope and year (by status, urgency, age,
outcome…) are offered to the same reader, and each breaks down the same month totals. Read
together they are one system of equations: no hidden count may be recoverable from all of them.

The proof is independent of ``cmer.stats``' reasoning: every integer solution of the published
figures of *all* the tables at once is enumerated (each table's rows and columns sum to their
totals; the month totals and the grand total are one unknown shared by every table; "< 5" is 0
to 4, "s" is 5 or more), and every hidden figure must take at least two values.
"""

from __future__ import annotations

import random

import pytest
import time_machine

from cmer import stats
from cmer.stats import Hidden, protect, protect_linked
from tests.brute_force import augmented_lines, domain, values_taken

Key = tuple


def _key(t: int, r: int, c: int, table: stats.ProtectedTable) -> Key:
    # The totals column (month totals and grand total) is the same figure in every table.
    return ("margin", r) if c == table.columns else (t, r, c)


def joint_solutions(tables: list[stats.ProtectedTable]) -> dict[Key, set[int]]:
    """Every value each hidden figure takes over the integer solutions of all the tables'
    published figures together (tests/brute_force.py; stops once each has shown two)."""
    known: dict[Key, int] = {}
    kinds: dict[Key, Hidden] = {}
    lines: list[list[Key]] = []
    for t, table in enumerate(tables):
        for r in range(table.rows + 1):
            for c in range(table.columns + 1):
                key = _key(t, r, c, table)
                if (r, c) in table.hidden:
                    kinds[key] = table.hidden[(r, c)]
                else:
                    known[key] = table.grid[r][c]
        lines += augmented_lines(table, lambda r, c, t=t, table=table: _key(t, r, c, table))
    # A figure shown on one table and hidden on another is known.
    hidden = sorted((key for key in kinds if key not in known), key=str)
    grand = tables[0].grid[tables[0].rows][tables[0].columns]
    domains = {key: domain(kinds[key], grand) for key in hidden}
    return values_taken(lines, known, domains)


def recoverable(tables: list[stats.ProtectedTable]) -> dict[Key, set[int]]:
    return {key: values for key, values in joint_solutions(tables).items() if len(values) < 2}


def assert_linked_safe(counts: list[list[list[int]]], tables: list[stats.ProtectedTable]):
    margins = {
        frozenset((r, kind) for (r, c), kind in t.hidden.items() if c == t.columns) for t in tables
    }
    assert len(margins) == 1, "the month totals are hidden alike on every table"
    for grid, table in zip(counts, tables, strict=True):
        truth = stats.augment(grid)
        for r, line in enumerate(table.published_rows()):
            for c, shown in enumerate(line):
                if isinstance(shown, int):
                    assert shown == truth[r][c] and not 1 <= shown <= stats.PRIMARY_MAX
    assert recoverable(tables) == {}, counts


def _hide_alike(counts: list[list[list[int]]]) -> list[stats.ProtectedTable]:
    """What the pages did before: each table protected alone, a month total hidden on one
    hidden on all."""
    rows: set[int] = set()
    grand = False
    while True:
        tables = [protect(t, hide_row_totals=rows, hide_grand_total=grand) for t in counts]
        more = rows.union(*(t.hidden_row_totals() for t in tables))
        more_grand = grand or any((t.rows, t.columns) in t.hidden for t in tables)
        if (more, more_grand) == (rows, grand):
            return tables
        rows, grand = more, more_grand


def test_hiding_shared_totals_alike_was_not_enough():
    """Two breakdowns of the same two months. Alone, each is safe; together the first month's
    total is 5–9 on one and 9–13 on the other: it is 9, and the "< 5" beside the 5 is a 4."""
    counts = [[[4, 5], [1, 0]], [[0, 9], [1, 0]]]
    before = _hide_alike(counts)
    for grid, table in zip(counts, before, strict=True):
        assert recoverable([table]) == {}, grid
    leaked = recoverable(before)
    assert leaked[(0, 0, 0)] == {4} and leaked[("margin", 0)] == {9}
    assert_linked_safe(counts, protect_linked(counts))


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    cuts = sorted(rng.randint(0, total) for _p in range(parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


@pytest.mark.parametrize(("tables", "rows"), [(2, 2), (3, 2)])
def test_linked_tables_brute_force(tables, rows):
    rng = random.Random(f"cmer-linked-{tables}-{rows}")
    for _ in range(40):
        totals = [rng.choice((0, 1, 2, 3, 4, 5, 6, 7, 9, 11)) for _r in range(rows)]
        counts = [
            [_split(rng, total, width) for total in totals]
            for width in (rng.randint(2, 3) for _t in range(tables))
        ]
        assert_linked_safe(counts, protect_linked(counts))


def test_nothing_hidden_without_small_counts():
    counts = [[[5, 6], [7, 0]], [[11, 0], [0, 7]]]
    assert all(t.hidden == {} for t in protect_linked(counts))


@pytest.mark.django_db
def test_every_breakdown_the_referent_can_open_is_protected_as_one_system(
    world, settings, tmp_path
):
    """The referent's page offers the year by status, urgency, age and outcome (the CSV and the
    activity report publish the same figures): the page's tables are ``protect_linked``'s, the
    system brute-forced above, with the month totals hidden alike."""
    from cases import statistics
    from cases.models import Referral
    from tests.cases.helpers import file_referral
    from tests.retention.helpers import at

    settings.PRIVATE_STORAGE_ROOT = tmp_path
    for month, overrides in [(3, {"urgency": "high"}), *[(3, {})] * 5, (5, {"urgency": "high"})]:
        with time_machine.travel(at(2025, month, 10), tick=False):
            file_referral(world.agent, world.tarascon, **overrides)
    first = Referral.objects.order_by("pk").values("pk")[:2]
    Referral.objects.filter(pk__in=first).update(status=Referral.Status.IN_ASSESSMENT)
    scope = statistics.commune_scope_for(world.referent, world.tarascon.pk)
    additive = [d for d in statistics.ADDITIVE if d in scope.dimensions]
    published = [statistics.compute(scope, 2025, d).table for d in additive]
    grids = [[line[: t.columns] for line in t.grid[: t.rows]] for t in published]
    expected = protect_linked(grids, columns=[t.columns for t in published])
    assert [t.hidden for t in published] == [t.hidden for t in expected]
    margins = {
        frozenset((r, k) for (r, c), k in t.hidden.items() if c == t.columns) for t in published
    }
    assert len(margins) == 1 and next(iter(margins))  # May (1) is hidden, alike everywhere
    for table in published:
        assert table.shown(4, table.columns) == stats.SMALL_LABEL
