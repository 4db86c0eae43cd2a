"""The PDF export of the trail, rendered by the worker (``tasks.render_pdf_export``): the rows
of the DPO's search as they are when it runs, in French (``labels.rows``), in a landscape table
whose columns are sized to their content and never split a token.

Apart from ``views.py`` so that the task does not import the views (which queue the task).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from cmer.pdf import render_pdf

from . import access, labels
from .forms import AuditSearchForm
from .models import AuditExport

PDF_LIMIT = 2_000


def render_export_pdf(prepared: AuditExport) -> tuple[bytes, int]:
    """The PDF of a prepared export, with the requester's scope as it is now (the worker)."""
    user = prepared.requested_by
    form = AuditSearchForm(prepared.filters, users=access.users_visible_to(user))
    entries = access.entries_visible_to(user)
    entries = form.filter(entries) if form.is_valid() else entries.none()
    entries = entries.order_by("-timestamp", "-id")
    rows = list(labels.rows(entries[: PDF_LIMIT + 1], reference=form.searched_reference()))
    truncated = len(rows) > PDF_LIMIT
    rows = rows[:PDF_LIMIT]
    pdf = render_pdf(
        "audit/export_pdf.html",
        {
            "rows": rows,
            "widths": column_widths(rows),
            "truncated": truncated,
            "limit": PDF_LIMIT,
            "filters": form.describe() if form.is_valid() else [],
            "generated_at": timezone.localtime(),
            "user": user,
            # Name and address, like the CSV's first line (views.csv_lines).
            "reader": f"{user.get_full_name() or user.email} <{user.email}>",
        },
    )
    return pdf, len(rows)


# Columns kept on one line (a token is never split: addresses, e-mails, times, references) and
# those that wrap at spaces, with the width in characters they may take before wrapping.
PDF_WHOLE = ("position", "time", "actor", "object", "address")
PDF_WRAPPED = {"event": 48, "type": 18, "details": 28}
PDF_HEADERS = {"position": 3, "time": 13, "event": 10, "actor": 6, "type": 12, "object": 6}


def column_widths(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Each column's share of the page, from the longest value it holds (in characters): the
    table is laid out once (``table-layout: fixed``) yet sized to its content."""
    longest: dict[str, int] = {}
    for name in (*PDF_WHOLE, *PDF_WRAPPED):
        values = (len(_pdf_text(name, row[name])) for row in rows)
        length = max(values, default=0)
        length = max(length, PDF_HEADERS.get(name, 7))
        longest[name] = min(length, PDF_WRAPPED[name]) if name in PDF_WRAPPED else length
    total = sum(longest.values()) or 1
    return {name: f"{100 * length / total:.1f}" for name, length in longest.items()}


def _pdf_text(name: str, value: Any) -> str:
    if name == "time":
        return "00/00/0000 00:00:00"
    return "—" if value is None else str(value)
