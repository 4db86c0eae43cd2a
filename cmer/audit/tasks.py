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
