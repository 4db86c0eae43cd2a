"""Meetings built through the real actions, as the chair would."""

from __future__ import annotations

import datetime

from django.utils import timezone

from meetings import actions
from meetings.models import Attendance, Meeting, MinutesDocument
from tests.cases.helpers import file_referral


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


def other_commune_meeting(world) -> Meeting:
    """Miramas' meeting (another commune of the department), planned and chaired by its
    referent, nobody invited."""
    return plan(
        world,
        commune=world.miramas,
        chair=world.other_referent,
        invitees=[],
        acting_user=world.other_referent,
    )


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


def minutes_document(world, capture_on_commit) -> MinutesDocument:
    """The one minutes PDF: a referral filed and put on a meeting's agenda, the minutes approved
    and the PDF built on commit (``capture_on_commit``: pytest-django's
    ``django_capture_on_commit_callbacks``)."""
    referral = file_referral(world.agent, world.tarascon)
    meeting = plan(world)
    actions.do_add_referral_item(meeting, reference=referral.reference, acting_user=world.referent)
    with capture_on_commit(execute=True):
        approved(world, meeting)
    return MinutesDocument.objects.get()
