"""What the meeting pages share: the referent's guard and the shape of every POST."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect

from cmer.accounts.requests import AuthenticatedRequest

from .. import access
from ..models import Meeting


def errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def managed(request: AuthenticatedRequest, pk: int) -> Meeting:
    """The meeting if ``request.user`` runs it (the commune's referent), else 404."""
    meeting, caps = access.get_meeting_for_user(request, pk)
    access.require(caps.manage, request, meeting)
    return meeting


def back_to_detail(meeting: Meeting, anchor: str = "") -> HttpResponse:
    response = redirect("meetings:detail", pk=meeting.pk)
    if anchor:
        response["Location"] += f"#{anchor}"
    return response


def apply(
    request: AuthenticatedRequest,
    meeting: Meeting,
    form: Any,
    action: Callable[[dict[str, Any]], object],
    *,
    success: str,
    failure: str,
    anchor: str = "",
) -> HttpResponse:
    """The shape of every POST on a meeting: valid form → action → message → back to detail.
    A refused action saves nothing (each action is one transaction)."""
    if form.is_valid():
        try:
            action(form.cleaned_data)
            messages.success(request, success)
        except ValidationError as exc:
            messages.error(request, f"{failure} {errors(exc)}")
    else:
        details = " ".join(str(e) for errors in form.errors.values() for e in errors)
        messages.error(request, f"{failure} {details}")
    return back_to_detail(meeting, anchor)
