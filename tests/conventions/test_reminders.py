"""Expiry reminders 60, 30 and 7 days before the end: each sent once, no personal data."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from cmer.accounts.models import Role
from conventions.models import ConventionReminder
from conventions.tasks import due_threshold, plan_expiry_reminders, send_convention_reminder
from tests.conftest import make_user

from .factories import ConventionFactory

END = datetime.date(2027, 6, 30)


@pytest.fixture
def run_on(django_capture_on_commit_callbacks):
    """Run the beat task on a given morning, with on-commit sends executed as in production."""

    def run(day: datetime.date) -> int:
        moment = datetime.datetime.combine(day, datetime.time(6), tzinfo=datetime.UTC)
        with (
            time_machine.travel(moment, tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            return plan_expiry_reminders()

    return run


@pytest.fixture
def expiring(world):
    return ConventionFactory(
        commune=world.tarascon,
        signed=True,
        effective_date=datetime.date(2024, 7, 1),
        end_date=END,
        title="Protocole confidentiel de Tarascon",
    )


def test_due_threshold():
    assert due_threshold(61) is None
    assert due_threshold(60) == 60
    assert due_threshold(31) == 60
    assert due_threshold(30) == 30
    assert due_threshold(7) == 7
    assert due_threshold(0) == 7
    assert due_threshold(-1) is None


def test_each_reminder_is_sent_once(world, expiring, run_on):
    # The memberships of the personas start today: keep them valid on the dates we travel to.
    for user in (world.referent, world.liaison):
        user.memberships.update(starts_on=datetime.date(2020, 1, 1))
    sent_days = []
    day = END - datetime.timedelta(days=70)
    while day <= END + datetime.timedelta(days=3):
        before = len(mail.outbox)
        run_on(day)
        run_on(day)  # beat may fire twice: still once
        if len(mail.outbox) > before:
            sent_days.append(((END - day).days, len(mail.outbox) - before))
        day += datetime.timedelta(days=1)
    assert sent_days == [(60, 2), (30, 2), (7, 2)]
    assert ConventionReminder.objects.filter(convention=expiring).count() == 3
    assert all(r.sent_at for r in ConventionReminder.objects.all())


def test_recipients_and_content(world, expiring, run_on):
    world.other_referent.memberships.update(starts_on=datetime.date(2020, 1, 1))
    run_on(END - datetime.timedelta(days=30))
    recipients = sorted(address for message in mail.outbox for address in message.to)
    assert recipients == sorted([world.referent.email, world.liaison.email])
    assert all(len(message.to) == 1 for message in mail.outbox)  # nobody sees the others
    message = mail.outbox[0]
    assert message.subject == "[CMER] Une convention demande votre attention"
    text = message.subject + message.body
    assert f"/conventions/{expiring.pk}/" in text
    for secret in ("Tarascon", "Protocole confidentiel", world.referent.last_name):
        assert secret not in text


def test_missed_days_send_only_the_current_reminder(world, expiring, run_on):
    for user in (world.referent, world.liaison):
        user.memberships.update(starts_on=datetime.date(2020, 1, 1))
    run_on(END - datetime.timedelta(days=20))  # the beat was down for weeks
    assert len(mail.outbox) == 2  # referent and liaison, once each
    assert ConventionReminder.objects.get().days_before == 30


def test_unsent_reminder_is_requeued(world, expiring):
    for user in (world.referent, world.liaison):
        user.memberships.update(starts_on=datetime.date(2020, 1, 1))
    reminder = ConventionReminder.objects.create(
        convention=expiring,
        period_end=END,
        days_before=60,
        created_at=timezone.now() - datetime.timedelta(hours=2),
    )
    plan_expiry_reminders()
    reminder.refresh_from_db()
    assert reminder.sent_at is not None
    assert len(mail.outbox) == 2
    assert send_convention_reminder(reminder.pk) == 0  # idempotent
    assert len(mail.outbox) == 2


def test_no_reminder_for_drafts_or_terminated(world, run_on):
    make_user("x@t.test", Role.REFERENT, commune=world.miramas)
    ConventionFactory(commune=world.tarascon, end_date=END)  # draft
    ConventionFactory(
        commune=world.miramas,
        signed=True,
        effective_date=datetime.date(2024, 7, 1),
        end_date=END,
        status="terminated",
        terminated_on=datetime.date(2025, 1, 1),
        termination_reason="Fin",
    )
    assert run_on(END - datetime.timedelta(days=30)) == 0
    assert mail.outbox == []


def test_tacit_renewal_reminds_before_each_period_end(world, run_on):
    for user in (world.referent, world.liaison):
        user.memberships.update(starts_on=datetime.date(2020, 1, 1))
    ConventionFactory(
        commune=world.tarascon,
        signed=True,
        effective_date=datetime.date(2025, 1, 1),
        end_date=datetime.date(2025, 12, 31),
        duration_months=12,
        tacit_renewal=True,
    )
    run_on(datetime.date(2026, 12, 1))
    reminder = ConventionReminder.objects.get()
    assert reminder.period_end == datetime.date(2026, 12, 31)
    assert reminder.days_before == 30


def test_beat_schedule_runs_the_planner():
    from django.conf import settings

    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "conventions.plan_expiry_reminders" in tasks
