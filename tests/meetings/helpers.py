"""Meetings built through the real actions, as the chair would."""

from __future__ import annotations

import datetime

from django.utils import timezone

from meetings import actions
from meetings.models import Attendance, Meeting


def plan(world, *, invitees=None, days=2, **overrides) -> Meeting:
    values = {
        "commune": world.tarascon,
        "starts_at": timezone.now() + datetime.timedelta(days=days),
        "duration_minutes": 120,
        "place": "Salle du conseil",
        "chair": world.referent,
        "invitees": [world.member, world.liaison] if invitees is None else invitees,
        "acting_user": world.referent,
    }
    values.update(overrides)
    return actions.do_plan_meeting(**values)


def hold(meeting: Meeting, referent) -> Meeting:
    """The meeting's day has come (moved one hour into the past), then it is marked held."""
    meeting.starts_at = timezone.now() - datetime.timedelta(hours=1)
    meeting.save()
    return actions.do_mark_held(meeting, acting_user=referent)


def all_present(meeting: Meeting, referent) -> None:
    actions.do_record_attendance(
        meeting,
        invitations={inv.pk: Attendance.PRESENT for inv in meeting.invitations.all()},
        externals={ext.pk: Attendance.PRESENT for ext in meeting.externals.all()},
        acting_user=referent,
    )


def approved(world, meeting: Meeting | None = None) -> Meeting:
    meeting = meeting or plan(world)
    if meeting.status == Meeting.Status.PLANNED:
        meeting = hold(meeting, world.referent)
    all_present(meeting, world.referent)
    actions.do_send_for_review(
        meeting, review_until=timezone.localdate(), acting_user=world.referent
    )
    actions.do_approve_minutes(meeting, acting_user=world.referent)
    meeting.refresh_from_db()
    return meeting
