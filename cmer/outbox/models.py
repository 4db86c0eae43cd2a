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
