"""Changing the chair keeps the agenda's invariant (issue 14): a referral is on a meeting's agenda
only if its chair may read it. A new chair who may not read one or more of the referrals already
there is refused with the number of items in the way, no reference and no name; nothing changes
and nobody is told."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from cases import actions as case_actions
from meetings import actions
from meetings.models import Invitation, Meeting
from meetings.pseudonym import pseudonym
from tests.cases.helpers import file_referral
from tests.meetings.helpers import plan


@pytest.fixture
def referrals(world):
    # Jeanne Dupont and Ysoline Vandermeulenbroek (no staff name drawn by Faker): neither
    # readable by a cell member without a grant.
    return [
        file_referral(world.agent, world.tarascon),
        file_referral(
            world.agent, world.tarascon, surname="Vandermeulenbroek", first_names="Ysoline"
        ),
    ]


@pytest.fixture
def meeting(world, referrals):
    meeting = plan(world, invitees=[world.member, world.liaison])  # chaired by the referent
    for referral in referrals:
        actions.do_add_referral_item(
            meeting, reference=referral.reference, acting_user=world.referent
        )
    mail.outbox.clear()
    return meeting


def grant(referral, world, member):
    case_actions.do_grant_access(
        referral,
        member=member,
        contribute=False,
        reason="Réunion",
        expires_on=timezone.localdate() + datetime.timedelta(days=5),
        acting_user=world.referent,
    )


def edit_form(meeting, chair, invitees):
    return {
        "starts_at": timezone.localtime(meeting.starts_at).strftime("%Y-%m-%dT%H:%M"),
        "duration_minutes": str(meeting.duration_minutes),
        "place": meeting.place,
        "chair": str(chair.pk),
        "invitees": [str(user.pk) for user in invitees],
    }


def reschedule(meeting, world, *, chair, invitees=None, later=datetime.timedelta(0)):
    """The referent saves ``meeting`` with ``chair`` and ``invitees`` (by default the member and
    the liaison, as ``meeting`` invites them), moved ``later`` (same length, same place)."""
    if invitees is None:
        invitees = [world.member, world.liaison]
    return actions.do_reschedule_meeting(
        meeting,
        starts_at=meeting.starts_at + later,
        duration_minutes=meeting.duration_minutes,
        place=meeting.place,
        chair=chair,
        invitees=invitees,
        acting_user=world.referent,
    )


def refusal(meeting, world, *, chair, invitees=None) -> str:
    """The action refuses to save ``meeting`` as it is with ``chair``: its one message."""
    with pytest.raises(ValidationError) as refused:
        reschedule(meeting, world, chair=chair, invitees=invitees)
    (message,) = refused.value.messages
    return message


def snapshot(meeting):
    """What a refused change must leave as it was."""
    meeting = Meeting.objects.get(pk=meeting.pk)
    invitations = sorted(
        Invitation.objects.filter(meeting=meeting).values_list(
            "user_id", "withdrawn_at", "notified_sequence"
        )
    )
    return (meeting.chair_id, meeting.sequence, meeting.starts_at, meeting.place, invitations)


@pytest.mark.django_db
def test_a_chair_who_may_not_read_the_agenda_is_refused_with_a_count_and_no_name(
    as_user, world, meeting, referrals, django_capture_on_commit_callbacks
):
    before = snapshot(meeting)
    url = f"/reunions/{meeting.pk}/modifier/"
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(world.referent).post(
            url, edit_form(meeting, world.member, [world.member, world.liaison])
        )
    assert response.status_code == 200  # the form again, with the error
    html = response.content.decode()
    assert "ne peut pas consulter 2 signalements inscrits à l&#x27;ordre du jour" in html
    assert 'data-testid="error-summary"' in html  # the summary the page focuses
    secrets = [r.reference for r in referrals] + [
        "Dupont",
        "Jeanne",
        "Vandermeulenbroek",
        "Ysoline",
    ]
    secrets += [pseudonym(r, meeting.local_day) for r in referrals]
    assert not any(secret in html for secret in secrets)
    assert snapshot(meeting) == before
    assert not mail.outbox  # nobody told of a change that did not happen


@pytest.mark.django_db
def test_the_count_is_of_the_referrals_the_new_chair_may_not_read(world, meeting, referrals):
    grant(referrals[0], world, world.member)
    before = snapshot(meeting)
    message = refusal(meeting, world, chair=world.member)
    assert "ne peut pas consulter 1 signalement inscrit à l'ordre du jour" in message
    assert referrals[1].reference not in message and "Vandermeulenbroek" not in message
    assert snapshot(meeting) == before


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["other_referent", "member_without_grant", "agent", "liaison"])
def test_a_crafted_chair_outside_the_cell_or_without_access_changes_nothing(
    as_user, world, meeting, persona
):
    """Another commune's referent, a member without a grant, an agent, the liaison: the form
    refuses them (not a chair choice, or the agenda's invariant), and so does the action."""
    chair = getattr(world, persona)
    before = snapshot(meeting)
    response = as_user(world.referent).post(
        f"/reunions/{meeting.pk}/modifier/", edit_form(meeting, chair, [world.member])
    )
    assert response.status_code == 200 and 'data-testid="error-summary"' in (
        response.content.decode()
    )
    with pytest.raises(ValidationError):
        reschedule(meeting, world, chair=chair, invitees=[world.member])
    assert snapshot(meeting) == before


@pytest.mark.django_db
def test_a_chair_who_may_read_every_referral_on_the_agenda_is_accepted(
    as_user, world, meeting, referrals, django_capture_on_commit_callbacks
):
    for referral in referrals:
        grant(referral, world, world.member)
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(world.referent).post(
            f"/reunions/{meeting.pk}/modifier/",
            edit_form(meeting, world.member, [world.member, world.liaison]),
        )
    assert response.status_code == 302
    changed = Meeting.objects.get(pk=meeting.pk)
    assert changed.chair == world.member and changed.sequence == meeting.sequence + 1
    assert mail.outbox  # the invitees are told of the change


@pytest.mark.django_db
def test_without_referrals_on_the_agenda_any_cell_member_may_chair(as_user, world):
    meeting = plan(world, invitees=[world.member])
    actions.do_add_topic(meeting, title="Bilan de l'année", acting_user=world.referent)
    response = as_user(world.referent).post(
        f"/reunions/{meeting.pk}/modifier/",
        edit_form(meeting, world.member_without_grant, [world.member]),
    )
    assert response.status_code == 302
    assert Meeting.objects.get(pk=meeting.pk).chair == world.member_without_grant


def expire_grants(referral, member):
    """The member's grant on ``referral`` reached its expiry (as time passing would do)."""
    from cases.models import ReferralUserObjectPermission

    expired = ReferralUserObjectPermission.objects.filter(
        content_object=referral, user=member
    ).update(expires_at=timezone.now() - datetime.timedelta(minutes=1))
    assert expired


@pytest.mark.django_db
def test_keeping_a_chair_whose_grant_on_an_agenda_referral_expired_is_refused(
    as_user, world, referrals, django_capture_on_commit_callbacks
):
    """The agenda's invariant holds on every change of the date or the chair, not only when the
    chair changes: a chair whose grant on a referral already on the agenda has expired since
    cannot be kept while the meeting is moved. Counted, nobody named, nothing changed."""
    for referral in referrals:
        grant(referral, world, world.member)
    meeting = plan(world, chair=world.member, invitees=[world.member, world.liaison])
    for referral in referrals:
        actions.do_add_referral_item(
            meeting, reference=referral.reference, acting_user=world.referent
        )
    expire_grants(referrals[1], world.member)
    mail.outbox.clear()
    before = snapshot(meeting)
    form = edit_form(meeting, world.member, [world.member, world.liaison])
    form["starts_at"] = (
        timezone.localtime(meeting.starts_at) + datetime.timedelta(days=1)
    ).strftime("%Y-%m-%dT%H:%M")
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(world.referent).post(f"/reunions/{meeting.pk}/modifier/", form)
    assert response.status_code == 200  # the form again, with the error
    html = response.content.decode()
    assert "ne peut plus consulter 1 signalement inscrit à l&#x27;ordre du jour" in html
    assert 'data-testid="error-summary"' in html
    secrets = [r.reference for r in referrals] + ["Vandermeulenbroek", "Ysoline"]
    secrets += [pseudonym(r, meeting.local_day) for r in referrals]
    assert not any(secret in html for secret in secrets)
    assert snapshot(meeting) == before
    assert not mail.outbox
    # The action itself refuses it too (same date, same place: any save of the meeting).
    message = refusal(meeting, world, chair=world.member)
    assert "ne peut plus consulter 1 signalement" in message
    assert referrals[1].reference not in message and world.member.get_full_name() not in message
    assert snapshot(meeting) == before
    # Granted again: the same change goes through.
    grant(referrals[1], world, world.member)
    reschedule(meeting, world, chair=world.member, later=datetime.timedelta(days=1))
    assert Meeting.objects.get(pk=meeting.pk).sequence == meeting.sequence + 1


@pytest.mark.django_db
def test_the_referent_chairing_is_rechecked_too_and_passes(world, meeting):
    """The referent reads every referral of the commune: rescheduling their meeting is not
    refused by the re-check."""
    reschedule(meeting, world, chair=world.referent, later=datetime.timedelta(hours=2))
    assert Meeting.objects.get(pk=meeting.pk).sequence == meeting.sequence + 1
