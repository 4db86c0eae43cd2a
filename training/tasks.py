"""Celery tasks of training. They take ids only, re-fetch, and are idempotent."""

from __future__ import annotations

import datetime

from celery import shared_task
from django.utils import timezone


@shared_task(
    name="training.build_attestation_bundle",
    bind=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=3,
    acks_late=True,
)
def build_attestation_bundle(self, bundle_id: int) -> None:  # type: ignore[no-untyped-def]
    """Build the zip of a session's attestations (skipped if already built)."""
    from auditlog.context import set_actor

    from .actions import build_bundle, mark_bundle_failed
    from .models import AttestationBundle

    bundle = AttestationBundle.objects.filter(pk=bundle_id).select_related("requested_by").first()
    if bundle is None or bundle.state != AttestationBundle.State.PENDING:
        return
    try:
        with set_actor(bundle.requested_by):
            build_bundle(bundle_id)
    except OSError:
        if self.request.retries >= self.max_retries:
            mark_bundle_failed(bundle_id)
        raise
    except Exception:
        mark_bundle_failed(bundle_id)
        raise


@shared_task(name="training.purge_stale_previews")
def purge_stale_previews(hours: int = 48) -> int:
    """Previews never confirmed are abandoned after ``hours``: their file and rows are dropped."""
    from auditlog.context import set_actor

    from .actions import ActionRefused, do_cancel_import
    from .models import AttendanceImport

    limit = timezone.now() - datetime.timedelta(hours=hours)
    count = 0
    for staged in AttendanceImport.objects.filter(
        state=AttendanceImport.State.PREVIEW, created_at__lt=limit
    ).select_related("created_by"):
        with set_actor(staged.created_by):
            try:
                do_cancel_import(staged, acting_user=staged.created_by)
            except ActionRefused:
                continue
        count += 1
    return count
