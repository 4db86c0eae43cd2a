"""The referent's search by person, through the blind index (POST only)."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from cmer import permissions
from cmer.accounts.models import Role
from cmer.accounts.requests import AuthenticatedRequest
from cmer.audit.core import record_event
from cmer.audit.models import Event
from conventions.gates import charter_required

from .. import actions
from ..forms import (
    PersonSearchForm,
)
from ..models import Referral


@require_http_methods(["GET", "POST"])
@charter_required
def search_person(request: AuthenticatedRequest) -> HttpResponse:
    """Search by person: POST only, through the blind index. No name in a URL or a log line."""
    communes = permissions.communes_where(request.user, Role.REFERENT)
    if not communes.exists():
        raise Http404
    form = PersonSearchForm(request.POST or None)
    results = None
    if request.method == "POST" and form.is_valid():
        results = list(
            actions.search_person(
                communes.values_list("pk", flat=True),
                surname=form.cleaned_data["surname"],
                first_names=form.cleaned_data["first_names"],
                birth_year=form.cleaned_data["birth_year"],
            ).only("id", "reference", "status", "submitted_at")
        )
        record_event(
            Event.ACCESS,
            request=request,
            target_model=Referral,
            data={"what": "person_search", "references": [r.reference for r in results]},
        )
    return render(request, "cases/search_person.html", {"form": form, "results": results})
