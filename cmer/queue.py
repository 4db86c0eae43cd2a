"""Enqueue Celery tasks only once the surrounding transaction has committed.

A task enqueued inside a transaction may run before the data it needs is visible, or for data that
is then rolled back. Tasks take ids only (no personal data in a Celery message).
"""

from __future__ import annotations

import logging

from celery import Task
from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(task: Task, *args: int | str, **kwargs: int | str) -> None:
    def send() -> None:
        try:
            task.apply_async(args=args, kwargs=kwargs, retry=True)
        except Exception:  # broker unreachable even after kombu's retries
            # The caller's data is committed; the periodic sweeper of each app re-queues
            # unfinished work, so nothing is lost. Log the task name only, never arguments.
            logger.exception("Could not enqueue task %s", task.name)

    transaction.on_commit(send)
