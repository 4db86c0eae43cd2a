"""Action items decided at a held meeting, and their follow-up by the owner or the referent."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from cmer.accounts.requests import AuthenticatedRequest
from conventions.gates import charter_required

from .. import access, actions
from ..forms import ActionItemForm, ActionStatusForm
from .common import apply, managed


@require_POST
@charter_required
def add_action(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    meeting = managed(request, pk)
    item = None
    if request.POST.get("agenda_item"):
        item = access.get_agenda_item(request, meeting, request.POST["agenda_item"])
    return apply(
        request,
        meeting,
        ActionItemForm(request.POST, owners=access.action_owners(meeting)),
        lambda data: actions.do_add_action_item(
            meeting, acting_user=request.user, agenda_item=item, **data
        ),
        success=_("Action ajoutée."),
        failure=_("Action non ajoutée :"),
        anchor="actions",
    )


@require_POST
@charter_required
def action_status(request: AuthenticatedRequest, pk: int, action_pk: int) -> HttpResponse:
    meeting, caps = access.get_meeting_for_user(request, pk)
    action = access.get_action_item(request, meeting, action_pk)
    access.require(caps.manage or action.owner_id == request.user.pk, request, meeting)
    return apply(
        request,
        meeting,
        ActionStatusForm(request.POST),
        lambda data: actions.do_set_action_status(action, acting_user=request.user, **data),
        success=_("État de l'action mis à jour."),
        failure=_("État non modifié :"),
        anchor="actions",
    )
