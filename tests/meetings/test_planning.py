"""Planning, invitations with .ics, rescheduling and cancelling; bad input saves nothing."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.utils import timezone

from meetings.models import Invitation, Meeting
from tests.cases.helpers import file_referral
from tests.meetings.helpers import plan


def form(world, **overrides):
    data = {
        "starts_at": (timezone.localtime() + datetime.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
        "duration_minutes": "120",
        "place": "Salle du conseil",
        "chair": str(world.referent.pk),
        "invitees": [str(world.member.pk), str(world.liaison.pk)],
    }
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_referent_plans_and_invitees_get_an_ics_without_case_detail(
    as_user, world, django_capture_on_commit_callbacks
):
    referral = file_referral(world.agent, world.tarascon)
    client = as_user(world.referent)
    assert client.get("/reunions/nouvelle/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/reunions/nouvelle/", form(world))
    meeting = Meeting.objects.get()
    assert response["Location"] == f"/reunions/{meeting.pk}/"
    assert set(meeting.invitations.values_list("user__email", flat=True)) == {
        world.referent.email,
        world.member.email,
        world.liaison.email,
    }
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [world.referent.email, world.member.email, world.liaison.email]
    )
    message = mail.outbox[0]
    name, ics, mimetype = message.attachments[0]
    assert name == "reunion.ics" and mimetype.startswith("text/calendar")
    assert "BEGIN:VEVENT" in ics and "METHOD:REQUEST" in ics and "SEQUENCE:0" in ics
    assert f"UID:cmer-meeting-{meeting.pk}@" in ics
    for text in (message.subject, message.body, ics):
        assert referral.reference not in text and "Dupont" not in text
    # Run the task again: nobody is told twice.
    from meetings.tasks import send_invitations

    assert send_invitations(meeting.pk) == 0
    assert len(mail.outbox) == 3


@pytest.mark.django_db
def test_reschedule_and_cancel_tell_the_invitees(
    as_user, world, django_capture_on_commit_callbacks
):
    from meetings import actions
    from meetings.pseudonym import pseudonym

    referral = file_referral(world.agent, world.tarascon)
    with django_capture_on_commit_callbacks(execute=True):
        meeting = plan(world)
        actions.do_add_referral_item(
            meeting, reference=referral.reference, acting_user=world.referent
        )
    mail.outbox.clear()
    client = as_user(world.referent)
    secret = (referral.reference, "Dupont", "Jeanne", pseudonym(referral, meeting.local_day))

    def no_case_detail():
        for message in mail.outbox:
            for text in (message.subject, message.body, message.attachments[0][1]):
                assert not any(word in text for word in secret), text

    later = (timezone.localtime() + datetime.timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/reunions/{meeting.pk}/modifier/",
            form(world, starts_at=later, invitees=[str(world.member.pk)]),
        )
    subjects = {m.to[0]: (m.subject, m.attachments[0][1]) for m in mail.outbox}
    assert "modifiée" in subjects[world.member.email][0]
    assert "SEQUENCE:1" in subjects[world.member.email][1]
    # The liaison was taken off the list: their calendar drops the event.
    assert "annulée" in subjects[world.liaison.email][0]
    assert "METHOD:CANCEL" in subjects[world.liaison.email][1]
    no_case_detail()
    mail.outbox.clear()
    client.post(f"/reunions/{meeting.pk}/annuler/", {"reason": ""})  # a reason is required
    meeting.refresh_from_db()
    assert meeting.status == Meeting.Status.PLANNED
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/reunions/{meeting.pk}/annuler/", {"reason": "Report"})
    meeting.refresh_from_db()
    assert meeting.status == Meeting.Status.CANCELLED
    assert {m.to[0] for m in mail.outbox} == {world.referent.email, world.member.email}
    assert all("METHOD:CANCEL" in m.attachments[0][1] for m in mail.outbox)
    no_case_detail()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides",
    [
        {"starts_at": "2020-01-01T10:00"},  # a meeting in the past planned as future
        {"invitees": ["OTHER_COMMUNE"]},  # a user of another commune
        {"invitees": ["AGENT"]},  # a user without a cell role
        {"chair": "AGENT"},
        {"place": ""},
        {"duration_minutes": "5"},
    ],
)
def test_bad_planning_is_refused_and_saves_nothing(as_user, world, overrides):
    people = {"OTHER_COMMUNE": world.other_referent.pk, "AGENT": world.agent.pk}
    resolved = {
        key: [str(people.get(v, v)) for v in value]
        if isinstance(value, list)
        else str(people.get(value, value))
        for key, value in overrides.items()
    }
    response = as_user(world.referent).post("/reunions/nouvelle/", form(world, **resolved))
    assert response.status_code == 200
    assert 'class="fr-error-text' in response.content.decode() or "fr-alert" in (
        response.content.decode()
    )
    assert not Meeting.objects.exists() and not Invitation.objects.exists()
    assert not mail.outbox


@pytest.mark.django_db
def test_action_refuses_a_past_date_and_outsiders_directly(world):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        plan(world, starts_at=timezone.now() - datetime.timedelta(minutes=5))
    with pytest.raises(ValidationError):
        plan(world, invitees=[world.other_referent])
    with pytest.raises(ValidationError):
        plan(world, invitees=[world.coordinator])
    with pytest.raises(ValidationError):  # only the commune's referent plans
        plan(world, acting_user=world.member)
    assert not Meeting.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["member", "liaison", "agent", "coordinator", "dpo", "admin"])
def test_only_a_referent_may_plan(as_user, world, persona):
    client = as_user(getattr(world, persona))
    assert client.get("/reunions/nouvelle/").status_code == 404
    assert client.post("/reunions/nouvelle/", form(world)).status_code == 404
    assert not Meeting.objects.exists()
