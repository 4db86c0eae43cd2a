from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from cmer.audit import sealing, verification
from cmer.audit.models import AuditCheckpoint, AuditVerification


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
def daily_checkpoint() -> int | None:
    """Daily: verify the chain (result kept for the DPO page), then seal its head — only if the
    chain verified: a failed verification is never signed, it alerts the DPOs instead."""
    result = verification.record(verification.verify_chain())
    if not result.ok:
        alert_dpos(result.pk)
        return None
    return verification.make_checkpoint(AuditCheckpoint.Kind.DAILY).pk


def dpo_emails() -> list[str]:
    from cmer.accounts.models import Membership, Role, User

    holders = Membership.objects.active().filter(role=Role.DPO).values("user_id")
    return sorted(
        User.objects.filter(pk__in=holders, is_active=True).values_list("email", flat=True)
    )


def alert_dpos(verification_id: int) -> int:
    """E-mail every DPO that a verification failed: where, not what (no content in e-mails)."""
    record = AuditVerification.objects.get(pk=verification_id)
    recipients = dpo_emails()
    if not recipients:
        return 0
    with translation.override(settings.LANGUAGE_CODE):
        url = settings.SITE_URL.rstrip("/") + reverse("audit:integrity")
        body = _(
            "Bonjour,\n\nLa vérification du journal d'audit de CMER a échoué "
            "(anomalie à la position %(position)s). Aucun point de contrôle n'a été signé.\n\n"
            "Consultez la page d'intégrité : %(url)s"
        ) % {"position": record.problem_position or "—", "url": url}
        return send_mail(
            _("CMER — échec de la vérification du journal d'audit"),
            body,
            settings.DEFAULT_FROM_EMAIL,
            recipients,
            fail_silently=False,
        )


# Beat sends one every 10 s: a worker back from an outage skips the stale ones.
@shared_task(name="cmer.audit.seal_pending", ignore_result=True, expires=30)
def seal_pending() -> int:
    """Every few seconds: chain what the writers' own after-commit sealing left pending."""
    return sealing.seal_pending(drain=True)


@shared_task(name="cmer.audit.render_pdf_export", ignore_result=True, acks_late=True)
def render_pdf_export(export_id: int) -> None:
    """Render a DPO's PDF export (up to ``exports.PDF_LIMIT`` rows) in the worker. Idempotent: a
    redelivered message finds the export ready and does nothing."""
    import time

    from django.utils import timezone

    from cmer.audit.exports import render_export_pdf
    from cmer.audit.models import AuditExport

    export = AuditExport.objects.filter(pk=export_id).first()
    if export is None or export.status != AuditExport.Status.PENDING:
        return
    started = time.monotonic()
    try:
        content, rows = render_export_pdf(export)
    except Exception:
        AuditExport.objects.filter(pk=export_id).update(
            status=AuditExport.Status.FAILED, finished_at=timezone.now()
        )
        raise
    AuditExport.objects.filter(pk=export_id, status=AuditExport.Status.PENDING).update(
        status=AuditExport.Status.READY,
        content=content,
        rows=rows,
        render_seconds=round(time.monotonic() - started, 2),
        finished_at=timezone.now(),
    )


# Like the nightly verification: may outlast the default limits, acknowledged on receipt.
@shared_task(
    name="cmer.audit.verify_now",
    ignore_result=True,
    acks_late=False,
    time_limit=3600,
    soft_time_limit=3540,
)
def verify_now(run_id: int) -> None:
    """ "Vérifier maintenant": verify the chain in the worker, its progress kept on the run for
    the integrity page; a clean chain is then sealed by a manual checkpoint, a failed one
    alerts the DPOs and is never signed. A redelivered message finds the run done."""
    from django.db import connection

    from cmer.audit.models import VerificationRun

    run = VerificationRun.objects.filter(pk=run_id).first()
    if run is None or run.status in (VerificationRun.Status.DONE, VerificationRun.Status.FAILED):
        return
    total = verification.head()[0]
    VerificationRun.objects.filter(pk=run_id).update(
        status=VerificationRun.Status.RUNNING, total=total, checked=0
    )
    reporter = _ProgressReporter(run_id) if connection.vendor == "postgresql" else None
    try:
        report = verification.verify_chain(
            on_progress=reporter.report if reporter else None,
        )
    finally:
        if reporter:
            reporter.stop()
    result = verification.record(report)
    VerificationRun.objects.filter(pk=run_id).update(
        status=VerificationRun.Status.DONE,
        checked=report.checked,
        total=max(total, report.checked),
        result=result,
    )
    if not result.ok:
        alert_dpos(result.pk)
    else:
        verification.make_checkpoint(AuditCheckpoint.Kind.MANUAL)


class _ProgressReporter:
    """Writes the run's progress from a thread of its own, on a connection of its own: the
    verification reads the chain in one long transaction, whose writes nobody would see
    before it ends."""

    def __init__(self, run_id: int) -> None:
        import threading

        self.run_id = run_id
        self.checked = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def report(self, checked: int) -> None:
        self.checked = checked

    def _loop(self) -> None:
        from django.db import connections

        from cmer.audit.models import VerificationRun

        written = -1
        try:
            while not self.done.wait(1.0):
                if self.checked != written:
                    written = self.checked
                    VerificationRun.objects.filter(pk=self.run_id).update(checked=written)
        finally:
            connections.close_all()

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=5)
