from __future__ import annotations

from celery import shared_task

from cmer.audit import sealing, verification
from cmer.audit.models import AuditCheckpoint


# Verifying the whole chain may outlast the default limits (270 s, below the visibility
# timeout): it gets an hour, and is acknowledged on receipt so that a run longer than the
# visibility timeout is never handed to a second worker (a lost night is made up the next one).
@shared_task(
    name="cmer.audit.daily_checkpoint",
    autoretry_for=(Exception,),
    max_retries=3,
    acks_late=False,
    time_limit=3600,
    soft_time_limit=3540,
)
def daily_checkpoint() -> int:
    """Daily: verify the chain (result kept for the DPO page), then seal its head."""
    verification.record(verification.verify_chain())
    return verification.make_checkpoint(AuditCheckpoint.Kind.DAILY).pk


# Beat sends one every 10 s: a worker back from an outage skips the stale ones.
@shared_task(name="cmer.audit.seal_pending", ignore_result=True, expires=30)
def seal_pending() -> int:
    """Every few seconds: chain what the writers' own after-commit sealing left pending."""
    return sealing.seal_pending(drain=True)
