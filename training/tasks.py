"""Celery tasks of training. They take ids only, re-fetch, and are idempotent."""

from __future__ import annotations

import datetime

from celery import Task, shared_task
from django.utils import timezone


@shared_task(
    name="training.build_attestation_bundle",
    bind=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=120,
    max_retries=3,
    acks_late=True,
)
def build_attestation_bundle(self: Task, bundle_id: int) -> None:
    """Build the zip of a session's attestations (skipped if built, or being built elsewhere).

    A worker killed mid-build leaves the message unacknowledged: it comes back after the
    visibility timeout, when the run's lease is over (training.actions.BUNDLE_LEASE).
    """
    from auditlog.context import set_actor

    from .actions import build_bundle, mark_bundle_failed, release_bundle_run, start_bundle_run
    from .models import AttestationBundle

    if not start_bundle_run(bundle_id):
        return
    bundle = AttestationBundle.objects.select_related("requested_by").get(pk=bundle_id)
    try:
        with set_actor(bundle.requested_by):
            build_bundle(bundle_id)
    except OSError:
        if self.request.retries >= self.max_retries:
            mark_bundle_failed(bundle_id)
        else:
            release_bundle_run(bundle_id)
        raise
    except Exception:  # including the soft time limit: the user sees "Échec" and may ask again
        mark_bundle_failed(bundle_id)
        raise


@shared_task(name="training.confirm_attendance_import", bind=True, acks_late=True)
def confirm_attendance_import(self: Task, import_id: int) -> None:
    """Apply a confirmed attendance import, all or nothing, once.

    Idempotent twice over: the import row is locked and must still be "en cours", and the
    delivery's key is claimed (``cmer.outbox.effects``) in the same transaction as the rows. A
    worker killed mid-run leaves nothing (its transaction is rolled back) and the redelivered
    message applies it. A failure goes back to the preview with its reason: nothing written.
    """
    from auditlog.context import set_actor

    from cmer.outbox.effects import effect_key

    from .actions import FAILURE_ERROR, ActionRefused, do_confirm_import, mark_import_failed
    from .models import AttendanceImport

    staged = (
        AttendanceImport.objects.select_related("confirm_requested_by")
        .filter(pk=import_id, state=AttendanceImport.State.CONFIRMING)
        .first()
    )
    if staged is None:  # already applied, or never confirmed: nothing to do
        return
    user = staged.confirm_requested_by
    try:
        with set_actor(user):
            do_confirm_import(staged, acting_user=user, effect_key=effect_key(self))
    except ActionRefused as refusal:
        mark_import_failed(import_id, str(refusal))
    except Exception:  # the soft time limit included: the user sees why and may confirm again
        mark_import_failed(import_id, FAILURE_ERROR)
        raise


@shared_task(name="training.sweep_stale_bundles")
def sweep_stale_bundles() -> list[int]:
    """Every 5 minutes (beat): bundles pending too long are failed or queued again."""
    from .actions import sweep_stale_bundles as sweep

    return list(sweep())


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
