"""The minutes: review by the invitees, corrections, approval (which locks), addenda."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from cmer.accounts.requests import AuthenticatedRequest
from conventions.gates import charter_required

from .. import access, actions
from ..forms import AddendumForm, CorrectionForm, ReviewForm
from .common import apply, back_to_detail, errors, managed


@require_POST
@charter_required
def send_for_review(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    meeting = managed(request, pk)
    return apply(
        request,
        meeting,
        ReviewForm(request.POST),
        lambda data: actions.do_send_for_review(meeting, acting_user=request.user, **data),
        success=_("Compte rendu envoyé en relecture aux personnes invitées."),
        failure=_("Relecture non lancée :"),
        anchor="minutes",
    )


@require_POST
@charter_required
def propose_correction(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    meeting, caps = access.get_meeting_for_user(request, pk)
    access.require(caps.invited, request, meeting)
    return apply(
        request,
        meeting,
        CorrectionForm(request.POST),
        lambda data: actions.do_propose_correction(meeting, acting_user=request.user, **data),
        success=_("Correction proposée au président de séance."),
        failure=_("Correction non enregistrée :"),
        anchor="minutes",
    )


@require_POST
@charter_required
def approve(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    meeting = managed(request, pk)
    try:
        actions.do_approve_minutes(meeting, acting_user=request.user)
        messages.success(
            request, _("Compte rendu approuvé et verrouillé ; le PDF est en préparation.")
        )
    except ValidationError as exc:
        messages.error(request, _("Compte rendu non approuvé :") + " " + errors(exc))
    return back_to_detail(meeting, "minutes")


@require_POST
@charter_required
def add_addendum(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    meeting = managed(request, pk)
    return apply(
        request,
        meeting,
        AddendumForm(request.POST),
        lambda data: actions.do_add_addendum(meeting, acting_user=request.user, **data),
        success=_("Additif ajouté ; une nouvelle version du PDF est en préparation."),
        failure=_("Additif non enregistré :"),
        anchor="minutes",
    )
