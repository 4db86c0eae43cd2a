from __future__ import annotations

from celery import shared_task


@shared_task(name="cmer.ping")
def ping() -> str:
    """A no-op through the queue, for checking a deployment by hand."""
    return "pong"
