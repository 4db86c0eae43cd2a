"""Who was there: external participants and the attendance of every invitee."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from cmer.accounts.requests import AuthenticatedRequest
from conventions.gates import charter_required

from .. import access, actions
from ..forms import ExternalForm
from .common import apply, back_to_detail, errors, managed


@require_POST
@charter_required
def add_external(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    meeting = managed(request, pk)
    return apply(
        request,
        meeting,
        ExternalForm(request.POST),
        lambda data: actions.do_add_external(meeting, acting_user=request.user, **data),
        success=_("Participant extérieur ajouté."),
        failure=_("Participant non ajouté :"),
        anchor="attendance",
    )


@require_POST
@charter_required
def remove_external(request: AuthenticatedRequest, pk: int, external_pk: int) -> HttpResponse:
    meeting = managed(request, pk)
    external = access.get_external(request, meeting, external_pk)
    try:
        actions.do_remove_external(external, acting_user=request.user)
        messages.success(request, _("Participant extérieur retiré."))
    except ValidationError as exc:
        messages.error(request, errors(exc))
    return back_to_detail(meeting)


def _attendance_values(request: AuthenticatedRequest, prefix: str) -> dict[int, str]:
    values: dict[int, str] = {}
    for key, value in request.POST.items():
        if key.startswith(prefix):
            try:
                # A posted key's last value: a string (the stubs allow the empty list a
                # MultiValueDict may hold when code sets one; a request's POST never does).
                values[int(key.removeprefix(prefix))] = cast(str, value)
            except ValueError as exc:
                raise ValidationError(_("Valeur de présence inconnue.")) from exc
    return values


@require_POST
@charter_required
def record_attendance(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    meeting = managed(request, pk)
    try:
        actions.do_record_attendance(
            meeting,
            invitations=_attendance_values(request, "invitation-"),
            externals=_attendance_values(request, "external-"),
            acting_user=request.user,
        )
        messages.success(request, _("Présences enregistrées."))
    except ValidationError as exc:
        messages.error(request, _("Présences non enregistrées :") + " " + errors(exc))
    return back_to_detail(meeting, "attendance")
