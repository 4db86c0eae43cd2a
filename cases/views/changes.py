"""POST actions on a referral (notes, addenda, status, archive, grants, transmission,
feedback): each a valid form, an action of ``cases.actions``, a message, back to the page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from cmer.accounts.requests import AuthenticatedRequest
from cmer.audit.core import record_access
from conventions.gates import charter_required

from .. import access, actions
from ..forms import (
    AddendumForm,
    FeedbackForm,
    GrantForm,
    RevokeForm,
    StatusForm,
    TimelineEntryForm,
    TransmitForm,
)
from ..models import Referral
from .common import _errors
from .detail import _render_detail


def _post_action(request: AuthenticatedRequest, pk: int, condition: str) -> tuple[Referral, Any]:
    referral, caps = access.get_referral_for_user(request, pk)
    access.require(bool(getattr(caps, condition)) and not caps.via_archive, request, referral)
    return referral, caps


def _apply_form(
    request: AuthenticatedRequest,
    referral: Referral,
    form: Any,
    action: Callable[[dict[str, Any]], object],
    *,
    success: str,
    failure: str,
    slot: str | None = None,
    caps: access.Capabilities | None = None,
) -> HttpResponse:
    """The shape of every POST on a referral: valid form → action → message → back to detail.

    A form with errors is shown again in its place on the detail page (``slot``: its name in
    the page's context), with DSFR's error markup and the focus on it, rather than as a
    message far from the field; nothing is written.
    """
    if form.is_valid():
        try:
            action(form.cleaned_data)
            messages.success(request, success)
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        return redirect("cases:detail", pk=referral.pk)
    if slot is not None and caps is not None and not caps.sees_status_only:
        form.cmer_focus = True
        record_access(request, referral, what="detail")
        return _render_detail(request, referral, caps, bound={slot: form}, status=400)
    details = " ".join(str(e) for errors in form.errors.values() for e in errors)
    messages.error(request, f"{failure} {details}")
    return redirect("cases:detail", pk=referral.pk)


@require_POST
@charter_required
def add_note(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    referral, caps = _post_action(request, pk, "add_note")
    return _apply_form(
        request,
        referral,
        TimelineEntryForm(request.POST, auto_id="note_%s"),
        lambda data: actions.do_add_timeline_entry(
            referral, kind=data["kind"], text=data["text"], acting_user=request.user
        ),
        success=_("Entrée ajoutée au suivi."),
        failure=_("Entrée non enregistrée :"),
        slot="note_form",
        caps=caps,
    )


@require_POST
def add_addendum(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    referral, caps = _post_action(request, pk, "add_addendum")
    return _apply_form(
        request,
        referral,
        AddendumForm(request.POST, auto_id="addendum_%s"),
        lambda data: actions.do_add_addendum(referral, acting_user=request.user, **data),
        success=_("Complément ajouté après le texte d'origine."),
        failure=_("Complément non enregistré :"),
        slot="addendum_form",
        caps=caps,
    )


@require_POST
@charter_required
def change_status(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    referral, caps = _post_action(request, pk, "manage")
    allowed = actions.MANUAL_TRANSITIONS.get(referral.status, set())
    return _apply_form(
        request,
        referral,
        StatusForm(request.POST, allowed=allowed, auto_id="status_%s"),
        lambda data: actions.do_change_status(referral, acting_user=request.user, **data),
        success=_("Statut mis à jour."),
        failure=_("Statut non modifié :"),
        slot="status_form",
        caps=caps,
    )


@require_POST
@charter_required
def archive_referral(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    referral, _caps = _post_action(request, pk, "manage")
    try:
        actions.do_archive_referral(referral, acting_user=request.user)
        messages.success(request, _("Signalement archivé."))
        return redirect("cases:list")
    except ValidationError as exc:
        messages.error(request, _errors(exc))
        return redirect("cases:detail", pk=referral.pk)


@require_POST
@charter_required
def grant_access(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    referral, caps = _post_action(request, pk, "manage")
    return _apply_form(
        request,
        referral,
        GrantForm(request.POST, members=actions.grantable_members(referral), auto_id="grant_%s"),
        lambda data: actions.do_grant_access(referral, acting_user=request.user, **data),
        success=_("Accès accordé."),
        failure=_("Accès non accordé :"),
        slot="grant_form",
        caps=caps,
    )


@require_POST
@charter_required
def revoke_access(request: AuthenticatedRequest, pk: int, grant_pk: int) -> HttpResponse:
    referral, caps = _post_action(request, pk, "manage")
    grant = access.get_grant(request, referral, grant_pk)
    form = RevokeForm(request.POST, auto_id=f"revoke{grant.pk}_%s")
    form.grant_pk = grant.pk
    return _apply_form(
        request,
        referral,
        form,
        lambda data: actions.do_revoke_access(grant, acting_user=request.user, **data),
        success=_("Accès retiré."),
        failure=_("Accès non retiré :"),
        slot="revoke_form",
        caps=caps,
    )


@require_http_methods(["GET", "POST"])
@charter_required
def transmit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    referral, _caps = _post_action(request, pk, "manage")
    decision = access.can_transmit(referral)
    form = TransmitForm(request.POST or None)
    if request.method == "POST" and decision and form.is_valid():
        try:
            actions.do_transmit(
                referral,
                items=form.cleaned_data["items"],
                reason=form.cleaned_data["reason"],
                acting_user=request.user,
            )
            messages.success(request, _("Signalement transmis à la préfecture."))
            return redirect("cases:detail", pk=referral.pk)
        except ValidationError as exc:
            form.add_error(None, _errors(exc))
    context = {"referral": referral, "form": form, "decision": decision}
    return render(request, "cases/transmit.html", context)


@require_POST
@charter_required
def prefecture_feedback(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    referral, caps = _post_action(request, pk, "write_feedback")
    return _apply_form(
        request,
        referral,
        FeedbackForm(request.POST, auto_id="prefecture_%s"),
        lambda data: actions.do_prefecture_feedback(referral, acting_user=request.user, **data),
        success=_("Retour enregistré ; le référent est prévenu."),
        failure=_("Retour non enregistré :"),
        slot="feedback_form",
        caps=caps,
    )


@require_POST
@charter_required
def agent_feedback(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    referral, caps = _post_action(request, pk, "manage")
    return _apply_form(
        request,
        referral,
        FeedbackForm(request.POST, auto_id="agent_%s"),
        lambda data: actions.do_agent_feedback(referral, acting_user=request.user, **data),
        success=_("Retour transmis à l'agent."),
        failure=_("Retour non enregistré :"),
        slot="agent_feedback_form",
        caps=caps,
    )
