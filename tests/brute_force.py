"""The brute-force solver behind the disclosure-control proofs (tests/core/test_suppression.py
for one table, tests/stats/test_linked_tables.py for linked tables).

It is independent of ``cmer.stats``' reasoning (cycles in a graph): it enumerates the integer
solutions of the published figures — each line of an augmented grid sums to its total — with
what a reader knows of each hidden figure ("< 5": 0 to 4; "s": 5 or more, up to a cap above
the grand total, which only narrows the search), and gives every value each hidden figure takes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TypeVar

from cmer import stats
from cmer.stats import Hidden

K = TypeVar("K", bound=Hashable)


def augmented_lines(table: stats.ProtectedTable, key: Callable[[int, int], K]) -> list[list[K]]:
    """The equations of ``table``'s augmented grid, its rows then its columns: in each line the
    last figure is the sum of the others. ``key(row, column)`` names each figure."""
    rows = [[key(r, c) for c in range(table.columns + 1)] for r in range(table.rows + 1)]
    columns = [[key(r, c) for r in range(table.rows + 1)] for c in range(table.columns + 1)]
    return rows + columns


def domain(kind: Hidden, grand_total: int) -> range:
    """What a reader knows of a hidden figure: "< 5" is 0 to 4, "s" is 5 or more. Any finite
    cap only removes solutions: two values found within it are still a proof."""
    if kind is Hidden.COMPLEMENT:
        return range(stats.PRIMARY_MAX + 1, 2 * grand_total + 10 + 1)
    return range(0, stats.PRIMARY_MAX + 1)


def values_taken(
    lines: Sequence[Sequence[K]], known: Mapping[K, int], domains: Mapping[K, range]
) -> dict[K, set[int]]:
    """Every value each unknown (a key of ``domains``, in their order) takes over the integer
    solutions of ``lines`` (the last key of a line is the sum of the others), every other key
    at its ``known`` value.

    Backtracking with propagation: a line with one unknown left fixes it. Stops as soon as
    every unknown has shown two values (existence is what is to be proved): a set with one
    value means the figure is recoverable, an empty one that no solution was found.
    """
    hidden = list(domains)
    seen: dict[K, set[int]] = {key: set() for key in hidden}

    def search(assigned: dict[K, int]) -> bool:
        assigned = dict(assigned)

        def value(key: K) -> int | None:
            return known[key] if key in known else assigned.get(key)

        changed = True
        while changed:
            changed = False
            for line in lines:
                *inner, total = line
                unknown = [key for key in line if value(key) is None]
                if len(unknown) > 1:
                    continue
                if not unknown:
                    if sum(value(k) for k in inner) != value(total):
                        return False
                    continue
                (key,) = unknown
                rest = sum(value(k) for k in inner if k != key)
                needed = value(total) - rest if key != total else rest
                if needed not in domains[key]:
                    return False
                assigned[key] = needed
                changed = True
        free = [key for key in hidden if key not in assigned]
        if not free:
            for key in hidden:
                seen[key].add(assigned[key])
            return all(len(values) >= 2 for values in seen.values())
        key = min(free, key=lambda k: len(domains[k]))
        return any(search({**assigned, key: candidate}) for candidate in domains[key])

    search({})
    return seen
