"""The task outbox: a Celery task is written here in the caller's transaction, then sent.

If the broker is unreachable when the transaction commits, the row stays unsent and the beat job
``cmer.outbox.resend_unsent`` sends it later: a task is never lost (DESIGN.md invariant 4).
Arguments are ids and short codes only: never personal data in a Celery message.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class QueuedTask(models.Model):
    task_name = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["sent_at", "created_at"])]

    def __str__(self) -> str:
        return f"{self.task_name} #{self.pk}"


class TaskEffect(models.Model):
    """One outside effect of a task (an e-mail to one recipient, …), recorded once.

    A Celery message can be delivered more than once (acks_late: a worker killed after the
    effect but before the acknowledgement, an acknowledgement lost with Redis). The task claims
    ``key`` (task id + recipient) in the transaction that performs the effect: a redelivery
    finds the key taken and does nothing (cmer.outbox.effects.claim).
    """

    key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return self.key


class Heartbeat(models.Model):
    """Last sign of life of a background process ("worker", "beat"), read by /healthz.

    Written every CMER_HEARTBEAT_SECONDS by the process itself (cmer.heartbeat): the worker from
    its consumer's event loop (stops when the consumer is disconnected or stuck), beat from its
    scheduler loop. One row per kind: any live worker keeps "worker" fresh.
    """

    name = models.CharField(max_length=20, primary_key=True)
    seen_at = models.DateTimeField()
    hostname = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.name} {self.seen_at:%Y-%m-%dT%H:%M:%S%z}"
