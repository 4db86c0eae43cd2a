from __future__ import annotations

from celery import shared_task

from cmer.audit import sealing, verification
from cmer.audit.models import AuditCheckpoint


@shared_task(name="cmer.audit.daily_checkpoint", autoretry_for=(Exception,), max_retries=3)
def daily_checkpoint() -> int:
    """Daily: verify the chain (result kept for the DPO page), then seal its head."""
    verification.record(verification.verify_chain())
    return verification.make_checkpoint(AuditCheckpoint.Kind.DAILY).pk


@shared_task(name="cmer.audit.seal_pending", ignore_result=True)
def seal_pending() -> int:
    """Every few seconds: chain what the writers' own after-commit sealing left pending."""
    return sealing.seal_pending(drain=True)
