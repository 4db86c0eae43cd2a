from __future__ import annotations

from celery import shared_task


@shared_task(name="cmer.ping", ignore_result=False)
def ping() -> str:
    """Used by /healthz and by the real-worker test: proves a worker consumes the queue."""
    return "pong"
