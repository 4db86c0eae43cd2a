"""A task for the real-worker tests only (the worker imports it with ``--include``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery import shared_task

from cmer.outbox.effects import claim, effect_key


@shared_task(name="tests.slow_effect", bind=True)
def slow_effect(self, seconds: int) -> None:  # type: ignore[no-untyped-def]
    """Mark each start (one file per worker process), wait, then record one effect."""
    marks = Path(os.environ["CMER_TEST_MARKS"])
    (marks / f"start-{os.getpid()}").touch()
    time.sleep(seconds)
    with claim(effect_key(self)) as first:
        if first:
            (marks / f"effect-{os.getpid()}").touch()
