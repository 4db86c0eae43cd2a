"""An archived referral left on a planned meeting's agenda does not freeze the meeting: nobody
reads an archive without stating a reason (cases), so the chair check — the chair must read
every referral on the agenda (issue 14) — counts the referrals still in the cell's work only.
Before, once a referral on the agenda was archived the meeting could no longer be moved, even by
its own chair, only cancelled."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from cases import actions as case_actions
from meetings import actions
from tests.cases.helpers import file_referral
from tests.meetings.helpers import plan

from .test_chair_change import grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def meeting_with_an_archive(world):
    kept = file_referral(world.agent, world.tarascon)
    archived = file_referral(world.agent, world.tarascon)
    meeting = plan(world, invitees=[world.member, world.liaison])  # chaired by the referent
    for referral in (kept, archived):
        actions.do_add_referral_item(
            meeting, reference=referral.reference, acting_user=world.referent
        )
    case_actions.do_change_status(
        archived, to_status="closed", close_reason="no_further_action", acting_user=world.referent
    )
    case_actions.do_archive_referral(archived, acting_user=world.referent)
    return meeting, kept


def _reschedule(meeting, world, chair):
    return actions.do_reschedule_meeting(
        meeting,
        starts_at=meeting.starts_at,
        duration_minutes=meeting.duration_minutes,
        place="Salle du conseil",
        chair=chair,
        invitees=[world.member, world.liaison],
        acting_user=world.referent,
    )


def test_the_chair_moves_a_meeting_whose_agenda_holds_an_archived_referral(
    world, meeting_with_an_archive
):
    meeting, _kept = meeting_with_an_archive
    _reschedule(meeting, world, world.referent)
    meeting.refresh_from_db()
    assert meeting.place == "Salle du conseil"


def test_a_new_chair_must_still_read_the_referrals_in_the_cell_s_work(
    world, meeting_with_an_archive
):
    meeting, kept = meeting_with_an_archive
    with pytest.raises(ValidationError) as refused:
        _reschedule(meeting, world, world.member)
    (message,) = refused.value.messages
    assert "ne peut pas consulter 1 signalement" in message  # the kept one, not the archive
    grant(kept, world, world.member)
    _reschedule(meeting, world, world.member)
    meeting.refresh_from_db()
    assert meeting.chair_id == world.member.pk
