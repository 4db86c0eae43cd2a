"""The DPO's audit pages: search, exports (CSV, PDF), integrity (verification and checkpoints).

Everyone but a DPO gets 404 on every page. The DPO sees metadata only: who, what kind of object,
which reference, when, from where, which fields changed — the trail holds no content anyway.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from cmer import permissions
from cmer.accounts import stepup
from cmer.accounts.requests import AuthenticatedRequest
from cmer.queue import enqueue_on_commit

from . import access, exports, health, labels
from .core import record_event
from .forms import AuditSearchForm
from .models import (
    AuditCheckpoint,
    AuditEntry,
    AuditExport,
    AuditVerification,
    Event,
    VerificationRun,
)

PAGE_SIZE = 50
CSV_LIMIT = 200_000
# Spreadsheets run a cell starting with these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _search(
    request: HttpRequest, data: Any, *, bind: bool = False
) -> tuple[AuditSearchForm, QuerySet[AuditEntry]]:
    bound = data if (data or bind) else None
    form = AuditSearchForm(bound, users=access.users_visible_to(request.user))
    entries = access.entries_visible_to(request.user)
    if form.is_bound and form.is_valid():
        entries = form.filter(entries)
    elif form.is_bound:
        entries = entries.none()
    return form, entries.order_by("-timestamp", "-id")


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    access.require_dpo(request)
    form, entries = _search(request, request.GET)
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    start = (page - 1) * PAGE_SIZE
    # No COUNT(*) over a million rows: fetch one more row to know whether a next page exists.
    window = list(entries[start : start + PAGE_SIZE + 1])
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "rows": list(labels.rows(window[:PAGE_SIZE], reference=form.searched_reference())),
        "page": page,
        "has_next": len(window) > PAGE_SIZE,
        "query": query.urlencode(),
        "searched": form.is_bound,
        "export_fields": [
            (name, request.GET.get(name, "")) for name in form.fields if request.GET.get(name)
        ],
        "verification": AuditVerification.objects.first(),
        "health": health.trail_health(),
        "export_formats": [("csv", _("Exporter en CSV")), ("pdf", _("Exporter en PDF"))],
    }
    return render(request, "audit/search.html", context)


def safe_cell(value: Any) -> str:
    """Neutralise spreadsheet formulas: a leading ' makes the cell plain text."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


CSV_COLUMNS = ("position", "time", "event", "actor", "type", "object", "address", "details")


def csv_lines(rows: Iterable[dict[str, Any]], reader: Any = None) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # Excel reads UTF-8 only with a BOM
    if reader is not None:
        # Like the PDF's "Établi le … par …": a copy found later says whose it was and when.
        stamp = _("Export établi le %(when)s par %(who)s") % {
            "when": timezone.localtime().strftime("%d/%m/%Y %H:%M"),
            "who": f"{reader.get_full_name() or reader.email} <{reader.email}>",
        }
        yield writer.writerow([safe_cell(stamp)])
    yield writer.writerow(
        [
            _("position"),
            _("date et heure"),
            _("événement"),
            _("auteur"),
            _("type d'objet"),
            _("objet"),
            _("adresse"),
            _("détails"),
        ]
    )
    for row in rows:
        values = [row[column] for column in CSV_COLUMNS]
        values[1] = values[1].isoformat(timespec="seconds")
        yield writer.writerow([safe_cell(value) for value in values])


@require_POST
def export(request: AuthenticatedRequest, fmt: str) -> HttpResponseBase:
    access.require_dpo(request)
    if fmt not in {"csv", "pdf"}:
        raise Http404
    stepup.require(request)
    form, entries = _search(request, request.POST, bind=True)
    if not form.is_valid():
        raise Http404
    limit = CSV_LIMIT if fmt == "csv" else exports.PDF_LIMIT
    count = min(entries.count(), limit)
    record_event(
        Event.EXPORT,
        request=request,
        target_model=AuditEntry,
        data={"what": f"audit_{fmt}", "rows": count, **form.summary()},
    )
    if fmt == "pdf":
        # Rendering takes seconds: the worker does it, the page says when it is ready.
        prepared = AuditExport.objects.create(
            requested_by=request.user,
            filters={name: request.POST.get(name, "") for name in form.fields},
        )
        enqueue_on_commit("cmer.audit.render_pdf_export", prepared.pk)  # by name: no circle
        return redirect("audit:export_status", pk=prepared.pk)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    searched = form.searched_reference()
    response = StreamingHttpResponse(
        csv_lines(
            labels.rows(entries[:limit].iterator(chunk_size=2000), reference=searched),
            reader=request.user,
        ),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="journal-audit-{stamp}.csv"'
    return response


def _own_export(request: AuthenticatedRequest, pk: int) -> AuditExport:
    access.require_dpo(request)
    return permissions.get_or_404(
        AuditExport.objects.filter(requested_by=request.user).defer("content"), request, pk=pk
    )


@require_GET
def export_status(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """ "En préparation" (the page reloads itself), then the download link."""
    prepared = _own_export(request, pk)
    return render(request, "audit/export_status.html", {"export": prepared})


@require_GET
def export_download(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    prepared = _own_export(request, pk)
    if prepared.status != AuditExport.Status.READY:
        return redirect("audit:export_status", pk=prepared.pk)
    stepup.require(request)
    content = AuditExport.objects.values_list("content", flat=True).get(pk=prepared.pk)
    if content is None:  # a ready export has its file; never serve an empty one
        raise Http404
    record_event(
        Event.EXPORT,
        request=request,
        target_model=AuditEntry,
        data={"what": "audit_pdf_download", "rows": prepared.rows},
    )
    response = HttpResponse(bytes(content), content_type="application/pdf")
    stamp = timezone.localtime(prepared.created_at).strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="journal-audit-{stamp}.pdf"'
    return response


@require_GET
def integrity(request: HttpRequest) -> HttpResponse:
    access.require_dpo(request)
    trail = health.trail_health()
    verification = trail.verification
    context = {
        "health": trail,
        "verification": verification,
        "problem_label": health.problem_label(verification.problem, verification.problem_position)
        if verification is not None and not verification.ok
        else "",
        "pending_age_seconds": int(trail.oldest_pending_age or 0),
        "checkpoints": AuditCheckpoint.objects.all()[:60],
        "run": VerificationRun.objects.select_related("result").first(),
    }
    return render(request, "audit/integrity.html", context)


@require_POST
def verify_now(request: AuthenticatedRequest) -> HttpResponse:
    """ "Vérifier maintenant": the worker verifies; the integrity page shows progress, then the
    result. One run at a time."""
    access.require_dpo(request)
    active = VerificationRun.objects.filter(
        status__in=[VerificationRun.Status.QUEUED, VerificationRun.Status.RUNNING]
    ).exists()
    if not active:
        run = VerificationRun.objects.create(requested_by=request.user)
        enqueue_on_commit("cmer.audit.verify_now", run.pk)
    return redirect("audit:integrity")


@require_GET
def checkpoints_download(request: HttpRequest) -> HttpResponse:
    """Every checkpoint, one signed line each: the DPO keeps this file outside the system and
    later gives it to ``verify_audit --checkpoints``. With none yet, the page says why."""
    access.require_dpo(request)
    lines = [c.line() for c in AuditCheckpoint.objects.order_by("created_at", "pk")]
    if not lines:
        messages.info(
            request,
            _(
                "Aucun point de contrôle n'a encore été signé : le premier l'est par la "
                "vérification de la nuit, ou par « Vérifier maintenant », si la chaîne est "
                "intacte. Il n'y a donc rien à télécharger pour l'instant."
            ),
        )
        return redirect("audit:integrity")
    record_event(
        Event.EXPORT,
        request=request,
        target_model=AuditCheckpoint,
        data={"what": "audit_checkpoints", "rows": len(lines)},
    )
    response = HttpResponse("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="points-de-controle-{stamp}.txt"'
    return response
