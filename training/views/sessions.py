"""Sessions: list, create, detail, edit, mark held; an attendance edited; the sign-in sheet."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cmer.accounts import stepup
from cmer.accounts.requests import AuthenticatedRequest
from cmer.audit.core import record_access, record_event
from cmer.audit.models import Event

from .. import access, actions, outputs
from ..forms import (
    AttendanceForm,
    SessionForm,
)
from ..models import Attendance

ATTENDANCE_PAGE = 200

# Sessions ------------------------------------------------------------------------------------


@require_GET
def session_list(request: AuthenticatedRequest) -> HttpResponse:
    access.require_coordinator(request)
    sessions = list(access.session_list_for(request.user))
    return render(request, "training/session_list.html", {"sessions": sessions})


@require_http_methods(["GET", "POST"])
def session_create(request: AuthenticatedRequest) -> HttpResponse:
    access.require_coordinator(request)
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
def session_detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
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
def session_edit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
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
def session_mark_held(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    session = access.get_session_for_user(request, pk)
    try:
        actions.do_mark_session_held(session, acting_user=request.user)
    except actions.ActionRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, _("Session marquée comme tenue."))
    return redirect("training:detail", pk=session.pk)


@require_http_methods(["GET", "POST"])
def attendance_edit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
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
def sign_in_sheet(request: AuthenticatedRequest, pk: int, fmt: str) -> HttpResponse:
    """The session's attendance list as CSV, XLSX or PDF: names the reader, audited.

    Behind step-up (``cmer.accounts.stepup``); the format comes from the URL.
    """
    if fmt not in SIGN_IN_SHEET_TYPES:
        raise Http404
    session = access.get_session_for_user(request, pk)
    # Names and e-mails leave the application: a fresh code first (after the access check, so
    # that someone who may not see the session gets the same 404).
    stepup.require(request)
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
