"""Planning a meeting: plan, change (date, place, chair, invitees), cancel, mark held."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from cmer.accounts.requests import AuthenticatedRequest
from cmer.audit.core import record_access
from conventions.gates import charter_required

from .. import access, actions
from ..forms import CancelForm, MeetingForm
from .common import apply, errors, managed


def _meeting_form(request: AuthenticatedRequest, commune: Any, **kwargs: Any) -> MeetingForm:
    return MeetingForm(
        request.POST or None,
        chairs=access.chair_choices(commune),
        invitable=access.invitable_users(commune),
        **kwargs,
    )


@require_http_methods(["GET", "POST"])
@charter_required
def meeting_create(request: AuthenticatedRequest) -> HttpResponse:
    commune = request.commune
    if commune is None or not access.may_plan_in(request.user, commune):
        raise Http404
    form = _meeting_form(request, commune, initial={"chair": request.user.pk})
    if request.method == "POST" and form.is_valid():
        try:
            meeting = actions.do_plan_meeting(
                commune=commune, acting_user=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_error(None, errors(exc))
        else:
            messages.success(request, _("Réunion planifiée ; les invitations partent par e-mail."))
            return redirect("meetings:detail", pk=meeting.pk)
    return render(request, "meetings/meeting_form.html", {"form": form, "commune": commune})


@require_http_methods(["GET", "POST"])
@charter_required
def meeting_edit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    meeting = managed(request, pk)
    if request.method == "GET":
        record_access(request, meeting, what="edit_form")
    initial = {
        "starts_at": timezone.localtime(meeting.starts_at),
        "duration_minutes": meeting.duration_minutes,
        "place": meeting.place,
        "chair": meeting.chair_id,
        "invitees": access.active_invitee_ids(meeting),
    }
    form = _meeting_form(request, meeting.commune, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            actions.do_reschedule_meeting(meeting, acting_user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            # A refusal about one field (the chair) is shown under that field.
            form.add_error(None, exc if hasattr(exc, "error_dict") else errors(exc))
        else:
            messages.success(
                request, _("Réunion modifiée ; les personnes invitées sont prévenues.")
            )
            return redirect("meetings:detail", pk=meeting.pk)
    context = {"form": form, "commune": meeting.commune, "meeting": meeting}
    return render(request, "meetings/meeting_form.html", context)


@require_POST
@charter_required
def meeting_cancel(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    meeting = managed(request, pk)
    return apply(
        request,
        meeting,
        CancelForm(request.POST),
        lambda data: actions.do_cancel_meeting(meeting, acting_user=request.user, **data),
        success=_("Réunion annulée ; les personnes invitées sont prévenues."),
        failure=_("Réunion non annulée :"),
    )


@require_POST
@charter_required
def mark_held(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    meeting = managed(request, pk)
    try:
        actions.do_mark_held(meeting, acting_user=request.user)
        messages.success(request, _("Réunion indiquée comme tenue : rédigez le compte rendu."))
    except ValidationError as exc:
        messages.error(request, errors(exc))
    return redirect("meetings:detail", pk=meeting.pk)
