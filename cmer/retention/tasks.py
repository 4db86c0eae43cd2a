from __future__ import annotations

from celery import shared_task

from .models import RetentionRun


# A run over a large installation may outlast the default limits (270 s): it gets an hour and
# is acknowledged on receipt, so that it is never handed to a second worker mid-run (a missed
# day is made up by the next one: what is due stays due). Runs never overlap (runner.run_lock).
@shared_task(name="cmer.retention.apply", acks_late=False, time_limit=3600, soft_time_limit=3540)
def apply_retention() -> int | None:
    """Daily (beat): apply the retention rules; returns the run's id."""
    from .runner import apply

    run = apply(trigger=RetentionRun.Trigger.SCHEDULE).run
    return run.pk if run is not None else None  # None only for a dry run
