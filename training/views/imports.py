"""Attendance import: upload, preview, confirmation queued for the worker, its status page."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cmer.accounts import stepup
from cmer.accounts.requests import AuthenticatedRequest
from cmer.audit.core import record_access

from .. import access, actions
from ..forms import (
    UploadForm,
)
from ..models import Attendance, AttendanceImport
from ..parsing import FIELD_LABELS, FileRefused, parse_attendance

PREVIEW_ROWS = 200
PREVIEW_PROBLEMS = 500

# Attendance import ---------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def import_upload(request: AuthenticatedRequest, pk: int) -> HttpResponse:
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
def import_preview(request: AuthenticatedRequest, pk: int) -> HttpResponse:
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
def import_confirm(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Queue the import (the worker applies it) and follow it on its status page."""
    staged = access.get_import_for_user(request, pk)
    try:
        actions.do_request_confirm_import(staged, acting_user=request.user)
    except actions.ActionRefused as refusal:
        messages.error(request, str(refusal))
        return redirect("training:import_preview", pk=staged.pk)
    return redirect("training:import_status", pk=staged.pk)


@require_GET
def import_status(request: AuthenticatedRequest, pk: int) -> HttpResponse:
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
def import_cancel(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    staged = access.get_import_for_user(request, pk)
    try:
        actions.do_cancel_import(staged, acting_user=request.user)
    except actions.ActionRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.info(request, _("Import abandonné : rien n'a été enregistré."))
    return redirect("training:detail", pk=staged.session_id)


@require_GET
def import_file(request: AuthenticatedRequest, pk: int) -> FileResponse:
    staged = access.get_import_for_user(request, pk)
    if not staged.file or staged.state == AttendanceImport.State.CANCELLED:
        raise Http404
    stepup.require(request)
    record_access(request, staged, what="import_original_file")
    return FileResponse(
        staged.file.open("rb"),
        as_attachment=True,
        filename=f"presences-import-{staged.pk}.{staged.file_format}",
    )
