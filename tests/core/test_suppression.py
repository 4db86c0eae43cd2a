"""cmer.stats: no count 1–4 shown, no hidden count recoverable from the figures of its table.

The proof is independent of the module's own reasoning (cycles in a graph): for small tables,
every integer solution of the published constraints is enumerated — each row of inner cells sums
to its row total, each column to its column total, the totals to the grand total — with what a
reader knows of each hidden cell ("< 5": 0 to 4; "s": 5 or more, up to a cap above the grand
total, which only narrows the search). Every hidden cell must take at least two values over the
solutions.
"""

from __future__ import annotations

import itertools
import random

import pytest

from cmer import stats
from cmer.stats import COMPLEMENT_LABEL, SMALL_LABEL, Hidden, protect, protect_linked
from tests.brute_force import augmented_lines, domain, values_taken


def solutions_per_cell(table: stats.ProtectedTable) -> dict[tuple[int, int], set[int]]:
    """Every value each hidden cell takes over all integer solutions of the published figures
    (tests/brute_force.py; stops as soon as every hidden cell has shown two values)."""
    grand = table.grid[table.rows][table.columns]
    known = {
        (r, c): count
        for r, line in enumerate(table.grid)
        for c, count in enumerate(line)
        if (r, c) not in table.hidden
    }
    domains = {cell: domain(table.hidden[cell], grand) for cell in sorted(table.hidden)}
    return values_taken(augmented_lines(table, lambda r, c: (r, c)), known, domains)


def test_the_solver_finds_a_recoverable_cell_and_a_safe_rectangle():
    """The proof's own check: hiding the 3 alone gives it back by difference (13 − 10), hiding
    its rectangle leaves every hidden cell two values or more."""
    grid = stats.augment([[3, 10], [6, 8]])
    alone = stats.ProtectedTable(grid=grid, hidden={(0, 0): Hidden.PRIMARY})
    assert solutions_per_cell(alone) == {(0, 0): {3}}
    pair = stats.ProtectedTable(
        grid=grid, hidden={(0, 0): Hidden.PRIMARY, (0, 1): Hidden.COMPLEMENT}
    )
    assert solutions_per_cell(pair) == {(0, 0): {3}, (0, 1): {10}}  # by the column totals
    rectangle = stats.ProtectedTable(
        grid=grid,
        hidden={(0, 0): Hidden.PRIMARY}
        | dict.fromkeys([(0, 1), (1, 0), (1, 1)], Hidden.COMPLEMENT),
    )
    seen = solutions_per_cell(rectangle)
    assert set(seen) == set(rectangle.hidden)
    assert all(len(values) >= 2 for values in seen.values())


def assert_protected(counts: list[list[int]], table: stats.ProtectedTable) -> None:
    grid = stats.augment(counts)
    for r, line in enumerate(table.published_rows()):
        for c, shown in enumerate(line):
            true = grid[r][c]
            if shown == SMALL_LABEL:
                assert 0 <= true <= 4
                assert (true == 0) == (table.hidden[(r, c)] is Hidden.ZERO)
            elif shown == COMPLEMENT_LABEL:
                assert true >= 5
            else:
                assert shown == true, (counts, r, c)
                assert not 1 <= shown <= 4, (counts, r, c)
    seen = solutions_per_cell(table)
    for cell, values in seen.items():
        assert grid[cell[0]][cell[1]] in values or len(values) >= 2, (counts, cell)
        assert len(values) >= 2, f"{counts}: cell {cell} recoverable ({values})"


def test_a_row_with_one_small_count_hides_a_second_cell():
    # Naive suppression of the 3 alone: 13 − 10 gives it back.
    table = protect([[3, 10], [6, 8]])
    assert table.cell(0, 0) == SMALL_LABEL
    assert sum(1 for (r, _c) in table.hidden if r == 0) >= 2
    assert_protected([[3, 10], [6, 8]], table)


def test_nothing_hidden_without_small_counts():
    table = protect([[0, 12], [7, 5]])
    assert table.hidden == {}
    assert table.published_rows() == [[0, 12, 12], [7, 5, 12], [7, 17, 24]]


def test_small_totals_are_hidden_too():
    table = protect([[2, 0], [0, 9]])
    assert table.row_total(0) == SMALL_LABEL
    assert table.column_total(0) == SMALL_LABEL
    assert_protected([[2, 0], [0, 9]], table)


def test_bounds_count_not_only_equations():
    # Two "< 5" and two "s" on a rectangle: equations alone leave one free variable, but
    # with 1 ≤ a ≤ 4 and s ≥ 5 the only shift could be blocked; the module checks bounds.
    counts = [[4, 5, 9], [5, 4, 9], [9, 9, 0]]
    assert_protected(counts, protect(counts))


VALUES = (0, 0, 1, 2, 3, 4, 5, 6, 9, 14)


@pytest.mark.parametrize("shape", [(1, 2), (2, 1), (1, 3), (2, 2)])
def test_every_small_table_exhaustively(shape):
    rows, columns = shape
    values = (0, 1, 3, 4, 5, 8)
    for flat in itertools.product(values, repeat=rows * columns):
        counts = [list(flat[r * columns : (r + 1) * columns]) for r in range(rows)]
        assert_protected(counts, protect(counts))


@pytest.mark.parametrize("shape", [(2, 3), (3, 2), (3, 3), (2, 4), (4, 3)])
def test_random_tables_brute_force(shape):
    rng = random.Random(f"cmer-suppression-{shape}")
    rows, columns = shape
    for _ in range(150):
        counts = [[rng.choice(VALUES) for _c in range(columns)] for _r in range(rows)]
        assert_protected(counts, protect(counts))


def test_tables_sharing_totals_hide_them_alike():
    rng = random.Random("cmer-together")
    for _ in range(60):
        rows = rng.randint(2, 3)
        month_totals = [rng.choice((0, 2, 5, 7, 11)) for _r in range(rows)]

        def split(total: int, parts: int) -> list[int]:
            cuts = sorted(rng.randint(0, total) for _p in range(parts - 1))
            return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]

        first = [split(t, 2) for t in month_totals]
        second = [split(t, 3) for t in month_totals]
        one, two = protect_linked([first, second])
        assert one.hidden_row_totals() == two.hidden_row_totals()
        assert ((one.rows, one.columns) in one.hidden) == ((two.rows, two.columns) in two.hidden)
        assert_protected(first, one)
        assert_protected(second, two)


def test_empty_table():
    table = protect([], columns=3)
    assert table.published_rows() == [[0, 0, 0, 0]]
    assert table.hidden == {}
