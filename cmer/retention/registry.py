"""What each app removes under which rule, registered by the apps themselves (their
``AppConfig.ready``): the core imports no app (docs/ARCHITECTURE.md, tests/core/test_layers.py).

An app registers a *source*: ``due(scope)`` lists what its rules remove on or before
``scope.until`` (``DueItem``: a reference or identifier, never a name), and one ``apply``
function per rule removes a batch of those ids, re-checking each under a lock, and returns what it
removed (``Removed``). ``cases`` also registers the legal holds (the DPO's page places them and
lists those running). The runner (``runner.py``) and the DPO's page read this registry only.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .rules import Rule


class FilesNotRemoved(Exception):
    """A stored file is still there after its deletion: the batch is rolled back."""


@dataclass(frozen=True)
class DueItem:
    """Something a rule removes on ``due_on``: a referral, a draft, a session, a convention's
    documents. ``label`` is a reference or an identifier, never a name. ``held_until``: the end
    of the legal hold that keeps it (then it is skipped)."""

    rule: Rule
    pk: int
    label: str
    commune_id: int | None
    due_on: datetime.date
    held_until: datetime.date | None = None

    @property
    def held(self) -> bool:
        return self.held_until is not None


@dataclass(frozen=True)
class Scope:
    """What a source is asked for: items due on or before ``until``; in these communes and
    departments when given (the DPO's page), everywhere otherwise (the run)."""

    until: datetime.date
    today: datetime.date
    age_rule: bool
    commune_ids: list[int] | None = None
    department_ids: list[int] | None = None


@dataclass(frozen=True)
class Removed:
    labels: list[str]
    records: int = 0
    files: int = 0


DueFunction = Callable[[Scope], list[DueItem]]
ApplyFunction = Callable[[list[int], datetime.date], Removed]


@dataclass(frozen=True)
class Holds:
    """``place(reference=, reason=, until=, commune_ids=, acting_user=)`` → the hold (raises
    ValidationError, nothing written); ``running(commune_ids, on)`` → the holds still running;
    ``of(commune_ids)`` → a queryset of every hold of these communes (the DPO's lookup, 404
    outside it); ``lift(hold, reason=, acting_user=)`` → the lifted hold (raises
    ValidationError, nothing written)."""

    place: Callable[..., Any]
    running: Callable[[Iterable[int], datetime.date], Iterable[Any]]
    of: Callable[[Iterable[int]], Any]
    lift: Callable[..., Any]


_sources: dict[str, DueFunction] = {}
_appliers: dict[Rule, ApplyFunction] = {}
_holds: list[Holds] = []


def register(name: str, *, due: DueFunction, apply: Mapping[Rule, ApplyFunction]) -> None:
    """Called once per app from its ``ready()`` (a second call replaces the first)."""
    _sources[name] = due
    _appliers.update(apply)


def register_holds(holds: Holds) -> None:
    _holds[:] = [holds]


def due_items(scope: Scope) -> list[DueItem]:
    items: list[DueItem] = []
    for due in _sources.values():
        items += due(scope)
    return items


def applier(rule: Rule) -> ApplyFunction:
    try:
        return _appliers[rule]
    except KeyError:
        raise LookupError(f"no app registered the retention rule {rule}") from None


def holds() -> Holds:
    if not _holds:
        raise LookupError("no app registered the legal holds")
    return _holds[0]
