"""Statistics, their exports, and the headcounts they rest on."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cmer.accounts.requests import AuthenticatedRequest
from cmer.audit.core import record_event
from cmer.audit.models import Event

from .. import access, actions, stats
from ..forms import (
    HeadcountForm,
    StatsFilterForm,
)
from ..models import TrainingSession

# Statistics ----------------------------------------------------------------------------------


def _stats_for(request: AuthenticatedRequest) -> tuple[StatsFilterForm, stats.Stats, dict]:
    if not access.can_view_stats(request.user):
        raise Http404
    form = StatsFilterForm(request.GET or None, user=request.user)
    sessions = access.stats_sessions_for(request.user)
    headcounts = access.headcounts_visible_to(request.user)
    year = None
    scope = ""
    if form.is_valid():
        year = form.cleaned_data.get("year")
        scope = form.cleaned_data.get("scope") or ""
        kind, _sep, raw = scope.partition(":")
        if kind == "c":
            sessions = sessions.filter(commune_id=int(raw))
            headcounts = headcounts.filter(commune_id=int(raw))
        elif kind == "d":
            sessions = sessions.filter(department_id=int(raw))
            headcounts = headcounts.filter(department_id=int(raw))
    result = stats.compute_stats(sessions, headcounts, year)
    return form, result, {"year": year, "scope": scope}


@require_GET
def stats_page(request: AuthenticatedRequest) -> HttpResponse:
    form, result, filters = _stats_for(request)
    context = {
        "form": form,
        "stats": result,
        "chart": stats.bar_chart(result.per_year),
        "filters": filters,
        "query": request.GET.urlencode(),
        "can_manage": access.can_manage_training(request.user),
    }
    return render(request, "training/stats.html", context)


def _export(request: AuthenticatedRequest, fmt: str) -> HttpResponse:
    _form, result, filters = _stats_for(request)
    record_event(
        Event.EXPORT,
        request=request,
        target_model=TrainingSession,
        data={"what": "training_stats", "format": fmt, **{k: v for k, v in filters.items() if v}},
    )
    stamp = timezone.localdate().isoformat()
    if fmt == "csv":
        response = HttpResponse(stats.export_csv(result), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(
            stats.export_xlsx(result),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    response["Content-Disposition"] = f'attachment; filename="statistiques-formation-{stamp}.{fmt}"'
    return response


@require_GET
def stats_export_csv(request: AuthenticatedRequest) -> HttpResponse:
    return _export(request, "csv")


@require_GET
def stats_export_xlsx(request: AuthenticatedRequest) -> HttpResponse:
    return _export(request, "xlsx")


@require_http_methods(["GET", "POST"])
def headcounts(request: AuthenticatedRequest) -> HttpResponse:
    access.require_coordinator(request)
    form = HeadcountForm(request.POST or None, user=request.user)
    if request.method == "GET" and request.commune is not None:
        form.initial["scope"] = f"c:{request.commune.pk}"
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        actions.do_save_headcount(
            scope=data["scope"],
            year=data["year"],
            service=data["service"],
            headcount=data["headcount"],
            acting_user=request.user,
        )
        messages.success(request, _("Effectif enregistré."))
        return redirect("training:headcounts")
    rows = access.headcounts_managed_by(request.user).select_related("commune", "department")
    return render(request, "training/headcounts.html", {"form": form, "rows": rows})


@require_POST
def headcount_delete(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    from cmer.permissions import get_or_404

    row = get_or_404(access.headcounts_managed_by(request.user), request, pk=pk)
    actions.do_delete_headcount(row, acting_user=request.user)
    messages.success(request, _("Effectif supprimé."))
    return redirect("training:headcounts")
