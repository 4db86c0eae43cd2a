"""Training views: thin. Reads through ``access``, writes through ``actions``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cmer import ratelimit
from cmer.audit.core import client_address, record_access, record_event
from cmer.audit.models import Event

from . import access, actions, outputs, stats
from .forms import (
    AttendanceForm,
    HeadcountForm,
    SessionForm,
    StatsFilterForm,
    UploadForm,
    VerifyForm,
)
from .models import Attendance, AttendanceImport, Attestation, AttestationBundle, TrainingSession
from .parsing import FIELD_LABELS, FileRefused, parse_attendance

PREVIEW_ROWS = 200
PREVIEW_PROBLEMS = 500
ATTENDANCE_PAGE = 200


def _require_coordinator(request: HttpRequest) -> None:
    if not access.can_manage_training(request.user):
        raise Http404


# Sessions ------------------------------------------------------------------------------------


@require_GET
def session_list(request: HttpRequest) -> HttpResponse:
    _require_coordinator(request)
    sessions = list(access.session_list_for(request.user))
    return render(request, "training/session_list.html", {"sessions": sessions})


@require_http_methods(["GET", "POST"])
def session_create(request: HttpRequest) -> HttpResponse:
    _require_coordinator(request)
    form = SessionForm(request.POST or None, user=request.user)
    if request.method == "GET" and request.commune is not None:
        form.initial["scope"] = f"c:{request.commune.pk}"
    if request.method == "POST" and form.is_valid():
        session = actions.do_create_session(
            form.save(commit=False), scope=form.cleaned_data["scope"], acting_user=request.user
        )
        messages.success(request, _("Session créée."))
        return redirect("training:detail", pk=session.pk)
    return render(
        request, "training/session_form.html", {"form": form, "title": _("Nouvelle session")}
    )


@require_GET
def session_detail(request: HttpRequest, pk: int) -> HttpResponse:
    session = access.get_session_for_user(request, pk)
    attendances = session.attendances.select_related("trainee", "attestation").order_by(
        "trainee__last_name", "trainee__first_name", "pk"
    )
    page = Paginator(attendances, ATTENDANCE_PAGE).get_page(request.GET.get("page"))
    record_access(request, session, what="attendance")
    counts = {
        status: session.attendances.filter(status=status).count()
        for status in Attendance.Status.values
    }
    context = {
        "session": session,
        "page": page,
        "counts": counts,
        "imports": session.imports.select_related("created_by").order_by("-created_at")[:10],
        "bundles": session.bundles.order_by("-requested_at")[:5],
        "can_mark_held": actions.can_mark_held(session),
        "can_import": actions.can_import_attendance(session),
        "can_attest": actions.can_issue_attestations(session),
    }
    return render(request, "training/session_detail.html", context)


@require_http_methods(["GET", "POST"])
def session_edit(request: HttpRequest, pk: int) -> HttpResponse:
    session = access.get_session_for_user(request, pk)
    form = SessionForm(request.POST or None, instance=session, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            actions.do_update_session(
                form.save(commit=False), scope=form.cleaned_data["scope"], acting_user=request.user
            )
        except actions.ActionRefused as refusal:
            form.add_error("scope", str(refusal))
        else:
            messages.success(request, _("Session modifiée."))
            return redirect("training:detail", pk=session.pk)
    return render(
        request,
        "training/session_form.html",
        {"form": form, "title": _("Modifier la session"), "session": session},
    )


@require_POST
def session_mark_held(request: HttpRequest, pk: int) -> HttpResponse:
    session = access.get_session_for_user(request, pk)
    try:
        actions.do_mark_session_held(session, acting_user=request.user)
    except actions.ActionRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, _("Session marquée comme tenue."))
    return redirect("training:detail", pk=session.pk)


# Attendance import ---------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest, pk: int) -> HttpResponse:
    session = access.get_session_for_user(request, pk)
    decision = actions.can_import_attendance(session)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and decision and form.is_valid():
        upload = form.cleaned_data["file"]
        data = upload.read()
        try:
            parsed = parse_attendance(data, upload.name, session.date)
        except FileRefused as refusal:
            form.add_error("file", str(refusal))
        else:
            try:
                staged = actions.do_stage_import(
                    session,
                    data=data,
                    filename=upload.name,
                    parsed=parsed,
                    acting_user=request.user,
                )
            except ValidationError as refusal:  # the antivirus refused it or could not scan it
                form.add_error("file", refusal)
            else:
                return redirect("training:import_preview", pk=staged.pk)
    context = {"session": session, "form": form, "decision": decision}
    return render(request, "training/import_form.html", context)


@require_GET
def import_preview(request: HttpRequest, pk: int) -> HttpResponse:
    staged = access.get_import_for_user(request, pk)
    record_access(request, staged, what="import_preview")
    plan = actions.plan_import(staged) if staged.state == AttendanceImport.State.PREVIEW else None
    earlier = (
        AttendanceImport.objects.filter(
            session=staged.session, sha256=staged.sha256, state=AttendanceImport.State.CONFIRMED
        )
        .exclude(pk=staged.pk)
        .order_by("-confirmed_at")
        .first()
    )
    context = {
        "staged": staged,
        "session": staged.session,
        "plan": plan,
        "rows": staged.rows[:PREVIEW_ROWS],
        "more_rows": max(0, len(staged.rows) - PREVIEW_ROWS),
        "rejected": staged.rejected[:PREVIEW_PROBLEMS],
        "duplicates": _with_conflict_labels(staged.duplicates[:PREVIEW_PROBLEMS]),
        # Labels in the reader's language (the stored ones are the uploader's), in one fixed
        # order: PostgreSQL's jsonb does not keep the keys' order.
        "columns": [label for name, label in FIELD_LABELS.items() if name in staged.columns],
        "earlier": earlier,
        "status_labels": dict(Attendance.Status.choices),
    }
    return render(request, "training/import_preview.html", context)


def _with_conflict_labels(duplicates: list[dict]) -> list[dict]:
    """Duplicates for the preview: a conflict's two statuses in the reader's language."""
    labels = dict(Attendance.Status.choices)
    shown = []
    for item in duplicates:
        statuses = item.get("statuses")
        conflict = [str(labels.get(s, s)) for s in statuses] if statuses else None
        shown.append({**item, "conflict": conflict})
    return shown


@require_POST
def import_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue the import (the worker applies it) and follow it on its status page."""
    staged = access.get_import_for_user(request, pk)
    try:
        actions.do_request_confirm_import(staged, acting_user=request.user)
    except actions.ActionRefused as refusal:
        messages.error(request, str(refusal))
        return redirect("training:import_preview", pk=staged.pk)
    return redirect("training:import_status", pk=staged.pk)


@require_GET
def import_status(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Being imported → result": the page polls itself (JSON) while the worker applies it."""
    staged = access.get_import_for_user(request, pk)
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"state": staged.state})
    context = {
        "staged": staged,
        "session": staged.session,
        "failed": staged.state == AttendanceImport.State.PREVIEW and bool(staged.failure),
        "generic_failure": staged.failure == actions.FAILURE_ERROR,
    }
    return render(request, "training/import_status.html", context)


@require_POST
def import_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    staged = access.get_import_for_user(request, pk)
    try:
        actions.do_cancel_import(staged, acting_user=request.user)
    except actions.ActionRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.info(request, _("Import abandonné : rien n'a été enregistré."))
    return redirect("training:detail", pk=staged.session_id)


@require_GET
def import_file(request: HttpRequest, pk: int) -> FileResponse:
    staged = access.get_import_for_user(request, pk)
    if not staged.file or staged.state == AttendanceImport.State.CANCELLED:
        raise Http404
    record_access(request, staged, what="import_original_file")
    return FileResponse(
        staged.file.open("rb"),
        as_attachment=True,
        filename=f"presences-import-{staged.pk}.{staged.file_format}",
    )


@require_http_methods(["GET", "POST"])
def attendance_edit(request: HttpRequest, pk: int) -> HttpResponse:
    attendance = access.get_attendance_for_user(request, pk)
    form = AttendanceForm(request.POST or None, instance=attendance)
    if request.method == "POST" and form.is_valid():
        actions.do_update_attendance(form.save(commit=False), acting_user=request.user)
        messages.success(request, _("Présence modifiée."))
        return redirect("training:detail", pk=attendance.session_id)
    context = {"form": form, "attendance": attendance, "session": attendance.session}
    return render(request, "training/attendance_form.html", context)


# Sign-in sheet -------------------------------------------------------------------------------

SIGN_IN_SHEET_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


@require_GET
def sign_in_sheet(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    """The session's attendance list as CSV, XLSX or PDF: names the reader, audited.

    An ordinary view (a step-up decorator may wrap it); the format comes from the URL.
    """
    if fmt not in SIGN_IN_SHEET_TYPES:
        raise Http404
    session = access.get_session_for_user(request, pk)
    sheet = outputs.sign_in_sheet(session, reader=request.user)
    record_event(
        Event.EXPORT,
        request=request,
        target=session,
        data={"what": "sign_in_sheet", "format": fmt, "rows": len(sheet.rows)},
    )
    render = {
        "csv": outputs.sign_in_sheet_csv,
        "xlsx": outputs.sign_in_sheet_xlsx,
        "pdf": outputs.sign_in_sheet_pdf,
    }[fmt]
    response = HttpResponse(render(sheet), content_type=SIGN_IN_SHEET_TYPES[fmt])
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = (
        f'attachment; filename="emargement-session-{session.pk}-{stamp}.{fmt}"'
    )
    return response


# Attestations --------------------------------------------------------------------------------


@require_GET
def attestation_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    attendance = access.get_attendance_for_user(request, pk)
    session = attendance.session
    if attendance.status != Attendance.Status.PRESENT or not actions.can_issue_attestations(
        session
    ):
        raise Http404
    pdf = actions.render_attestations(session, [attendance])
    attestation = Attestation.objects.get(attendance=attendance)
    record_access(request, attestation, what="attestation_pdf")
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="attestation-{attestation.code}.pdf"'
    return response


@require_POST
def bundle_request(request: HttpRequest, pk: int) -> HttpResponse:
    session = access.get_session_for_user(request, pk)
    try:
        bundle = actions.do_request_bundle(session, acting_user=request.user)
    except actions.ActionRefused as refusal:
        messages.error(request, str(refusal))
        return redirect("training:detail", pk=session.pk)
    return redirect("training:bundle_status", pk=bundle.pk)


@require_GET
def bundle_status(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Being prepared → download": the page polls itself (JSON) while the task works."""
    bundle = access.get_bundle_for_user(request, pk)
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"state": bundle.state})
    context = {
        "bundle": bundle,
        "session": bundle.session,
        "can_attest": actions.can_issue_attestations(bundle.session),
    }
    return render(request, "training/bundle_status.html", context)


@require_GET
def bundle_download(request: HttpRequest, pk: int) -> FileResponse:
    bundle = access.get_bundle_for_user(request, pk)
    if bundle.state != AttestationBundle.State.READY or not bundle.file:
        raise Http404
    record_access(request, bundle, what="attestations_zip")
    return FileResponse(
        bundle.file.open("rb"),
        as_attachment=True,
        filename=f"attestations-session-{bundle.session_id}.zip",
        content_type="application/zip",
    )


# The public verification: a few checks a minute is what a person does; a script trying codes
# is stopped long before it could find one (12 symbols of 31: 60 bits).
VERIFY_LIMIT = 20
VERIFY_WINDOW = 600


@login_not_required
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """Anyone checks an attestation's code (POST: the code stays out of URLs and logs).

    Public, since the attestation tells its reader to check it here; shows only what the
    attestation states, limited per client address, every check in the audit trail.
    """
    form = VerifyForm(request.POST or None)
    context: dict = {"form": form, "checked": False, "found": None, "limited": None}
    if request.method == "POST":
        decision = ratelimit.hit(
            "training-verify",
            client_address(request) or "-",
            limit=VERIFY_LIMIT,
            window=VERIFY_WINDOW,
        )
        if not decision.allowed:
            if decision.first_refusal:
                record_event(
                    Event.DENIED,
                    request=request,
                    target_model=Attestation,
                    data={"what": "attestation_verification", "reason": "rate_limited"},
                )
            context["limited"] = max(1, round(decision.retry_after / 60))
            response = render(request, "training/verify.html", context, status=429)
            response["Retry-After"] = str(decision.retry_after)
            return response
        if form.is_valid():
            context["checked"] = True
            found = access.attestation_by_code(form.cleaned_data["code"])
            context["found"] = found
            if found is None:
                record_event(
                    Event.ACCESS,
                    request=request,
                    target_model=Attestation,
                    data={"what": "attestation_verification", "result": "unknown"},
                )
            else:
                context["withdrawn"] = found.withdrawn_at is not None or (
                    found.attendance.status != Attendance.Status.PRESENT
                )
                result = "withdrawn" if context["withdrawn"] else "valid"
                record_access(
                    request, found, what="attestation_verification", data={"result": result}
                )
    return render(request, "training/verify.html", context)


# Statistics ----------------------------------------------------------------------------------


def _stats_for(request: HttpRequest) -> tuple[StatsFilterForm, stats.Stats, dict]:
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
def stats_page(request: HttpRequest) -> HttpResponse:
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


def _export(request: HttpRequest, fmt: str) -> HttpResponse:
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
def stats_export_csv(request: HttpRequest) -> HttpResponse:
    return _export(request, "csv")


@require_GET
def stats_export_xlsx(request: HttpRequest) -> HttpResponse:
    return _export(request, "xlsx")


@require_http_methods(["GET", "POST"])
def headcounts(request: HttpRequest) -> HttpResponse:
    _require_coordinator(request)
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
def headcount_delete(request: HttpRequest, pk: int) -> HttpResponse:
    from cmer.permissions import get_or_404

    row = get_or_404(access.headcounts_managed_by(request.user), request, pk=pk)
    actions.do_delete_headcount(row, acting_user=request.user)  # type: ignore[arg-type]
    messages.success(request, _("Effectif supprimé."))
    return redirect("training:headcounts")
