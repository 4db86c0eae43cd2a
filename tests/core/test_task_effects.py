"""A notification for one event is sent once, whatever the redeliveries (issue 13, point 4)."""

from __future__ import annotations

import smtplib

import pytest
from django.core import mail

from cases import tasks
from cmer.accounts.models import Role
from cmer.outbox.effects import claim
from cmer.outbox.models import TaskEffect
from tests.cases.helpers import file_referral
from tests.conftest import make_user


@pytest.fixture
def referral(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        referral = file_referral(world.agent, world.tarascon)
    mail.outbox.clear()
    return referral


@pytest.mark.django_db
def test_the_same_message_delivered_twice_sends_one_email(world, referral):
    """Finding: a notification that ran but could not be acknowledged ran again and sent a
    second e-mail. A redelivery carries the same task id: it finds its effects recorded."""
    tasks.notify_referents.apply(args=[referral.pk, "submitted"], task_id="message-a41")
    tasks.notify_referents.apply(args=[referral.pk, "submitted"], task_id="message-a41")
    assert [m.to for m in mail.outbox] == [[world.referent.email]]
    assert (
        TaskEffect.objects.filter(
            key__startswith="cases.tasks.notify_referents:message-a41:"
        ).count()
        == 1
    )


@pytest.mark.django_db
def test_another_event_is_sent_again(world, referral):
    tasks.notify_user.apply(args=[world.member.pk, referral.pk, "granted"], task_id="message-1")
    tasks.notify_user.apply(args=[world.member.pk, referral.pk, "granted"], task_id="message-2")
    assert [m.to for m in mail.outbox] == [[world.member.email], [world.member.email]]


@pytest.mark.django_db
def test_each_recipient_gets_a_separate_email(world, referral):
    """Recipients never see each other's address, and each is served once."""
    second = make_user("referent2@tarascon.test", Role.REFERENT, commune=world.tarascon)
    tasks.notify_referents.apply(args=[referral.pk, "submitted"], task_id="message-7")
    assert sorted(m.to[0] for m in mail.outbox) == sorted([world.referent.email, second.email])
    assert all(len(m.to) == 1 for m in mail.outbox)


@pytest.mark.django_db
def test_a_retry_after_an_smtp_error_sends_only_to_those_not_served(
    world, referral, monkeypatch, settings
):
    from django.core.mail.backends.locmem import EmailBackend

    second = make_user("referent2@tarascon.test", Role.REFERENT, commune=world.tarascon)
    real_send = EmailBackend.send_messages

    def refuse_second(self, messages):
        if messages[0].to == [second.email]:
            raise smtplib.SMTPServerDisconnected("gone")
        return real_send(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", refuse_second)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        # The error is what triggers the task's autoretry (smtplib's errors are OSError).
        tasks._send(_FakeTask("message-9"), [world.referent.pk, second.pk], "/x/")
    assert [m.to for m in mail.outbox] == [[world.referent.email]]
    assert not TaskEffect.objects.filter(key__endswith=f":{second.pk}").exists()

    monkeypatch.setattr(EmailBackend, "send_messages", real_send)
    assert tasks._send(_FakeTask("message-9"), [world.referent.pk, second.pk], "/x/") == 1
    assert [m.to for m in mail.outbox] == [[world.referent.email], [second.email]]


@pytest.mark.django_db
def test_notification_tasks_retry_on_smtp_errors_below_the_visibility_timeout(settings):
    for task in (
        tasks.notify_referents,
        tasks.notify_commune_referents,
        tasks.notify_liaisons,
        tasks.notify_user,
    ):
        assert issubclass(smtplib.SMTPException, task.autoretry_for)
        assert task.acks_late
        assert task.retry_backoff_max < settings.CELERY_VISIBILITY_TIMEOUT


@pytest.mark.django_db
def test_claim_is_rolled_back_when_the_effect_fails():
    with pytest.raises(RuntimeError), claim("k:1") as first:
        assert first
        raise RuntimeError
    assert not TaskEffect.objects.exists()
    with claim("k:1") as first:
        assert first
    with claim("k:1") as again:
        assert not again
    assert TaskEffect.objects.count() == 1


class _FakeTask:
    name = "cases.tasks.notify_referents"

    def __init__(self, task_id: str) -> None:
        self.request = type("Request", (), {"id": task_id})()
