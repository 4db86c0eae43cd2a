"""Action items due soon or overdue: on the home page of the owner and the referent, and one
reminder e-mail to the owner (beat), once."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from cmer import permissions
from meetings import actions, tasks
from meetings.models import ActionItem
from tests.meetings.helpers import hold, plan


@pytest.fixture
def action(world):
    meeting = hold(plan(world), world.referent)
    return actions.do_add_action_item(
        meeting,
        what="Rencontrer la famille Dupont",
        owner=world.member,
        due_on=timezone.localdate() + datetime.timedelta(days=1),
        acting_user=world.referent,
    )


@pytest.mark.django_db
def test_the_owner_is_reminded_once_without_content(
    world, action, django_capture_on_commit_callbacks
):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.plan_action_reminders() == 1
    assert [m.to for m in mail.outbox] == [[world.member.email]]
    message = mail.outbox[0]
    assert "Dupont" not in message.body and "famille" not in message.body
    assert f"/reunions/{action.meeting_id}/" in message.body
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.plan_action_reminders() == 0
    assert tasks.send_action_reminder(action.pk) == 0  # the task run twice sends nothing
    assert len(mail.outbox) == 1
    action.refresh_from_db()
    assert action.reminder_sent_at is not None


@pytest.mark.django_db
def test_no_reminder_for_far_done_or_cancelled_actions(
    world, action, django_capture_on_commit_callbacks
):
    far = actions.do_add_action_item(
        action.meeting,
        what="Plus tard",
        owner=world.liaison,
        due_on=timezone.localdate() + datetime.timedelta(days=30),
        acting_user=world.referent,
    )
    actions.do_set_action_status(action, status="done", acting_user=world.member)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.plan_action_reminders() == 0
    assert not mail.outbox
    # Thirty days later the far one is overdue: reminded then.
    later = timezone.now() + datetime.timedelta(days=29)
    with time_machine.travel(later), django_capture_on_commit_callbacks(execute=True):
        assert tasks.plan_action_reminders() == 1
    assert [m.to for m in mail.outbox] == [[world.liaison.email]]
    far.refresh_from_db()
    assert far.reminder_sent_at is not None


@pytest.mark.django_db
def test_a_reminder_queued_but_lost_is_queued_again(
    world, action, django_capture_on_commit_callbacks
):
    tasks.plan_action_reminders()  # on_commit not run: as if the worker lost it
    action.refresh_from_db()
    assert action.reminder_queued_at and not action.reminder_sent_at
    later = timezone.now() + datetime.timedelta(hours=1)
    with time_machine.travel(later), django_capture_on_commit_callbacks(execute=True):
        tasks.plan_action_reminders()
    action.refresh_from_db()
    assert action.reminder_sent_at is not None
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_due_actions_on_the_home_page_of_the_owner_and_the_referent(as_user, world, action):
    for persona in ("member", "referent"):
        html = as_user(getattr(world, persona)).get("/").content.decode()
        block = html.split('data-testid="home-actions"')[1].split("</div>")[0]
        assert f"/reunions/{action.meeting_id}/#actions" in block
        assert "Dupont" not in block  # dates only on the home page
    for persona in ("liaison", "member_without_grant", "other_referent", "agent", "dpo"):
        html = as_user(getattr(world, persona)).get("/").content.decode()
        assert 'data-testid="home-actions"' not in html, persona
    overdue = ActionItem.objects.get()
    with time_machine.travel(timezone.now() + datetime.timedelta(days=3)):
        html = as_user(world.member).get("/").content.decode()
    assert "en retard" in html and overdue.status == ActionItem.Status.OPEN


@pytest.mark.django_db
def test_beat_schedules_the_reminders(settings):
    entries = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "meetings.plan_action_reminders" in entries


def test_e_mail_and_pdf_tasks_retry_below_the_visibility_timeout(settings):
    import smtplib

    for task in (
        tasks.send_invitations,
        tasks.send_review_notice,
        tasks.send_action_reminder,
        tasks.build_minutes_pdf,
    ):
        assert task.acks_late
        assert issubclass(smtplib.SMTPException, task.autoretry_for)
        assert task.retry_backoff_max < settings.CELERY_VISIBILITY_TIMEOUT
    assert tasks.build_minutes_pdf.time_limit < settings.CELERY_VISIBILITY_TIMEOUT


def _actions(meeting, referent, owner, days: list[int]) -> None:
    for offset in days:
        actions.do_add_action_item(
            meeting,
            what=f"Action {offset}",
            owner=owner,
            due_on=timezone.localdate() + datetime.timedelta(days=offset),
            acting_user=referent,
        )


@pytest.mark.django_db
def test_the_overdue_count_and_the_listed_actions_come_from_one_read(
    world, django_assert_num_queries
):
    from meetings.access import HOME_ACTIONS_SHOWN, home_actions

    meeting = hold(plan(world), world.referent)
    _actions(meeting, world.referent, world.member, [5, 6])
    later = timezone.now() + datetime.timedelta(days=10)
    with time_machine.travel(later):
        day = timezone.localdate()
        permissions.role_map(world.referent)  # memoised on the user, as in a request
        with django_assert_num_queries(1):
            shown = home_actions(world.referent, day)
        assert shown.overdue == 2 and len(shown.items) == 2
    # Past a full page of overdue items the count goes on past the list (a second statement).
    _actions(meeting, world.referent, world.member, list(range(1, HOME_ACTIONS_SHOWN + 4)))
    with time_machine.travel(timezone.now() + datetime.timedelta(days=40)):
        day = timezone.localdate()
        permissions.role_map(world.referent)
        with django_assert_num_queries(2):
            shown = home_actions(world.referent, day)
        assert len(shown.items) == HOME_ACTIONS_SHOWN
        assert shown.overdue == HOME_ACTIONS_SHOWN + 3 + 2
        # The member owns them all; another commune's referent sees none.
        assert home_actions(world.member, day).overdue == HOME_ACTIONS_SHOWN + 5
        assert not home_actions(world.other_referent, day)


@pytest.mark.django_db
def test_the_referent_dashboard_counts_every_overdue_action(as_user, world):
    from meetings.access import HOME_ACTIONS_SHOWN

    meeting = hold(plan(world), world.referent)
    _actions(meeting, world.referent, world.member, [*range(1, HOME_ACTIONS_SHOWN + 3), 60])
    with time_machine.travel(timezone.now() + datetime.timedelta(days=40)):
        html = as_user(world.referent).get("/").content.decode()
    assert f"{HOME_ACTIONS_SHOWN + 2} actions en retard" in html
    listed = html.split('data-testid="home-actions"')[1].split("</div>")[0]
    assert listed.count("voir l'action") == HOME_ACTIONS_SHOWN
    with time_machine.travel(timezone.now() + datetime.timedelta(days=1)):
        html = as_user(world.referent).get("/").content.decode()
    assert "Aucune action en retard." in html
