from __future__ import annotations

from celery import shared_task

from cmer.queue import prune, resend_unsent


# Beat runs these: no outside effect, safe to run twice; expiring messages (schedule options)
# keep a worker that was down from working through a pile of identical ones.
@shared_task(name="cmer.outbox.resend_unsent")
def resend_unsent_task() -> int:
    return resend_unsent()


@shared_task(name="cmer.outbox.prune")
def prune_task() -> int:
    return prune()
