"""The confidentiality charter: acknowledgement by each user, versions per commune or department."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from cmer.audit.core import record_access

from .. import access, actions
from ..forms import (
    CharterForm,
)
from ..gates import current_charters_for, pending_charters_for
from ..models import CharterAcknowledgement
from .common import _safe_next

# -- charter ----------------------------------------------------------------------------------


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


def _charter_scope_page(
    request: HttpRequest, scope: Any, *, may_publish: bool, applicable: Any
) -> HttpResponse:
    versions = list(access.charter_versions_of(scope).order_by("-version"))
    own_current = versions[0] if versions else None
    form = CharterForm(
        request.POST or None, initial={"text": own_current.text if own_current else ""}
    )
    if request.method == "POST":
        if not may_publish:
            return HttpResponse(status=403)
        if form.is_valid():
            version = actions.do_publish_charter(
                scope, form.cleaned_data["text"], acting_user=request.user, request=request
            )
            messages.success(
                request,
                _("La version %(version)s de la charte est publiée : chacun doit la relire.")
                % {"version": version.version},
            )
            return redirect(request.path)
    bound = list(access.people_bound_by(scope).order_by("last_name", "first_name", "email"))
    acknowledged: dict[int, Any] = {}
    if applicable is not None:
        acknowledged = dict(
            CharterAcknowledgement.objects.filter(
                charter=applicable, user__in=[u.pk for u in bound]
            ).values_list("user_id", "acknowledged_at")
        )
    people = [{"user": user, "acknowledged_at": acknowledged.get(user.pk)} for user in bound]
    shown_versions = [v.pk for v in versions] + ([applicable.pk] if applicable else [])
    history = list(
        CharterAcknowledgement.objects.filter(
            charter__in=shown_versions, user__in=[u.pk for u in bound]
        )
        .select_related("user", "charter__commune", "charter__department")
        .order_by("-acknowledged_at")[:200]
    )
    record_access(request, versions[0] if versions else scope, what="charter_acknowledgements")
    return render(
        request,
        "conventions/charter_scope.html",
        {
            "scope": scope,
            "versions": versions,
            "applicable": applicable,
            "form": form,
            "may_publish": may_publish,
            "people": people,
            "history": history,
        },
        status=400 if form.is_bound else 200,
    )


@require_http_methods(["GET", "POST"])
def charter_commune(request: HttpRequest, commune_id: int) -> HttpResponse:
    commune = access.get_commune_for_charter(request, commune_id)
    return _charter_scope_page(
        request,
        commune,
        may_publish=access.may_publish_commune_charter(request.user, commune),
        applicable=access.applicable_charter(commune),
    )


@require_http_methods(["GET", "POST"])
def charter_department(request: HttpRequest, department_id: int) -> HttpResponse:
    department = access.get_department_for_charter(request, department_id)
    applicable = access.charter_versions_of(department).order_by("-version").first()
    return _charter_scope_page(request, department, may_publish=True, applicable=applicable)
