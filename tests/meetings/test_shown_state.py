"""What pages show is the stored status read against the date: a past meeting still "planned"
is "to be confirmed" for a week, then "not held" — never shown as planned (time-machine)."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.utils import timezone

from meetings import actions
from meetings.models import CONFIRM_WITHIN_DAYS, Meeting
from tests.cases.helpers import file_referral
from tests.meetings.helpers import all_present, plan


def calendar_row(html: str, commune: str) -> str:
    rows = html.split('data-testid="calendar"')[1].split("</table>")[0]
    return next(row for row in rows.split("<tr>") if commune in row)


def state_of(html: str) -> str:
    return html.split('data-state="')[1].split('"')[0]


@pytest.mark.django_db
def test_a_past_planned_meeting_is_to_confirm_then_not_held_everywhere(as_user, world):
    referral = file_referral(world.agent, world.tarascon)
    meeting = plan(world, days=2)
    actions.do_add_referral_item(meeting, reference=referral.reference, acting_user=world.referent)
    detail = f"/reunions/{meeting.pk}/"

    def seen() -> tuple[str, str, str, str]:
        # Logged in at the travelled-to time (sessions expire with the clock).
        liaison, referent = as_user(world.liaison), as_user(world.referent)
        calendar = liaison.get("/reunions/calendrier/").content.decode()
        row = calendar_row(calendar, "Tarascon")
        listing = referent.get("/reunions/").content.decode()
        return state_of(row), row, state_of(listing), referent.get(detail).content.decode()

    state, row, listed, page = seen()
    assert state == listed == Meeting.Shown.UPCOMING and "Planifiée" in row
    assert "<td>—</td>" in row  # nothing discussed yet, though a referral is on the agenda
    assert 'data-testid="confirm-held"' not in page

    after = meeting.starts_at + datetime.timedelta(hours=3)
    with time_machine.travel(after):
        state, row, listed, page = seen()
        assert state == listed == Meeting.Shown.TO_CONFIRM and "Tenue à confirmer" in row
        assert 'data-testid="confirm-held"' in page
        assert "Planifiée" not in row
        # The referral was on the agenda but the meeting is not confirmed: none discussed.
        assert "<td>—</td>" in row

    later = meeting.starts_at + datetime.timedelta(days=CONFIRM_WITHIN_DAYS + 1)
    with time_machine.travel(later):
        state, row, listed, page = seen()
        assert state == listed == Meeting.Shown.NOT_HELD and "Non tenue" in row
        # The member sees it too, without the chair's prompt.
        member_page = as_user(world.member).get(detail).content.decode()
        assert state_of(member_page) == Meeting.Shown.NOT_HELD
        assert 'data-testid="confirm-held"' not in member_page
        # Marked held after the fact: held, and its referral counted as discussed.
        as_user(world.referent).post(f"{detail}tenue/")
        meeting.refresh_from_db()
        assert meeting.status == Meeting.Status.HELD
        state, row, listed, page = seen()
        assert state == listed == Meeting.Shown.HELD and "<td>1</td>" in row
        assert 'data-testid="confirm-held"' not in page


@pytest.mark.django_db
def test_shown_state_boundaries_and_cancelled(world):
    meeting = plan(world, days=1)
    start = meeting.starts_at
    assert meeting.shown_state_at(start - datetime.timedelta(minutes=1)) == "upcoming"
    assert meeting.shown_state_at(start) == "to_confirm"
    last_day = timezone.localtime(start) + datetime.timedelta(days=CONFIRM_WITHIN_DAYS)
    end_of_last_day = last_day.replace(hour=23, minute=59)
    assert meeting.shown_state_at(end_of_last_day) == "to_confirm"
    assert meeting.shown_state_at(end_of_last_day + datetime.timedelta(minutes=2)) == "not_held"
    actions.do_cancel_meeting(meeting, reason="Report", acting_user=world.referent)
    meeting.refresh_from_db()
    assert meeting.shown_state_at(start + datetime.timedelta(days=30)) == "cancelled"


@pytest.mark.django_db
def test_a_held_meeting_stays_held_and_the_list_shows_its_minutes_state(as_user, world):
    meeting = plan(world, days=1)
    with time_machine.travel(meeting.starts_at + datetime.timedelta(hours=1)):
        actions.do_mark_held(meeting, acting_user=world.referent)
        all_present(meeting, world.referent)
    with time_machine.travel(meeting.starts_at + datetime.timedelta(days=60)):
        html = as_user(world.referent).get("/reunions/").content.decode()
    past = html.split('data-testid="past"')[1]
    assert state_of(past) == Meeting.Shown.HELD and "Brouillon" in past
