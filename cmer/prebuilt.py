"""Querysets whose fixed part is built once per process (issue 13: CPU per request).

Building a queryset is the dearest part of a small query: ``with_sides()``'s four ``Exists()``
cost about 1.1 ms of CPU to build and resolve, against 0.15 ms to run the statement. The part
that does not depend on the request (the annotations, the ordering, the rule's constant
conditions) is built once; each call takes a clone (``.all()``, as Django's generic views do
with their class-level ``queryset``) and adds the request's own filter. The clone shares the
resolved expressions, as every chained queryset does, and never the results: the kept
queryset itself is never evaluated.

``key`` arguments (a day, for a rule "in force today") select one kept queryset each; the last
few are kept, so a process that runs past midnight builds the next day's once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)


class prebuilt(Generic[M]):  # lower case: used as a decorator
    """Decorate ``build(*key)``: each call gives a fresh clone of the queryset built once per
    ``key``. ``kept(*key)`` is the kept queryset itself (for tests: never evaluated)."""

    def __init__(self, build: Callable[..., QuerySet[M]]) -> None:
        self.kept: Callable[..., QuerySet[M]] = functools.lru_cache(maxsize=4)(build)
        functools.update_wrapper(self, build)

    def __call__(self, *key: Hashable) -> QuerySet[M]:
        return self.kept(*key).all()
