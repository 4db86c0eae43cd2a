"""The confirmation page of requested memberships (four-eyes on access rights). Thin views: the
rules are in ``memberships.py``. A request outside the user's authority — or their own, or one
they made — answers 404, the same as a missing one."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from cmer.forms import CmerForm
from cmer.permissions import get_or_404

from . import stepup
from .memberships import (
    DecisionRefused,
    do_confirm_membership,
    do_refuse_membership,
    requests_pending_for,
    version_of,
)
from .models import Membership
from .requests import AuthenticatedRequest


class RefusalForm(CmerForm):
    reason = forms.CharField(
        label=_("Motif du refus"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Court et factuel : il est conservé et communiqué à l'administrateur."),
    )
    version = forms.CharField(widget=forms.HiddenInput)


@require_http_methods(["GET"])
def pending(request: AuthenticatedRequest) -> HttpResponse:
    rows = [
        (membership, version_of(membership)) for membership in requests_pending_for(request.user)
    ]
    return render(request, "accounts/membership_requests.html", {"rows": rows})


@require_POST
def confirm(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    get_or_404(requests_pending_for(request.user), request, pk=pk)
    stepup.require(request)
    try:
        do_confirm_membership(
            pk, acting_user=request.user, version=request.POST.get("version", ""), request=request
        )
    except Membership.DoesNotExist as exc:
        raise Http404 from exc
    except DecisionRefused as refused:
        messages.error(request, refused.message)
        return redirect("memberships:pending")
    messages.success(request, _("Le rôle est confirmé : il prend effet à sa date de début."))
    return redirect("memberships:pending")


@require_http_methods(["GET", "POST"])
def refuse(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    membership = get_or_404(requests_pending_for(request.user), request, pk=pk)
    stepup.require(request)
    form = RefusalForm(request.POST or None, initial={"version": version_of(membership)})
    if request.method == "POST" and form.is_valid():
        try:
            do_refuse_membership(
                pk,
                acting_user=request.user,
                version=form.cleaned_data["version"],
                reason=form.cleaned_data["reason"],
                request=request,
            )
        except Membership.DoesNotExist as exc:
            raise Http404 from exc
        except DecisionRefused as refused:
            messages.error(request, refused.message)
            return redirect("memberships:pending")
        messages.success(request, _("La demande est refusée ; elle ne donne aucun accès."))
        return redirect("memberships:pending")
    return render(
        request, "accounts/membership_refuse.html", {"membership": membership, "form": form}
    )
