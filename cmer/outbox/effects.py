"""Idempotent outside effects: claim a key in PostgreSQL in the transaction that does the effect.

    for user_id, address in recipients:
        with claim(f"{effect_key(self)}:{user_id}") as first:
            if first:
                send_mail(...)

The claim row is inserted in a transaction that commits only after the effect succeeded: if the
effect raises (SMTP down), the claim is rolled back and a retry may send; once committed, every
redelivery of the same message finds the key and sends nothing. Two deliveries running at the
same time serialise on the unique key (the second waits for the first's commit, then skips).
What remains is the instant between the SMTP server accepting and the commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import IntegrityError, transaction

from .models import TaskEffect


def effect_key(task: Any) -> str:
    """The key of this delivery's event: the Celery task id, the same on every redelivery.

    Tasks queued through cmer.queue get ``cmer-outbox-<row>`` as id, so a re-send of the same
    outbox row (the first publish timed out after Redis took it) is the same event too. A plain
    function call has no id: it is a new event each time.
    """
    task_id = getattr(getattr(task, "request", None), "id", None)
    return f"{task.name}:{task_id or 'call-' + uuid.uuid4().hex}"


@contextmanager
def claim(key: str) -> Iterator[bool]:
    """Yield True if ``key`` was free (do the effect inside the block), False if already done."""
    if len(key) > 200:
        raise ValueError("effect keys are at most 200 characters")
    with transaction.atomic():
        try:
            with transaction.atomic():
                TaskEffect.objects.create(key=key)
        except IntegrityError:
            first = False
        else:
            first = True
        yield first
