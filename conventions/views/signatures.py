"""Signatories, signatures and the life of a convention (sent for signature, signed,
terminated, not renewed): each side acts only for itself.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .. import access, actions
from ..forms import (
    NonRenewalForm,
    SignatoryForm,
    SignatureForm,
    TerminationForm,
)
from ..models import Convention, Signatory
from ..sides import SideRefused, require_side, sides_of
from .common import _error_text
from .pages import _refused, _render_detail


@require_POST
def signatory_add(request: HttpRequest, pk: int) -> HttpResponse:
    convention = access.get_convention_for_user(request, pk)
    form = SignatoryForm(request.POST, sides=sides_of(request.user, convention.commune))
    if form.is_valid():
        try:
            actions.do_add_signatory(
                convention, form.cleaned_data, acting_user=request.user, request=request
            )
        except SideRefused as error:
            return _refused(request, convention, error)
        except ValidationError as error:
            messages.error(request, _error_text(error))
        else:
            messages.success(request, _("Le signataire est ajouté."))
        return redirect("conventions:detail", pk=convention.pk)
    return _render_detail(request, convention, status=400, signatory_form=form)


def _get_signatory(convention: Convention, signatory_id: int) -> Signatory:
    signatory = convention.signatories.filter(pk=signatory_id).first()
    if signatory is None:
        raise Http404
    signatory.convention = convention
    return signatory


@require_POST
def signatory_remove(request: HttpRequest, pk: int, signatory_id: int) -> HttpResponse:
    convention = access.get_convention_for_user(request, pk)
    signatory = _get_signatory(convention, signatory_id)
    try:
        actions.do_remove_signatory(signatory, acting_user=request.user, request=request)
    except SideRefused as error:
        return _refused(request, convention, error)
    except ValidationError as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(request, _("Le signataire est retiré."))
    return redirect("conventions:detail", pk=convention.pk)


@require_POST
def signature_record(request: HttpRequest, pk: int, signatory_id: int) -> HttpResponse:
    convention = access.get_convention_for_user(request, pk)
    signatory = _get_signatory(convention, signatory_id)
    if signatory.side not in sides_of(request.user, convention.commune):
        # Refused before the date is even read: the other party's signature is not ours to
        # record, whatever the date says (the action checks again).
        try:
            require_side(request.user, convention.commune, signatory.side)
        except SideRefused as error:
            return _refused(request, convention, error)
    form = SignatureForm(request.POST, convention=convention)
    if form.is_valid():
        try:
            actions.do_record_signature(
                signatory,
                form.cleaned_data["signed_on"],
                acting_user=request.user,
                request=request,
            )
        except SideRefused as error:
            return _refused(request, convention, error)
        except ValidationError as error:
            form.add_error("signed_on", error)
        else:
            messages.success(request, _("La signature est enregistrée pour votre partie."))
            return redirect("conventions:detail", pk=convention.pk)
    return _render_detail(
        request, convention, status=400, signature_form=form, signature_target=signatory.pk
    )


def _simple_transition(request: HttpRequest, pk: int, action: Any, success: str) -> HttpResponse:
    convention = access.get_convention_for_user(request, pk)
    try:
        action(convention, acting_user=request.user, request=request)
    except SideRefused as error:
        return _refused(request, convention, error)
    except ValidationError as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(request, success)
    return redirect("conventions:detail", pk=convention.pk)


@require_POST
def request_signatures(request: HttpRequest, pk: int) -> HttpResponse:
    return _simple_transition(
        request, pk, actions.do_request_signatures, _("La convention attend ses signatures.")
    )


@require_POST
def mark_signed(request: HttpRequest, pk: int) -> HttpResponse:
    return _simple_transition(
        request,
        pk,
        actions.do_mark_signed,
        _("Les deux parties ont signé : la convention est signée et en vigueur à sa date d'effet."),
    )


@require_POST
def terminate(request: HttpRequest, pk: int) -> HttpResponse:
    convention = access.get_convention_for_user(request, pk)
    form = TerminationForm(request.POST)
    if form.is_valid():
        try:
            actions.do_terminate_convention(
                convention,
                reason=form.cleaned_data["reason"],
                terminated_on=form.cleaned_data["terminated_on"],
                acting_user=request.user,
                request=request,
            )
        except SideRefused as error:
            return _refused(request, convention, error)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request, _("La convention est résiliée ; l'autre partie en est avertie par e-mail.")
            )
            return redirect("conventions:detail", pk=convention.pk)
    return _render_detail(request, convention, status=400, termination_form=form)


@require_POST
def non_renewal(request: HttpRequest, pk: int) -> HttpResponse:
    convention = access.get_convention_for_user(request, pk)
    form = NonRenewalForm(request.POST)
    if form.is_valid():
        try:
            actions.do_record_non_renewal(
                convention,
                form.cleaned_data["notified_on"],
                acting_user=request.user,
                request=request,
            )
        except SideRefused as error:
            return _refused(request, convention, error)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("La non-reconduction est enregistrée."))
            return redirect("conventions:detail", pk=convention.pk)
    return _render_detail(request, convention, status=400, non_renewal_form=form)
