"""The meeting page: agenda, attendance, actions, minutes, with the forms its reader may use."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from cmer.accounts.requests import AuthenticatedRequest
from cmer.audit.core import record_access
from conventions.gates import charter_required

from .. import access
from ..forms import (
    ActionItemForm,
    AddendumForm,
    CancelForm,
    CorrectionForm,
    DecisionForm,
    ExternalForm,
    ReferralItemForm,
    ReviewForm,
    TopicForm,
)
from ..models import ActionItem, Attendance, Meeting


@require_GET
@charter_required
def meeting_detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    meeting, caps = access.get_meeting_for_user(request, pk)
    record_access(request, meeting, what="minutes" if meeting.is_locked else "detail")
    editable = caps.manage and not meeting.is_locked and meeting.status != Meeting.Status.CANCELLED
    held = meeting.status == Meeting.Status.HELD
    context: dict[str, Any] = {
        "meeting": meeting,
        "caps": caps,
        **access.detail_content(meeting, request.user, caps),
        "attendance_choices": Attendance.choices,
        "editable": editable,
        "held": held,
        "can_mark_held": editable
        and meeting.status == Meeting.Status.PLANNED
        and meeting.local_day <= timezone.localdate(),
        "review_open": access.review_open(meeting),
        "action_status_choices": ActionItem.Status.choices,
    }
    if editable:
        context.update(
            topic_form=TopicForm(auto_id="topic_%s"),
            referral_form=ReferralItemForm(auto_id="referral_%s"),
            external_form=ExternalForm(auto_id="external_%s"),
            cancel_form=CancelForm(auto_id="cancel_%s")
            if meeting.status == Meeting.Status.PLANNED
            else None,
        )
        if held:
            context.update(
                decision_form=DecisionForm(auto_id=False),
                action_form=ActionItemForm(
                    owners=access.action_owners(meeting), auto_id="action_%s"
                ),
                review_form=ReviewForm(auto_id="review_%s")
                if meeting.minutes_state == Meeting.Minutes.DRAFT
                else None,
            )
    if caps.propose_correction:
        context["correction_form"] = CorrectionForm(auto_id="correction_%s")
    if caps.manage and meeting.is_locked:
        context["addendum_form"] = AddendumForm(auto_id="addendum_%s")
    return render(request, "meetings/meeting_detail.html", context)
