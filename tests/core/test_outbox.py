"""A task whose broker is down at commit time is kept and sent later (invariant 4)."""

from __future__ import annotations

import pytest
from celery import shared_task

from cmer.outbox.models import QueuedTask
from cmer.queue import enqueue_on_commit, resend_unsent

CALLS: list[tuple] = []


@shared_task(name="tests.record_call")
def record_call(object_id: int, kind: str) -> None:
    CALLS.append((object_id, kind))


@pytest.fixture(autouse=True)
def _reset():
    CALLS.clear()


@pytest.mark.django_db
def test_task_runs_after_commit_and_is_marked_sent(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_on_commit(record_call, 7, "submitted")
        assert CALLS == []  # not before the commit
    assert CALLS == [(7, "submitted")]
    assert QueuedTask.objects.get().sent_at is not None


@pytest.mark.django_db
def test_unreachable_broker_keeps_the_task_for_the_resend_job(
    django_capture_on_commit_callbacks, monkeypatch
):
    from cmer.celery import app

    app.conf.task_always_eager = False  # restored by the autouse fixture in tests/conftest.py

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(app, "send_task", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_on_commit(record_call, 8, "granted")
    queued = QueuedTask.objects.get()
    assert queued.sent_at is None and queued.attempts == 1
    assert queued.last_error == "ConnectionRefusedError"

    sent = []
    monkeypatch.setattr(
        app, "send_task", lambda name, args, **kw: sent.append((name, args, kw["task_id"]))
    )
    from datetime import timedelta

    assert resend_unsent(older_than=timedelta(0)) == 1
    # The row's own task id: if the first publish reached Redis after all, the task sees the
    # same event twice and its effects are not repeated (cmer.outbox.effects).
    assert sent == [("tests.record_call", [8, "granted"], f"cmer-outbox-{queued.pk}")]
    queued.refresh_from_db()
    assert queued.sent_at is not None


@pytest.mark.django_db
def test_rolled_back_work_sends_nothing(django_capture_on_commit_callbacks):
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                enqueue_on_commit(record_call, 9, "x")
                raise RuntimeError
        except RuntimeError:
            pass
    assert CALLS == [] and not QueuedTask.objects.exists()


@pytest.mark.django_db
def test_a_task_queued_by_name_runs_like_the_task(django_capture_on_commit_callbacks):
    """By name, so that a module the task imports can queue it without an import circle."""
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_on_commit("tests.record_call", 8, "by-name")
    assert CALLS == [(8, "by-name")]
    assert QueuedTask.objects.get().task_name == "tests.record_call"


@pytest.mark.django_db
def test_an_unknown_task_name_is_refused_at_once():
    with pytest.raises(LookupError):
        enqueue_on_commit("tests.no_such_task", 1)
    assert not QueuedTask.objects.exists()


def test_personal_data_cannot_be_enqueued():
    with pytest.raises(TypeError):
        enqueue_on_commit(record_call, {"surname": "Dupont"}, "x")


@pytest.mark.django_db
def test_prune_drops_only_old_sent_rows_and_effects():
    from datetime import timedelta

    from django.utils import timezone

    from cmer.outbox.models import TaskEffect
    from cmer.queue import prune

    old = timezone.now() - timedelta(days=31)
    QueuedTask.objects.create(task_name="a", created_at=old, sent_at=old)
    kept_unsent = QueuedTask.objects.create(task_name="b", created_at=old)
    kept_recent = QueuedTask.objects.create(task_name="c", sent_at=timezone.now())
    TaskEffect.objects.create(key="old", created_at=old)
    TaskEffect.objects.create(key="new")
    assert prune() == 2
    assert set(QueuedTask.objects.values_list("pk", flat=True)) == {kept_unsent.pk, kept_recent.pk}
    assert list(TaskEffect.objects.values_list("key", flat=True)) == ["new"]
