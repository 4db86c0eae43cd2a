"""Agenda with pseudonymised referrals, attendance, decisions on the referral's timeline,
action items. Bad input: a clear message, nothing saved."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from cases import actions as case_actions
from cases.models import TimelineEntry
from meetings import actions
from meetings.models import ActionItem, AgendaItem, Attendance, Decision, ExternalParticipant
from meetings.pseudonym import age_bracket, label, pseudonym
from tests.cases.helpers import file_referral
from tests.meetings.helpers import hold, plan


@pytest.fixture
def referral(world):
    # Jeanne Dupont, born 17 May 2008 (tests/cases/helpers.py)
    return file_referral(world.agent, world.tarascon)


@pytest.mark.django_db
def test_pseudonym_is_initials_and_age_bracket(world, referral):
    on = datetime.date(2025, 3, 12)  # 16 years old
    assert pseudonym(referral, on) == "J. D., 16–17 ans"
    assert label(referral, on) == f"{referral.reference} — J. D., 16–17 ans"
    assert age_bracket(referral, datetime.date(2026, 5, 17)) == "18–20 ans"
    other = file_referral(
        world.agent,
        world.tarascon,
        surname="le Goff",
        first_names="Anne-Marie",
        birth_date=None,
        approximate_age=40,
    )
    assert pseudonym(other, on) == "A. L., 26 ans et plus"
    unknown = file_referral(
        world.agent, world.tarascon, birth_date=None, approximate_age=None, age_group="minor"
    )
    assert pseudonym(unknown, on) == "J. D., mineur"


@pytest.mark.django_db
def test_referral_on_the_agenda_by_reference_and_pseudonym_never_by_name(as_user, world, referral):
    meeting = plan(world, invitees=[world.member, world.liaison])
    client = as_user(world.referent)
    response = client.post(
        f"/reunions/{meeting.pk}/ordre-du-jour/signalement/", {"reference": referral.reference}
    )
    assert response.status_code == 302
    item = AgendaItem.objects.get()
    assert item.referral == referral
    expected = label(referral, meeting.local_day)
    for persona in ("referent", "member", "liaison"):
        html = as_user(getattr(world, persona)).get(f"/reunions/{meeting.pk}/").content.decode()
        assert expected in html
        assert "Dupont" not in html and "Jeanne" not in html
    # Only those who may read the referral get a link; it goes through cases' own rules.
    link = f'href="/signalements/{referral.pk}/"'
    assert link in client.get(f"/reunions/{meeting.pk}/").content.decode()
    assert link not in as_user(world.member).get(f"/reunions/{meeting.pk}/").content.decode()
    assert as_user(world.member).get(f"/signalements/{referral.pk}/").status_code == 404
    case_actions.do_grant_access(
        referral,
        member=world.member,
        contribute=False,
        reason="Suivi",
        expires_on=timezone.localdate() + datetime.timedelta(days=5),
        acting_user=world.referent,
    )
    assert link in as_user(world.member).get(f"/reunions/{meeting.pk}/").content.decode()


@pytest.mark.django_db
def test_referral_of_another_commune_or_unreadable_is_refused(as_user, world, referral):
    other = file_referral(world.other_referent, world.miramas)
    draft = file_referral(world.agent, world.tarascon, submit=False)
    meeting = plan(world)
    client = as_user(world.referent)
    url = f"/reunions/{meeting.pk}/ordre-du-jour/signalement/"
    for reference in (other.reference, "TAR-1999-0001", "", str(draft)):
        response = client.post(url, {"reference": reference}, follow=True)
        assert "fr-alert--error" in response.content.decode() or "alert" in (
            response.content.decode()
        )
    assert not AgendaItem.objects.exists()
    client.post(url, {"reference": referral.reference})
    client.post(url, {"reference": referral.reference})  # twice: once on the agenda
    assert AgendaItem.objects.count() == 1


@pytest.mark.django_db
def test_attendance_decisions_and_timeline(as_user, world, referral):
    meeting = plan(world)
    actions.do_add_referral_item(meeting, reference=referral.reference, acting_user=world.referent)
    topic = actions.do_add_topic(
        meeting, title="Point sur la formation", acting_user=world.referent
    )
    external = actions.do_add_external(
        meeting, name="Claire Martin", institution="Éducation nationale", acting_user=world.referent
    )
    item = AgendaItem.objects.get(referral=referral)
    client = as_user(world.referent)
    # Not held yet: no decision, no attendance.
    client.post(f"/reunions/{meeting.pk}/ordre-du-jour/{item.pk}/decision/", {"text": "x"})
    assert not Decision.objects.exists()
    hold(meeting, world.referent)
    member_invitation = meeting.invitations.get(user=world.member)
    client.post(
        f"/reunions/{meeting.pk}/presences/",
        {
            f"invitation-{member_invitation.pk}": "present",
            f"external-{external.pk}": "excused",
        },
    )
    member_invitation.refresh_from_db()
    external.refresh_from_db()
    assert member_invitation.attendance == Attendance.PRESENT
    assert external.attendance == Attendance.EXCUSED
    html = client.get(f"/reunions/{meeting.pk}/").content.decode()
    assert "Claire Martin" in html and "Éducation nationale" in html

    client.post(
        f"/reunions/{meeting.pk}/ordre-du-jour/{item.pk}/decision/",
        {"text": "suivi social décidé"},
    )
    client.post(f"/reunions/{meeting.pk}/ordre-du-jour/{topic.pk}/decision/", {"text": "Relancer"})
    decision = Decision.objects.get(agenda_item=item)
    entry = referral.timeline.get(kind=TimelineEntry.Kind.DECISION)
    assert decision.timeline_entry == entry
    day = meeting.local_day
    assert entry.text.startswith("Réunion du ") and entry.text.endswith(": suivi social décidé")
    assert str(day.year) in entry.text
    assert Decision.objects.get(agenda_item=topic).timeline_entry is None
    # The referral's readers see it on its timeline; the meeting's readers see it in the minutes.
    page = client.get(f"/signalements/{referral.pk}/").content.decode()
    assert "suivi social décidé" in page
    assert (
        "suivi social décidé"
        in as_user(world.member).get(f"/reunions/{meeting.pk}/").content.decode()
    )


@pytest.mark.django_db
def test_crafted_attendance_for_another_meeting_saves_nothing(as_user, world):
    meeting = hold(plan(world), world.referent)
    other = hold(plan(world), world.referent)
    mine = meeting.invitations.get(user=world.member)
    theirs = other.invitations.get(user=world.member)
    as_user(world.referent).post(
        f"/reunions/{meeting.pk}/presences/",
        {f"invitation-{mine.pk}": "present", f"invitation-{theirs.pk}": "present"},
    )
    as_user(world.referent).post(
        f"/reunions/{meeting.pk}/presences/", {f"invitation-{mine.pk}": "bogus"}
    )
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.attendance == theirs.attendance == Attendance.UNKNOWN


@pytest.mark.django_db
def test_action_items_and_their_bad_input(as_user, world):
    meeting = hold(plan(world), world.referent)
    client = as_user(world.referent)
    url = f"/reunions/{meeting.pk}/actions/"
    before = (meeting.local_day - datetime.timedelta(days=1)).isoformat()
    later = (meeting.local_day + datetime.timedelta(days=10)).isoformat()
    for data in (
        {"what": "Contacter la famille", "owner": world.member.pk, "due_on": before},
        {"what": "", "owner": world.member.pk, "due_on": later},
        {"what": "x", "owner": world.member_without_grant.pk, "due_on": later},  # not invited
        {"what": "x", "owner": world.other_referent.pk, "due_on": later},
    ):
        response = client.post(url, data, follow=True)
        assert "fr-alert--error" in response.content.decode() or "non ajoutée" in (
            response.content.decode()
        )
    assert not ActionItem.objects.exists()
    client.post(url, {"what": "Contacter la famille", "owner": world.member.pk, "due_on": later})
    action = ActionItem.objects.get()
    assert action.owner == world.member and action.status == ActionItem.Status.OPEN
    # The owner follows it up; another invitee may not.
    status_url = f"/reunions/{meeting.pk}/actions/{action.pk}/etat/"
    assert as_user(world.liaison).post(status_url, {"status": "done"}).status_code == 404
    as_user(world.member).post(status_url, {"status": "done"})
    action.refresh_from_db()
    assert action.status == ActionItem.Status.DONE


@pytest.mark.django_db
def test_externals_receive_nothing(world, django_capture_on_commit_callbacks):
    from django.core import mail

    with django_capture_on_commit_callbacks(execute=True):
        meeting = plan(world)
        actions.do_add_external(
            meeting,
            name="Paul Roux",
            institution="Conseil départemental",
            acting_user=world.referent,
        )
    assert ExternalParticipant.objects.count() == 1
    assert all("Roux" not in " ".join(m.to) for m in mail.outbox)
    assert len(mail.outbox) == meeting.invitations.count()


@pytest.mark.django_db
def test_minutes_refuse_the_name_of_a_person_on_the_agenda(as_user, world, referral):
    """Jeanne Dupont's referral is on the agenda: notes, decisions, actions, topics, addenda
    naming her are refused with a clear message; other words (Dupontel) pass."""
    from django.core.exceptions import ValidationError

    from tests.meetings.helpers import approved

    meeting = plan(world)
    actions.do_add_referral_item(meeting, reference=referral.reference, acting_user=world.referent)
    with pytest.raises(ValidationError, match=referral.reference):
        actions.do_add_topic(meeting, title="Cas de Mme DUPONT", acting_user=world.referent)
    meeting = hold(meeting, world.referent)
    item = AgendaItem.objects.get(meeting=meeting)
    client = as_user(world.referent)
    for text in ("Vu Jeanne hier", "famille dupont reçue", "Famille Dupônt"):
        response = client.post(
            f"/reunions/{meeting.pk}/ordre-du-jour/{item.pk}/notes/", {"notes": text}, follow=True
        )
        assert "pseudonyme" in response.content.decode()
        client.post(f"/reunions/{meeting.pk}/ordre-du-jour/{item.pk}/decision/", {"text": text})
        client.post(
            f"/reunions/{meeting.pk}/actions/",
            {"what": text, "owner": world.member.pk, "due_on": meeting.local_day.isoformat()},
        )
    item.refresh_from_db()
    assert item.notes == "" and not Decision.objects.exists() and not ActionItem.objects.exists()
    assert not referral.timeline.filter(kind=TimelineEntry.Kind.DECISION).exists()
    actions.do_save_notes(item, notes="Restaurant Dupontel, Jeannette", acting_user=world.referent)
    meeting = approved(world, meeting)
    with pytest.raises(ValidationError):
        actions.do_add_addendum(
            meeting, reason="Oubli", text="Mme Dupont était présente", acting_user=world.referent
        )


@pytest.mark.django_db
def test_the_name_check_tells_nothing_to_who_may_not_read_the_referral(world, referral):
    """A member without a grant proposing a correction is not refused on the referral's name:
    a refusal would tell them who is on the agenda."""
    from tests.meetings.helpers import all_present

    meeting = plan(world)
    actions.do_add_referral_item(meeting, reference=referral.reference, acting_user=world.referent)
    meeting = hold(meeting, world.referent)
    all_present(meeting, world.referent)
    actions.do_send_for_review(
        meeting, review_until=timezone.localdate(), acting_user=world.referent
    )
    comment = actions.do_propose_correction(
        meeting, text="Corriger : Dupont", acting_user=world.member
    )
    assert comment.pk


@pytest.mark.django_db
def test_a_referral_goes_on_the_agenda_only_if_the_chair_may_read_it(as_user, world, referral):
    meeting = plan(world, chair=world.member)  # a cell member chairs, without a grant
    url = f"/reunions/{meeting.pk}/ordre-du-jour/signalement/"
    response = as_user(world.referent).post(url, {"reference": referral.reference}, follow=True)
    assert "président de séance n&#x27;a pas accès" in response.content.decode()
    assert not AgendaItem.objects.exists()
    case_actions.do_grant_access(
        referral,
        member=world.member,
        contribute=False,
        reason="Réunion",
        expires_on=timezone.localdate() + datetime.timedelta(days=5),
        acting_user=world.referent,
    )
    as_user(world.referent).post(url, {"reference": referral.reference})
    assert AgendaItem.objects.get().referral == referral
