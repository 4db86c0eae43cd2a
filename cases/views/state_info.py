"""Information from the State (the liaison writes, the commune's referent reads)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from cmer import permissions
from cmer.accounts.models import Role
from cmer.accounts.requests import AuthenticatedRequest
from cmer.audit.core import record_access
from conventions.gates import charter_required

from .. import access, actions
from ..forms import (
    StateInformationForm,
)
from .common import _errors


@require_GET
@charter_required
def state_info_list(request: AuthenticatedRequest) -> HttpResponse:
    items = access.state_information_visible_to(request.user).select_related("commune")
    can_write = bool(permissions.communes_where(request.user, Role.LIAISON).exists())
    return render(
        request, "cases/state_info_list.html", {"items": items[:200], "can_write": can_write}
    )


@require_http_methods(["GET", "POST"])
@charter_required
def state_info_create(request: AuthenticatedRequest) -> HttpResponse:
    communes = permissions.communes_where(request.user, Role.LIAISON)
    if not communes.exists():
        raise Http404
    form = StateInformationForm(request.POST or None, communes=communes)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        referral = None
        if data["referral_reference"]:
            referral = access.transmitted_by_reference(
                request.user, data["commune"], data["referral_reference"]
            )
            if referral is None:
                form.add_error(
                    "referral_reference",
                    _("Aucun signalement de cette commune ne porte cette référence."),
                )
        if form.is_valid():
            info = actions.do_create_state_information(
                data, referral=referral, acting_user=request.user
            )
            messages.success(request, _("Information enregistrée (non envoyée)."))
            return redirect("cases:state_info_detail", pk=info.pk)
    return render(request, "cases/state_info_form.html", {"form": form})


@require_http_methods(["GET", "POST"])
@charter_required
def state_info_detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    info = access.get_state_information(request, pk)
    is_author = info.author_id == request.user.pk
    if request.method == "POST":
        if not is_author:
            raise Http404
        try:
            actions.do_send_state_information(info, acting_user=request.user)
            messages.success(request, _("Information envoyée au référent de la commune."))
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        return redirect("cases:state_info_detail", pk=info.pk)
    record_access(request, info, what="detail")
    return render(request, "cases/state_info_detail.html", {"info": info, "is_author": is_author})
