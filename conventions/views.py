"""Conventions and charter pages. Thin: reads in access.py, writes in actions.py."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from . import actions
from .gates import current_charters_for, pending_charters_for


def _safe_next(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


@require_http_methods(["GET", "POST"])
def charter(request: HttpRequest) -> HttpResponse:
    """The charters binding the user; POST acknowledges the versions shown on the page."""
    next_url = _safe_next(request)
    current = current_charters_for(request.user)
    pending = pending_charters_for(request.user)
    if request.method == "POST":
        shown = set(request.POST.getlist("charter"))
        to_acknowledge = [v for v in pending if str(v.pk) in shown]
        if to_acknowledge:
            actions.do_acknowledge_charters(request.user, to_acknowledge, request=request)
        pending = [v for v in pending if v not in to_acknowledge]
        if not pending:
            if to_acknowledge:
                messages.success(request, _("Votre prise de connaissance est enregistrée."))
            return HttpResponseRedirect(next_url or reverse("home"))
        messages.warning(
            request, _("La charte a changé entre-temps : lisez la version affichée ci-dessous.")
        )
    return render(
        request,
        "conventions/charter.html",
        {"current": current, "pending": pending, "next_url": next_url},
    )
