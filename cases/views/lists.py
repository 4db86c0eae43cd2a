"""Referral lists (the user's list, the liaison's transmitted list, the referent's archives):
rows from the list engine (``listing``), rendered by ``cases/_rows.html``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format, get_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from cmer.accounts.models import Role
from cmer.audit.core import record_event
from cmer.audit.models import Event
from conventions.gates import blocked_scopes, charter_required

from .. import access
from ..forms import (
    ListFilterForm,
)
from ..models import Referral, WeakSignalCategory
from .listing import Parts, filtered, list_page


def _render_list(
    request: HttpRequest, parts: Parts, template: str, *, row_suffix: str = "", **extra: Any
) -> HttpResponse:
    """``row_suffix``: where a row leads below ``/signalements/<id>/`` (the archives' rows open
    the archive page: reason and a fresh code)."""
    if isinstance(parts, QuerySet):
        parts = [parts]
    blocked = blocked_scopes(request.user, request)
    if blocked:
        # A commune whose charter is still to be read: its referrals wait (base.html says so).
        parts = [part.exclude(blocked.q()) for part in parts]
    page = list_page(filtered(request, parts), request.GET.get("page"))
    references = [row["reference"] for row in page.object_list if row["reference"]]
    if references:
        record_event(
            Event.ACCESS,
            request=request,
            target_model=Referral,
            data={"what": "list", "references": references},
        )
    context = {
        "page": page,
        "rows": _rows(page.object_list),
        "list_url": reverse("cases:list"),  # row links: one reverse(), not one per row
        "row_suffix": row_suffix,
        # The values the filters show again (as typed); category ids as text to compare.
        "chosen": {name: request.GET.get(name, "") for name in ListFilterForm.base_fields},
        "status_choices": Referral.Status.choices,
        "urgency_choices": Referral.Urgency.choices,
        "category_choices": [
            (str(pk), _(label))
            for pk, label in WeakSignalCategory.objects.values_list("pk", "label")
        ],
        **extra,
    }
    return render(request, template, context)


# Django date format letters that strftime writes the same way (zero-padded numbers).
_STRFTIME = {"d": "%d", "m": "%m", "Y": "%Y", "y": "%y", "/": "/", ".": ".", "-": "-", " ": " "}


def _short_date() -> Callable[[Any], str]:
    """SHORT_DATE_FORMAT of the active language, in local time: strftime when it can say it."""
    pattern = get_format("SHORT_DATE_FORMAT")
    tz = timezone.get_current_timezone()
    if all(char in _STRFTIME for char in pattern):
        strftime = "".join(_STRFTIME[char] for char in pattern)
        return lambda value: value.astimezone(tz).strftime(strftime)
    return lambda value: date_format(value.astimezone(tz), "SHORT_DATE_FORMAT")


def _rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows for ``cases/_table.html``, which escapes and writes them: labels translated once
    per page and dates in local time here, so that the template reads plain values (with 50
    rows, the template engine's cost per variable and filter was most of the page's render:
    bench/RESULTS.md, "Referrals list"). No query."""
    status_labels = {value: str(label) for value, label in Referral.Status.choices}
    urgency_labels = {value: str(label) for value, label in Referral.Urgency.choices}
    short_date = _short_date()
    for row in rows:
        submitted = row["submitted_at"]
        row["status_label"] = status_labels[row["status"]]
        row["urgency_label"] = urgency_labels[row["urgency"]]
        row["urgent"] = row["urgency"] == Referral.Urgency.DANGER
        row["submitted"] = short_date(submitted) if submitted else "—"
    return rows


@require_GET
@charter_required
def referral_list(request: HttpRequest) -> HttpResponse:
    if Role.LIAISON in request.roles and not (
        {Role.REFERENT, Role.CELL_MEMBER, Role.REPORTING_AGENT} & request.roles
    ):
        return redirect("cases:transmitted")
    parts = access.listed_parts(request.user)
    is_referent = Role.REFERENT in request.roles
    return _render_list(request, parts, "cases/referral_list.html", is_referent=is_referent)


@require_GET
@charter_required
def transmitted_list(request: HttpRequest) -> HttpResponse:
    queryset = access.transmitted_for_liaison(request.user)
    return _render_list(request, queryset, "cases/transmitted_list.html")


@require_GET
@charter_required
def archive_list(request: HttpRequest) -> HttpResponse:
    queryset = access.archived_for_referent(request.user)
    return _render_list(request, queryset, "cases/archive_list.html", row_suffix="archive/")
