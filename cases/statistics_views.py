"""Referral statistics pages and their CSV export: thin, rules in ``cases.statistics``.

A referent sees their commune, a liaison their department; anyone else, another commune or a
guessed id: 404. Counts only (no personal data); the CSV export is recorded in the trail.
"""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from cmer import stats
from cmer.accounts.requests import AuthenticatedRequest
from cmer.audit.core import record_event
from cmer.audit.models import Event

from . import statistics
from .models import Referral


def _year(request: AuthenticatedRequest) -> int:
    this_year = timezone.localdate().year
    try:
        year = int(request.GET.get("annee", this_year))
    except ValueError:
        return this_year
    return year if 2000 <= year <= this_year else this_year


def _scope(request: AuthenticatedRequest, kind: str, pk: int) -> statistics.Scope:
    if kind == "commune":
        return statistics.commune_scope_for(request.user, pk)
    if kind == "departement":
        return statistics.department_scope_for(request.user, pk)
    raise Http404


def _dimension(request: AuthenticatedRequest) -> str:
    return request.GET.get("par", "statut")


@require_GET
def index(request: AuthenticatedRequest) -> HttpResponse:
    target = statistics.default_scope_url_args(request.user, getattr(request, "commune", None))
    if target is None:
        raise Http404
    return redirect("statistics:page", kind=target[0], pk=target[1])


@require_GET
def page(request: AuthenticatedRequest, kind: str, pk: int) -> HttpResponse:
    scope = _scope(request, kind, pk)
    year = _year(request)
    result = statistics.compute(scope, year, _dimension(request))
    this_year = timezone.localdate().year
    context = {
        "scope": scope,
        "result": result,
        "dimensions": [(d, statistics.DIMENSIONS[d]) for d in scope.dimensions],
        "years": list(range(this_year, this_year - 6, -1)),
        "legend": stats.LEGEND,
    }
    return render(request, "statistics/page.html", context)


@require_GET
def export_csv(request: AuthenticatedRequest, kind: str, pk: int) -> HttpResponse:
    scope = _scope(request, kind, pk)
    year = _year(request)
    result = statistics.compute(scope, year, _dimension(request))
    record_event(
        Event.EXPORT,
        request=request,
        target_model=Referral,
        data={
            "what": "referral_statistics",
            "format": "csv",
            "scope": f"{kind}:{pk}",
            "year": year,
            "by": result.dimension,
        },
        commune=scope.pk if kind == "commune" else None,
    )
    response = HttpResponse(
        statistics.export_csv(result, scope), content_type="text/csv; charset=utf-8"
    )
    name = f"statistiques-{kind}-{pk}-{year}-{result.dimension}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
def report_pdf(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """The cell's annual activity report. Two pages of counts render in well under a second
    (a few tables, no rows per person), so in the request, unlike the 2,000-row audit export."""
    from cmer.pdf import render_pdf

    scope = statistics.report_scope_for(request.user, pk)
    year = _year(request)
    report = statistics.activity_report(scope, year)
    content = render_pdf(
        "statistics/report_pdf.html",
        {
            "report": report,
            "legend": stats.LEGEND,
            "user": request.user,
            "generated_at": timezone.localtime(),
        },
    )
    record_event(
        Event.EXPORT,
        request=request,
        target_model=Referral,
        data={"what": "activity_report", "format": "pdf", "year": year},
        commune=pk,
    )
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="rapport-activite-{pk}-{year}.pdf"'
    return response
