"""Enqueue Celery tasks only once the surrounding transaction has committed, without losing any.

A task enqueued inside a transaction may run before the data it needs is visible, or for data that
is then rolled back: so it is sent on commit. And a broker that is down at that moment must not
lose it: the task is first written to the outbox (cmer.outbox) in the same transaction, marked sent
once the broker took it, and re-sent by a beat job otherwise. Tasks take ids only.

Each row is sent with the Celery task id ``cmer-outbox-<row id>``: a re-send of a row whose
first publish reached Redis after all is the same event, which idempotent tasks recognise
(cmer.outbox.effects). Publishing gives up after about 2 s (socket timeouts in settings, one
retry): a request never waits longer on a dead broker.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import Task, current_app
from django.db import transaction
from django.utils import timezone

from cmer.outbox.models import QueuedTask

logger = logging.getLogger(__name__)

# Short: a web request must not hang on a dead broker; the outbox catches up later.
RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}


def task_id_for(queued_id: int) -> str:
    return f"cmer-outbox-{queued_id}"


def _send(queued_id: int) -> bool:
    queued = QueuedTask.objects.filter(pk=queued_id, sent_at__isnull=True).first()
    if queued is None:
        return True
    if current_app.conf.task_always_eager:
        # Embedded mode and tests: run in-process; a failing task must fail loudly here.
        current_app.tasks[queued.task_name].apply(
            args=queued.args, task_id=task_id_for(queued.pk), throw=True
        )
        QueuedTask.objects.filter(pk=queued.pk).update(sent_at=timezone.now(), attempts=1)
        return True
    try:
        current_app.send_task(
            queued.task_name,
            args=queued.args,
            task_id=task_id_for(queued.pk),
            retry=True,
            retry_policy=RETRY_POLICY,
        )
    except Exception as exc:  # broker unreachable: keep the row, the beat job retries
        QueuedTask.objects.filter(pk=queued.pk).update(
            attempts=queued.attempts + 1, last_error=type(exc).__name__[:200]
        )
        logger.warning("Task %s kept in the outbox: %s", queued.task_name, type(exc).__name__)
        return False
    QueuedTask.objects.filter(pk=queued.pk).update(
        sent_at=timezone.now(), attempts=queued.attempts + 1
    )
    return True


def enqueue_on_commit(task: Task | str, *args: int | str) -> None:
    """Record ``task(*args)`` in the outbox now; send it when the transaction commits.

    ``task`` is the task or its registered name: by name, a module that the task's own module
    imports can queue it without importing it back (no import circle).
    """
    for value in args:
        if not isinstance(value, int | str) or (isinstance(value, str) and len(value) > 64):
            raise TypeError("Celery tasks take ids and short codes only.")
    name = task if isinstance(task, str) else task.name
    if name not in current_app.tasks:
        # A web process imports a tasks module only when some code does: by name, load every
        # app's tasks as the worker does at start-up (once per process), then look again.
        current_app.loader.import_default_modules()
    if name not in current_app.tasks:
        # A typo would otherwise sit in the outbox, re-sent forever to a worker that drops it.
        raise LookupError(f"No Celery task named {name!r}.")
    queued = QueuedTask.objects.create(task_name=name, args=list(args))
    transaction.on_commit(lambda: _send(queued.pk))


def resend_unsent(older_than: timedelta = timedelta(minutes=1)) -> int:
    """Send what the broker could not take. Returns how many were sent."""
    limit = timezone.now() - older_than
    pending = QueuedTask.objects.filter(sent_at__isnull=True, created_at__lte=limit)
    return sum(_send(pk) for pk in pending.values_list("pk", flat=True)[:500])


def prune(older_than: timedelta = timedelta(days=30)) -> int:
    """Drop sent outbox rows and recorded effects older than any redelivery. Returns the count."""
    from cmer.outbox.models import TaskEffect

    limit = timezone.now() - older_than
    sent, _ = QueuedTask.objects.filter(sent_at__lt=limit).delete()
    effects, _ = TaskEffect.objects.filter(created_at__lt=limit).delete()
    return sent + effects
