"""Statistical disclosure control: published counts that cannot single a person out.

Every statistics table of the installation (referrals, and training statistics if they want it)
is a grid of counts published with its row totals, column totals and grand total. Two rules:

1. **Primary suppression**: a count from 1 to 4 is never shown; it reads "< 5".
2. **Complementary suppression**: no hidden count can be worked out from the figures shown on
   the same page — neither by subtracting the visible cells of a row or column from its total,
   nor by combining several rows and columns. Further cells are hidden ("s", for *secret
   statistique*) until that holds.

How "cannot be worked out" is decided, exactly. Put the totals in the grid with a minus sign
(row totals in an extra column, column totals in an extra row, the grand total in the corner with
a plus sign): every row and every column of this *augmented* grid then sums to zero. Two sets of
values that agree on every visible cell differ by a *circulation*: a sum of cycles of hidden
cells, alternating between rows and columns, along which one adds +1, −1, +1, −1… What a reader
knows of a hidden cell is an interval: "< 5" is 0 to 4 (a count from 1 to 4, or a zero hidden
because nothing else could protect a neighbour: "fewer than five" stays true); "s" is 5 or more.
Bounds matter, not only equations: a 2 × 2 table of ones with its totals hidden is still known
(four cells of at least 1 summing to at most 4), unless a "< 5" may be a zero. With intervals, a
hidden cell has another possible value if and only if some cycle through it can be shifted by one
step without leaving any hidden cell's interval (a difference of two solutions splits into cycles
that each go the same way as the difference). ``ProtectedTable.is_safe`` tests exactly that, as a
path search in a directed graph; ``protect`` adds the cheapest complementary cells (Dijkstra) until
every hidden cell is safe. tests/core/test_suppression.py checks the result against brute-force
enumeration of every solution of the linear constraints over small tables.

Tables that break down the same rows (the same months of the same scope and year, by status,
urgency, age…) are one system to a reader who opens them all: ``protect_linked`` protects them
together (see the note above it); tests/stats/test_linked_tables.py brute-forces the system.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from django.utils.translation import gettext_lazy as _

# Counts from 1 to PRIMARY_MAX are never shown (the CNIL's and INSEE's usual threshold: 5).
PRIMARY_MAX = 4
SMALL_LABEL = "< 5"
COMPLEMENT_LABEL = "s"
LEGEND = _(
    "« < 5 » : moins de cinq (de 0 à 4), nombre masqué. « s » : nombre masqué pour qu'aucune "
    "case « < 5 » ne puisse être retrouvée par différence avec les totaux."
)


class Hidden(StrEnum):
    PRIMARY = "primary"  # a count from 1 to 4, shown "< 5"
    ZERO = "zero"  # a zero hidden to protect a neighbour, shown "< 5" (it is fewer than five)
    COMPLEMENT = "complement"  # a count of 5 or more hidden to protect a neighbour, shown "s"


Cell = tuple[int, int]  # (row, column) in the augmented grid


@dataclass
class ProtectedTable:
    """A grid of counts with its totals and the cells that must not be shown.

    ``grid`` is the augmented grid of true counts: ``rows`` × ``columns`` inner counts, the row
    totals in column ``columns``, the column totals in row ``rows``, the grand total at
    (``rows``, ``columns``). ``hidden`` maps the hidden cells to why they are hidden.
    """

    grid: list[list[int]]
    hidden: dict[Cell, Hidden] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.grid) - 1

    @property
    def columns(self) -> int:
        return len(self.grid[0]) - 1

    # -- what is published ---------------------------------------------------------------------

    def shown(self, row: int, column: int) -> int | str:
        """The published value of a cell: its count, "< 5" or "s"."""
        kind = self.hidden.get((row, column))
        if kind in (Hidden.PRIMARY, Hidden.ZERO):
            return SMALL_LABEL
        if kind is Hidden.COMPLEMENT:
            return COMPLEMENT_LABEL
        return self.grid[row][column]

    def cell(self, row: int, column: int) -> int | str:
        return self.shown(row, column)

    def row_total(self, row: int) -> int | str:
        return self.shown(row, self.columns)

    def column_total(self, column: int) -> int | str:
        return self.shown(self.rows, column)

    def grand_total(self) -> int | str:
        return self.shown(self.rows, self.columns)

    def published_rows(self) -> list[list[int | str]]:
        """Every row of the augmented grid as published (the last one holds the totals)."""
        return [[self.shown(r, c) for c in range(self.columns + 1)] for r in range(self.rows + 1)]

    def hidden_row_totals(self) -> set[int]:
        return {r for (r, c) in self.hidden if c == self.columns and r < self.rows}

    # -- what a reader can infer ---------------------------------------------------------------

    def sign(self, cell: Cell) -> int:
        """+1 for inner cells and the grand total, −1 for row and column totals."""
        row, column = cell
        return 1 if (row == self.rows) == (column == self.columns) else -1

    def can_shift(self, cell: Cell, step: int, kind: Hidden | None = None) -> bool:
        """May ``cell`` move by ``step`` in the augmented grid and stay within what a reader
        knows of it (0–4 for "< 5", 5 or more for "s")?"""
        kind = kind or self.hidden[cell]
        value = self.grid[cell[0]][cell[1]] + step * self.sign(cell)
        if kind is Hidden.COMPLEMENT:
            return value > PRIMARY_MAX
        return 0 <= value <= PRIMARY_MAX

    def _arcs(self, cell: Cell, kind: Hidden | None = None) -> list[tuple[str, int, str, int]]:
        """Arcs of the shift graph for one cell: row → column if it may go up by one (in the
        augmented grid), column → row if it may go down."""
        row, column = cell
        arcs = []
        if self.can_shift(cell, +1, kind):
            arcs.append(("r", row, "c", column))
        if self.can_shift(cell, -1, kind):
            arcs.append(("c", column, "r", row))
        return arcs

    def _graph(self, without: Cell) -> dict[tuple[str, int], list[tuple[str, int]]]:
        graph: dict[tuple[str, int], list[tuple[str, int]]] = {}
        for cell in self.hidden:
            if cell == without:
                continue
            for a, i, b, j in self._arcs(cell):
                graph.setdefault((a, i), []).append((b, j))
        return graph

    def is_safe(self, cell: Cell) -> bool:
        """True when the hidden ``cell`` has at least two possible values given every figure
        shown: some cycle of hidden cells through it can shift by one step."""
        graph = self._graph(without=cell)
        row, column = cell
        if self.can_shift(cell, +1) and _reachable(graph, ("c", column), ("r", row)):
            return True
        return self.can_shift(cell, -1) and _reachable(graph, ("r", row), ("c", column))

    def unsafe_cells(self) -> list[Cell]:
        return [cell for cell in sorted(self.hidden) if not self.is_safe(cell)]

    # -- complementary suppression -------------------------------------------------------------

    def _cost(self, cell: Cell) -> float:
        """What hiding one more cell costs: its count (hide small ones first), more for totals
        (readers need them), much more for the grand total. A zero costs little: "< 5" stays
        true of it."""
        row, column = cell
        value = self.grid[row][column] or 2
        if row == self.rows and column == self.columns:
            return 1000 + 10 * value
        if row == self.rows or column == self.columns:
            return 20 + 3 * value
        return value

    def _complement_for(self, cell: Cell) -> list[Cell] | None:
        """The cheapest visible cells whose hiding puts ``cell`` on a shiftable cycle."""
        edges: dict[tuple[str, int], list[tuple[tuple[str, int], float, Cell | None]]] = {}
        for other in self.hidden:
            if other == cell:
                continue
            for a, i, b, j in self._arcs(other):
                edges.setdefault((a, i), []).append(((b, j), 0.0, None))
        for r in range(self.rows + 1):
            for c in range(self.columns + 1):
                candidate = (r, c)
                if candidate in self.hidden:
                    continue
                kind = Hidden.ZERO if self.grid[r][c] == 0 else Hidden.COMPLEMENT
                cost = self._cost(candidate)
                for a, i, b, j in self._arcs(candidate, kind):
                    edges.setdefault((a, i), []).append(((b, j), cost, candidate))
        row, column = cell
        best: tuple[float, list[Cell]] | None = None
        directions = ((+1, ("c", column), ("r", row)), (-1, ("r", row), ("c", column)))
        for step, source, target in directions:
            if not self.can_shift(cell, step):
                continue
            found = _cheapest_path(edges, source, target)
            if found is not None and (best is None or found[0] < best[0]):
                best = found
        return None if best is None else best[1]

    def complete(self) -> None:
        """Hide complementary cells until every hidden cell is safe."""
        while unsafe := self.unsafe_cells():
            extra = self._complement_for(unsafe[0])
            if not extra:
                # Not met on the brute-forced tables (hiding the whole table always protects
                # it); kept so that nothing is ever published unprotected.
                for r in range(self.rows + 1):
                    for c in range(self.columns + 1):
                        value = self.grid[r][c]
                        kind = Hidden.COMPLEMENT if value > PRIMARY_MAX else Hidden.ZERO
                        self.hidden.setdefault((r, c), kind)
                return
            for extra_cell in extra:
                zero = self.grid[extra_cell[0]][extra_cell[1]] == 0
                self.hidden[extra_cell] = Hidden.ZERO if zero else Hidden.COMPLEMENT


def _reachable(graph: dict, source: tuple[str, int], target: tuple[str, int]) -> bool:
    seen = {source}
    stack = [source]
    while stack:
        node = stack.pop()
        if node == target:
            return True
        for nxt in graph.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def _cheapest_path(
    edges: dict, source: tuple[str, int], target: tuple[str, int]
) -> tuple[float, list[Cell]] | None:
    """Dijkstra from ``source`` to ``target``: the cost and the cells to hide on the way."""
    queue: list[tuple[float, int, tuple[str, int]]] = [(0.0, 0, source)]
    best = {source: 0.0}
    came: dict[tuple[str, int], tuple[tuple[str, int], Cell | None]] = {}
    counter = 0
    while queue:
        cost, _order, node = heapq.heappop(queue)
        if node == target:
            cells: list[Cell] = []
            while node != source:
                node, cell = came[node]
                if cell is not None:
                    cells.append(cell)
            return cost, cells
        if cost > best.get(node, float("inf")):
            continue
        for nxt, weight, cell in edges.get(node, ()):
            total = cost + weight
            if total < best.get(nxt, float("inf")):
                best[nxt] = total
                came[nxt] = (node, cell)
                counter += 1
                heapq.heappush(queue, (total, counter, nxt))
    return None


def augment(counts: Sequence[Sequence[int]], columns: int | None = None) -> list[list[int]]:
    """The augmented grid of ``counts``: each row followed by its total, then the column totals
    and the grand total."""
    width = len(counts[0]) if counts else (columns or 0)
    grid = [[int(v) for v in row] + [sum(int(v) for v in row)] for row in counts]
    totals = [sum(row[c] for row in grid) for c in range(width + 1)]
    return [*grid, totals]


def protect(
    counts: Sequence[Sequence[int]],
    *,
    columns: int | None = None,
    hide_row_totals: Iterable[int] = (),
    hide_grand_total: bool = False,
) -> ProtectedTable:
    """Suppress what must not be shown in a table of counts (rows × columns).

    ``hide_row_totals`` / ``hide_grand_total``: totals to hide whatever their value (a caller
    that knows they are hidden elsewhere). ``columns`` gives the width of a table without rows.
    """
    table = ProtectedTable(augment(counts, columns))
    for r, line in enumerate(table.grid):
        for c, value in enumerate(line):
            if 1 <= value <= PRIMARY_MAX:
                table.hidden[(r, c)] = Hidden.PRIMARY
    forced = [(r, table.columns) for r in hide_row_totals]
    if hide_grand_total:
        forced.append((table.rows, table.columns))
    for cell in forced:
        if cell not in table.hidden and table.grid[cell[0]][cell[1]] > PRIMARY_MAX:
            table.hidden[cell] = Hidden.COMPLEMENT
    table.complete()
    return table


# -- tables that break down the same rows ----------------------------------------------------
#
# Several breakdowns of the same referrals by month (status, urgency, age, outcome, commune)
# are offered to the same reader. Each is one table, but together they are one system: every
# table's month totals and grand total are the same figures (the *margin*), and a reader who
# puts two of them side by side intersects what each says of a hidden month total — hiding the
# shared totals alike on every table (the former ``protect_together``) is not enough: the
# first table may say "this month is 5 to 9", the second "9 to 13", so it is 9, and a "< 5" of
# the first table follows by difference (brute-forced in tests/stats/test_linked_tables.py).
#
# ``protect_linked`` makes the whole system safe, with two sufficient conditions checked with
# the same shift graph as above:
# 1. every hidden cell off the margin (an inner cell, a column total) is safe in its own table
#    *as if the margin were shown*: whatever a reader learns of the margin from the other
#    tables, that table alone still allows two values (the others keep their true values);
# 2. every hidden margin cell belongs to a *margin shift* (one month total down by one and
#    another up, or a month total and the grand total down together) that every table can
#    carry on a cycle of its own hidden cells: all tables shift at once, the margin changes,
#    nothing shown moves.


def _margin_domain_ok(value: int, kind: Hidden, step: int) -> bool:
    moved = value + step
    if kind is Hidden.COMPLEMENT:
        return moved > PRIMARY_MAX
    return 0 <= moved <= PRIMARY_MAX


@dataclass(frozen=True)
class MarginShift:
    """Two margin cells (rows of the totals column; ``rows`` is the grand total) moved by
    ``steps`` (real counts, not signed) together."""

    cells: tuple[int, int]
    steps: tuple[int, int]


def _margin(totals: list[int], grand: int) -> tuple[dict[int, Hidden], list[MarginShift]]:
    """Which margin cells to hide (row index → kind; ``len(totals)`` is the grand total) and the
    shifts that protect them."""
    n = len(totals)
    values = [*totals, grand]
    hidden: dict[int, Hidden] = {
        i: Hidden.PRIMARY for i, v in enumerate(values) if 1 <= v <= PRIMARY_MAX
    }
    shifts: list[MarginShift] = []
    covered: set[int] = set()

    def steps_for(a: int, b: int) -> tuple[int, int] | None:
        # Month and month: opposite steps (the grand total stays); month and grand total: the
        # same step.
        options = [(-1, +1), (+1, -1)] if n not in (a, b) else [(-1, -1), (+1, +1)]
        for sa, sb in options:
            ka = hidden.get(a) or _kind_of(values[a])
            kb = hidden.get(b) or _kind_of(values[b])
            if _margin_domain_ok(values[a], ka, sa) and _margin_domain_ok(values[b], kb, sb):
                return sa, sb
        return None

    while uncovered := [i for i in sorted(hidden) if i not in covered]:
        a = uncovered[0]
        # Another hidden cell first (an uncovered one covers two at once), else the cheapest
        # shown one: a zero month, then the smallest count, the grand total last.
        partners = sorted(
            (i for i in range(n + 1) if i != a),
            key=lambda i: (
                i not in hidden,
                i in covered,
                i == n,
                values[i] if values[i] else -1,
            ),
        )
        for b in partners:
            steps = steps_for(a, b)
            if steps is not None:
                hidden.setdefault(b, _kind_of(values[b]))
                shifts.append(MarginShift((a, b), steps))
                covered.update((a, b))
                break
        else:
            # Not met (a count of 1 to 4 can always go down, a zero or an "s" up): hide all.
            for i in range(n + 1):
                hidden.setdefault(i, _kind_of(values[i]))
            covered.add(a)
    return hidden, shifts


def _kind_of(value: int) -> Hidden:
    if value == 0:
        return Hidden.ZERO
    return Hidden.PRIMARY if value <= PRIMARY_MAX else Hidden.COMPLEMENT


def _edges_off_margin(
    table: ProtectedTable, *, with_candidates: bool, without: Cell | None = None
) -> dict[tuple[str, int], list[tuple[tuple[str, int], float, Cell | None]]]:
    """The shift graph of ``table`` without its totals column (the margin, the same on every
    linked table and protected by the margin shifts): hidden cells at no cost, and, when
    ``with_candidates``, shown cells at the cost of hiding them."""
    edges: dict[tuple[str, int], list[tuple[tuple[str, int], float, Cell | None]]] = {}
    for r in range(table.rows + 1):
        for c in range(table.columns):
            cell = (r, c)
            if cell == without:
                continue
            if cell in table.hidden:
                cost, kind, mark = 0.0, None, None
            elif with_candidates:
                kind = Hidden.ZERO if table.grid[r][c] == 0 else Hidden.COMPLEMENT
                cost, mark = table._cost(cell), cell
            else:
                continue
            for a, i, b, j in table._arcs(cell, kind):
                edges.setdefault((a, i), []).append(((b, j), cost, mark))
    return edges


def _margin_path(table: ProtectedTable, shift: MarginShift) -> tuple[tuple[str, int], ...]:
    """(source, target) rows the off-margin cycle of ``shift`` must join: the shift enters the
    totals column at one row and leaves it at the other (augmented steps: a month total counts
    with a minus sign, the grand total with a plus)."""
    (a, b), (step_a, _step_b) = shift.cells, shift.steps
    augmented = step_a * table.sign((a, table.columns))
    return (("r", b), ("r", a)) if augmented > 0 else (("r", a), ("r", b))


def _protect_off_margin(table: ProtectedTable, shifts: Sequence[MarginShift]) -> bool:
    """Hide cells off the margin until conditions 1 and 2 hold; False if it cannot."""
    while True:
        missing: tuple[tuple[str, int], tuple[str, int]] | None = None
        for shift in shifts:
            source, target = _margin_path(table, shift)
            graph = {
                node: [nxt for nxt, _w, _c in arcs]
                for node, arcs in _edges_off_margin(table, with_candidates=False).items()
            }
            if not _reachable(graph, source, target):
                missing = (source, target)
                break
        if missing is None:
            for cell in sorted(table.hidden):
                if cell[1] == table.columns:
                    continue
                graph = {
                    node: [nxt for nxt, _w, _c in arcs]
                    for node, arcs in _edges_off_margin(
                        table, with_candidates=False, without=cell
                    ).items()
                }
                row, column = cell
                if table.can_shift(cell, +1) and _reachable(graph, ("c", column), ("r", row)):
                    continue
                if table.can_shift(cell, -1) and _reachable(graph, ("r", row), ("c", column)):
                    continue
                if _on_margin_shift(table, shifts, graph, cell):
                    continue
                found = None
                for step, source, target in (
                    (+1, ("c", column), ("r", row)),
                    (-1, ("r", row), ("c", column)),
                ):
                    if not table.can_shift(cell, step):
                        continue
                    edges = _edges_off_margin(table, with_candidates=True, without=cell)
                    path = _cheapest_path(edges, source, target)
                    if path is not None and (found is None or path[0] < found[0]):
                        found = path
                if not found or not found[1]:
                    return False
                _hide(table, found[1])
                break
            else:
                return True
            continue
        path = _cheapest_path(_edges_off_margin(table, with_candidates=True), *missing)
        if path is None or not path[1]:
            return False
        _hide(table, path[1])


def _on_margin_shift(
    table: ProtectedTable,
    shifts: Sequence[MarginShift],
    graph: dict[tuple[str, int], list[tuple[str, int]]],
    cell: Cell,
) -> bool:
    """Does some margin shift's cycle pass through ``cell`` (it then moves when the margin
    does, on every table at once)? ``graph``: the off-margin graph without ``cell``."""
    row, column = cell
    arcs = []
    if table.can_shift(cell, +1):
        arcs.append((("r", row), ("c", column)))
    if table.can_shift(cell, -1):
        arcs.append((("c", column), ("r", row)))
    for shift in shifts:
        source, target = _margin_path(table, shift)
        for start, end in arcs:
            if _reachable(graph, source, start) and _reachable(graph, end, target):
                return True
    return False


def _hide(table: ProtectedTable, cells: Iterable[Cell]) -> None:
    for cell in cells:
        zero = table.grid[cell[0]][cell[1]] == 0
        table.hidden[cell] = Hidden.ZERO if zero else Hidden.COMPLEMENT


def protect_linked(
    tables: Sequence[Sequence[Sequence[int]]], *, columns: Sequence[int] | None = None
) -> list[ProtectedTable]:
    """Protect tables that break down the same rows (their row totals and grand total are the
    same figures) so that all of them read together reveal no hidden count (see above)."""
    augmented = [
        ProtectedTable(augment(t, None if columns is None else columns[i]))
        for i, t in enumerate(tables)
    ]
    if not augmented:
        return []
    first = augmented[0]
    totals = [first.grid[r][first.columns] for r in range(first.rows)]
    for table in augmented[1:]:
        if [table.grid[r][table.columns] for r in range(table.rows)] != totals:
            raise ValueError("linked tables must have the same row totals")
    margin, shifts = _margin(totals, first.grid[first.rows][first.columns])
    for table in augmented:
        for r, kind in margin.items():
            table.hidden[(r, table.columns)] = kind
        for r, line in enumerate(table.grid):
            for c, value in enumerate(line[: table.columns]):
                if 1 <= value <= PRIMARY_MAX:
                    table.hidden[(r, c)] = Hidden.PRIMARY
    if all(_protect_off_margin(table, shifts) for table in augmented):
        return augmented
    # Not met on the brute-forced tables; kept so that nothing is ever published unprotected:
    # every figure of every table hidden.
    for table in augmented:
        for r in range(table.rows + 1):
            for c in range(table.columns + 1):
                table.hidden.setdefault((r, c), _kind_of(table.grid[r][c]))
    return augmented
