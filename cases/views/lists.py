"""Referral lists (the user's list, the liaison's transmitted list, the referent's archives):
rows from the list engine (``listing``), rendered by ``cases/_rows.html``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format, get_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from cmer.accounts.models import Role
from cmer.accounts.requests import AuthenticatedRequest
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
    request: AuthenticatedRequest,
    parts: Parts,
    template: str,
    *,
    row_suffix: str = "",
    **extra: Any,
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
        # Row links: one reverse(), not one per row.
        "rows": _rows(page.object_list, reverse("cases:list"), row_suffix),
        # The values the filters show again (as typed); category ids as text to compare.
        "chosen": {name: request.GET.get(name, "") for name in ListFilterForm.base_fields},
        "status_choices": Referral.Status.choices,
        "urgency_choices": Referral.Urgency.choices,
        "category_choices": [(str(pk), _(label)) for pk, label in _categories()],
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


# The filter's list of observed signs: reference data changed in the admin a few times a year,
# yet one statement on every list page. Kept per process for CATEGORIES_SECONDS, and dropped at
# once in the process that saves or deletes one (cases/apps.py connects the signals): another
# process shows the change in its filter within a minute. A filter on a category removed
# meanwhile is refused by ``ListFilterForm`` (a queryset of the categories that exist).
CATEGORIES_SECONDS = 60.0
_categories_cache: tuple[float, list[tuple[int, str]]] | None = None


def _categories() -> list[tuple[int, str]]:
    """``(pk, label)`` of every observed-sign category, labels untranslated (the catalogue
    differs per request), in the model's order."""
    global _categories_cache
    now = time.monotonic()
    if _categories_cache is None or now - _categories_cache[0] > CATEGORIES_SECONDS:
        _categories_cache = (now, list(WeakSignalCategory.objects.values_list("pk", "label")))
    return _categories_cache[1]


def forget_categories(**_kwargs: Any) -> None:
    """Signal receiver: the next list page reads the categories again."""
    global _categories_cache
    _categories_cache = None


def _rows(
    rows: Iterable[dict[str, Any]], list_url: str, row_suffix: str
) -> Iterable[dict[str, Any]]:
    """The rows for ``cases/_table.html``, which escapes and writes them: link, label, labels
    translated once per page and dates in local time here, so that the template reads six plain
    strings a row (with 50 rows, the template engine's cost per variable — context lookup,
    localisation of numbers, escaping — is most of the page's render: bench/RESULTS.md,
    "Referrals list"). No query."""
    status_labels = {value: str(label) for value, label in Referral.Status.choices}
    urgency_labels = {value: str(label) for value, label in Referral.Urgency.choices}
    short_date = _short_date()
    for row in rows:
        submitted = row["submitted_at"]
        pk = row["pk"]
        row["href"] = f"{list_url}{pk}/{row_suffix}"
        # The DPO's trail names a draft the same way (Referral.__str__).
        row["label"] = row["reference"] or _("brouillon-%(pk)s") % {"pk": pk}
        row["status_label"] = status_labels[row["status"]]
        row["urgency_label"] = urgency_labels[row["urgency"]]
        row["urgent"] = row["urgency"] == Referral.Urgency.DANGER
        row["submitted"] = short_date(submitted) if submitted else "—"
    return rows


@require_GET
@charter_required
def referral_list(request: AuthenticatedRequest) -> HttpResponse:
    if Role.LIAISON in request.roles and not (
        {Role.REFERENT, Role.CELL_MEMBER, Role.REPORTING_AGENT} & request.roles
    ):
        return redirect("cases:transmitted")
    parts = access.listed_parts(request.user)
    is_referent = Role.REFERENT in request.roles
    return _render_list(request, parts, "cases/referral_list.html", is_referent=is_referent)


@require_GET
@charter_required
def transmitted_list(request: AuthenticatedRequest) -> HttpResponse:
    queryset = access.transmitted_for_liaison(request.user)
    return _render_list(request, queryset, "cases/transmitted_list.html")


@require_GET
@charter_required
def archive_list(request: AuthenticatedRequest) -> HttpResponse:
    queryset = access.archived_for_referent(request.user)
    return _render_list(request, queryset, "cases/archive_list.html", row_suffix="archive/")
