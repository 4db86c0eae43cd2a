"""The referral list engine: one page of rows and its total in one SQL statement, and the
list's filters. Rows are dicts of non-encrypted columns (tests: tests/cases/test_list.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import connections
from django.db.models import Count, QuerySet, Window

from cmer.accounts.requests import AuthenticatedRequest

from ..forms import (
    ListFilterForm,
)
from ..models import Referral

PAGE_SIZE = 50


Parts = QuerySet[Referral] | Sequence[QuerySet[Referral]]


def filtered(request: AuthenticatedRequest, parts: Sequence[QuerySet[Referral]]) -> list[QuerySet]:
    """The list's filters, applied to each part of the list (see ``list_page``)."""
    if not request.GET:
        return list(parts)  # no filter asked: no form to build
    form = ListFilterForm(request.GET)
    if not form.is_valid():
        return list(parts)
    data = form.cleaned_data
    lookups: dict[str, Any] = {}
    if data["reference"]:
        lookups["reference__icontains"] = data["reference"].strip()
    if data["status"]:
        lookups["status"] = data["status"]
    if data["urgency"]:
        lookups["urgency"] = data["urgency"]
    if data["category"]:
        lookups["categories"] = data["category"]
    if data["since"]:
        lookups["submitted_at__date__gte"] = data["since"]
    if data["until"]:
        lookups["submitted_at__date__lte"] = data["until"]
    return [part.filter(**lookups) for part in parts]


def list_page(parts: Parts, number: Any, per_page: int | None = None) -> Page:
    """One page of a referral list and the total number of rows, in one SQL statement.

    ``parts`` is a queryset or disjoint querysets (``access.listed_parts``) read as one
    ``UNION ALL``. The total comes with the rows (``COUNT(*) OVER ()``): the database sorts
    every visible row for the page anyway, so counting them in the same pass saves a second
    scan. A page past the end gives the last page (as ``Paginator.get_page``) for one more
    statement: the last rows in reverse order, with the total. Rows are dicts of non-encrypted
    columns: no decryption, no personal data, no model instances.
    """
    if isinstance(parts, QuerySet):
        parts = [parts]
    per_page = per_page or PAGE_SIZE
    try:
        number = max(int(number), 1)
    except (TypeError, ValueError):
        number = 1
    rows = _list_rows(parts, (number - 1) * per_page, per_page)
    total = rows[0]["total"] if rows else 0
    if not rows and number > 1:
        tail = _list_rows(parts, 0, per_page, reverse=True)
        total = tail[0]["total"] if tail else 0
        number = max(1, -(-total // per_page))
        rows = tail[: total - (number - 1) * per_page][::-1]
    paginator = Paginator(rows, per_page)
    paginator.count = total  # known: no COUNT query (cached_property)
    return Page(rows, number, paginator)


# Only non-encrypted columns on list pages: no decryption, no personal data. The sort columns
# follow, and the primary key last: a total order, so that pages never overlap and the reverse
# order is exact.
LIST_COLUMNS = ("pk", "reference", "status", "urgency", "submitted_at", "commune__name")
LIST_ORDER = ("submitted_at", "created_at", "pk")


def _list_rows(
    parts: Sequence[QuerySet[Referral]], start: int, size: int, reverse: bool = False
) -> list[dict[str, Any]]:
    sign = "" if reverse else "-"
    if len(parts) == 1:
        ordered = parts[0].order_by(*(sign + name for name in LIST_ORDER))
        rows = ordered.values(*LIST_COLUMNS).annotate(total=Window(Count("pk")))
        return list(rows[start : start + size])
    # Several parts: the ORM cannot put a window over a UNION, so the union the ORM compiled
    # is wrapped in one outer SELECT that sorts, counts and slices it (columns by position).
    columns = (*LIST_COLUMNS, "created_at")
    first, *others = (part.order_by().values(*columns) for part in parts)
    union = first.union(*others, all=True)
    compiler = union.query.get_compiler(using=union.db)
    sql, params = compiler.as_sql()
    direction = "ASC" if reverse else "DESC"
    positions = [columns.index(name) + 1 for name in LIST_ORDER]
    order = ", ".join(f"{position} {direction}" for position in positions)
    with connections[union.db].cursor() as cursor:
        cursor.execute(
            f"SELECT listed.*, COUNT(*) OVER () FROM ({sql}) listed "  # noqa: S608 (compiled SQL)
            f"ORDER BY {order} LIMIT %s OFFSET %s",
            (*params, size, start),
        )
        fetched = cursor.fetchall()
    # As the ORM would: the database's values through the fields' converters (SQLite's dates).
    # Compiler internals, pinned by tests/core/test_django_internals.py.
    converters = compiler.get_converters([expression for expression, _, _ in compiler.select])
    if converters:
        fetched = list(compiler.apply_converters(fetched, converters))
    keys = (*LIST_COLUMNS, "sort_created_at", "total")
    return [dict(zip(keys, row, strict=True)) for row in fetched]
