from __future__ import annotations

from celery import shared_task

from cmer.queue import resend_unsent


@shared_task(name="cmer.outbox.resend_unsent", ignore_result=True)
def resend_unsent_task() -> int:
    return resend_unsent()
