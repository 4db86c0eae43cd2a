"""The meetings list and the liaison's department calendar."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from cmer.accounts.requests import AuthenticatedRequest
from cmer.audit.core import record_event
from cmer.audit.models import Event
from conventions.gates import blocked_scopes, charter_required

from .. import access
from ..models import CONFIRM_WITHIN_DAYS, Meeting


@require_GET
@charter_required
def meeting_list(request: AuthenticatedRequest) -> HttpResponse:
    # Meetings of a commune whose charter is still to be read are left out (and said so).
    blocked = blocked_scopes(request.user, request)
    upcoming, past = access.meeting_lists(request.user, exclude=blocked.q() if blocked else None)
    listed = [meeting.pk for meeting in upcoming + past]
    if listed:
        record_event(
            Event.ACCESS,
            request=request,
            target_model=Meeting,
            data={"what": "list", "meetings": listed},
        )
    context = {
        "upcoming": upcoming,
        "past": past,
        "can_plan": access.may_plan_in(request.user, request.commune),
        "is_liaison": access.is_liaison(request.user),
    }
    return render(request, "meetings/meeting_list.html", context)


@require_GET
@charter_required
def calendar(request: AuthenticatedRequest) -> HttpResponse:
    """The department's calendar for the liaison: no content, only that cells meet."""
    if not access.is_liaison(request.user):
        raise Http404
    rows = access.calendar_rows(request.user)
    record_event(Event.ACCESS, request=request, target_model=Meeting, data={"what": "calendar"})
    context = {"rows": rows, "confirm_days": CONFIRM_WITHIN_DAYS}
    return render(request, "meetings/calendar.html", context)
