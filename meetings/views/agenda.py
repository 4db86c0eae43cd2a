"""The agenda: topics and referrals (under a pseudonym), then notes and decisions on each item."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from cmer.accounts.requests import AuthenticatedRequest
from conventions.gates import charter_required

from .. import access, actions
from ..forms import DecisionForm, NotesForm, ReferralItemForm, TopicForm
from .common import apply, managed


@require_POST
@charter_required
def add_topic(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    meeting = managed(request, pk)
    return apply(
        request,
        meeting,
        TopicForm(request.POST),
        lambda data: actions.do_add_topic(meeting, acting_user=request.user, **data),
        success=_("Sujet ajouté à l'ordre du jour."),
        failure=_("Sujet non ajouté :"),
        anchor="agenda",
    )


@require_POST
@charter_required
def add_referral(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    meeting = managed(request, pk)
    return apply(
        request,
        meeting,
        ReferralItemForm(request.POST),
        lambda data: actions.do_add_referral_item(meeting, acting_user=request.user, **data),
        success=_("Signalement ajouté à l'ordre du jour (sous pseudonyme)."),
        failure=_("Signalement non ajouté :"),
        anchor="agenda",
    )


@require_POST
@charter_required
def save_notes(request: AuthenticatedRequest, pk: int, item_pk: int) -> HttpResponse:
    meeting = managed(request, pk)
    item = access.get_agenda_item(request, meeting, item_pk)
    return apply(
        request,
        meeting,
        NotesForm(request.POST),
        lambda data: actions.do_save_notes(item, acting_user=request.user, **data),
        success=_("Notes enregistrées."),
        failure=_("Notes non enregistrées :"),
        anchor=f"item-{item.pk}",
    )


@require_POST
@charter_required
def add_decision(request: AuthenticatedRequest, pk: int, item_pk: int) -> HttpResponse:
    meeting = managed(request, pk)
    item = access.get_agenda_item(request, meeting, item_pk)
    return apply(
        request,
        meeting,
        DecisionForm(request.POST),
        lambda data: actions.do_add_decision(item, acting_user=request.user, **data),
        success=_("Décision enregistrée."),
        failure=_("Décision non enregistrée :"),
        anchor=f"item-{item.pk}",
    )
