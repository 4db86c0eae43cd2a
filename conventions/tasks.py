"""Expiry reminders: 60, 30 and 7 days before a convention's end, each sent once.

``plan_expiry_reminders`` (Celery beat, daily) creates one ``ConventionReminder`` row per due
reminder (the unique constraint makes it once) and queues ``send_convention_reminder`` with the
row's id on commit. It also re-queues rows left unsent (broker down, worker lost), so nothing is
lost. The e-mail says only that a convention needs attention, with a link: no names, no commune.
"""

from __future__ import annotations

import datetime
import logging

from celery import Task, shared_task
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from cmer.accounts.models import Membership, Role
from cmer.outbox.effects import claim
from cmer.queue import enqueue_on_commit

from .models import Convention, ConventionReminder, Side

logger = logging.getLogger(__name__)

REMINDER_DAYS = (60, 30, 7)
RESEND_AFTER = datetime.timedelta(minutes=30)


def due_threshold(days_left: int) -> int | None:
    """The reminder due with ``days_left`` days to go: the smallest threshold not yet passed.

    With 29 days left the 30-day reminder is due (a missed 60-day one is not sent late).
    """
    if days_left < 0:
        return None
    candidates = [days for days in REMINDER_DAYS if days_left <= days]
    return min(candidates) if candidates else None


@shared_task(name="conventions.plan_expiry_reminders")
def plan_expiry_reminders() -> int:
    """Create and queue the reminders due today. Idempotent: returns how many were created."""
    today = timezone.localdate()
    created = 0
    candidates = (
        Convention.objects.with_sides()
        .filter(status=Convention.Status.SIGNED, end_date__isnull=False)
        .exclude(kind=Convention.Kind.AMENDMENT)
    )
    for convention in candidates.iterator():
        if convention.state_on(today) not in (Convention.Status.IN_FORCE, Convention.Status.SIGNED):
            continue
        end = convention.period_end_on(today)
        if end is None:
            continue
        threshold = due_threshold((end - today).days)
        if threshold is None:
            continue
        try:
            with transaction.atomic():
                reminder = ConventionReminder.objects.create(
                    convention=convention, period_end=end, days_before=threshold
                )
                enqueue_on_commit(send_convention_reminder, reminder.pk)
        except IntegrityError:
            continue  # already planned: each reminder goes once
        created += 1
    # Rows planned but never sent (broker unreachable, worker lost): queue them again.
    stale = ConventionReminder.objects.filter(
        sent_at__isnull=True, created_at__lt=timezone.now() - RESEND_AFTER
    ).values_list("pk", flat=True)
    for reminder_id in stale:
        send_convention_reminder.delay(reminder_id)
    return created


def reminder_recipients(convention: Convention) -> list[str]:
    """Active referents of the commune and liaisons of its department."""
    memberships = Membership.objects.active().filter(
        Q(commune_id=convention.commune_id, role=Role.REFERENT)
        | Q(department_id=convention.commune.department_id, role=Role.LIAISON)
    )
    return sorted(set(memberships.values_list("user__email", flat=True)))


@shared_task(
    name="conventions.send_convention_reminder",
    autoretry_for=(OSError,),
    retry_backoff=True,
    # Countdowns below the broker's visibility timeout (a held message would be redelivered).
    retry_backoff_max=120,
    max_retries=5,
)
def send_convention_reminder(reminder_id: int) -> int:
    """Send one reminder (ids only in the message). Does nothing if it was already sent."""
    with transaction.atomic():
        reminder = (
            ConventionReminder.objects.select_for_update()
            .select_related("convention", "convention__commune")
            .filter(pk=reminder_id)
            .first()
        )
        if reminder is None or reminder.sent_at is not None:
            return 0
        convention = reminder.convention
        if convention.state_on() not in (Convention.Status.IN_FORCE, Convention.Status.SIGNED):
            # Terminated or expired since it was planned: nothing to remind.
            reminder.sent_at = timezone.now()
            reminder.save()
            return 0
        recipients = reminder_recipients(convention)
        link = settings.SITE_URL.rstrip("/") + reverse("conventions:detail", args=[convention.pk])
        with override(settings.LANGUAGE_CODE):
            subject = _("[CMER] Une convention demande votre attention")
            body = _(
                "Bonjour,\n\n"
                "Une convention dont vous assurez le suivi arrive à échéance dans %(days)s jours "
                "au plus.\nConsultez-la après connexion : %(link)s\n\n"
                "Ce message ne contient aucune information confidentielle."
            ) % {"days": reminder.days_before, "link": link}
        connection = get_connection()
        messages = [
            EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [address])
            for address in recipients
        ]
        if messages:
            connection.send_messages(messages)
        reminder.sent_at = timezone.now()
        reminder.recipients = len(messages)
        reminder.save()
    logger.info("Convention reminder %s sent to %s recipient(s)", reminder_id, len(messages))
    return len(messages)


def other_side_recipients(convention: Convention, acting_side: str) -> list[tuple[int, str]]:
    """The other party's representatives, as (user id, address): the department's liaisons
    when the commune side acted, the commune's referents when the prefecture did."""
    memberships = Membership.objects.active()
    if acting_side == Side.COMMUNE:
        memberships = memberships.filter(
            department_id=convention.commune.department_id, role=Role.LIAISON
        )
    else:
        memberships = memberships.filter(commune_id=convention.commune_id, role=Role.REFERENT)
    return sorted(set(memberships.values_list("user_id", "user__email")))


def _tell_other_party(convention: Convention, acting_side: str, key: str, what: str) -> int:
    """One e-mail per representative of the other party, each claimed once under ``key``
    (``cmer.outbox.effects.claim``): a redelivered message, a retry after an SMTP error or a
    second queueing sends nothing twice. No commune, person or reason in it: a link only."""
    link = settings.SITE_URL.rstrip("/") + reverse("conventions:detail", args=[convention.pk])
    with override(settings.LANGUAGE_CODE):
        if what == "terminated":
            subject = _("[CMER] Une convention a été résiliée par l'autre partie")
            body = _(
                "Bonjour,\n\n"
                "L'autre partie a résilié une convention dont vous assurez le suivi.\n"
                "Le motif et la date sont consultables après connexion : %(link)s\n\n"
                "Ce message ne contient aucune information confidentielle."
            ) % {"link": link}
        else:
            subject = _("[CMER] L'autre partie ne reconduira pas une convention")
            body = _(
                "Bonjour,\n\n"
                "L'autre partie a notifié la non-reconduction d'une convention dont vous "
                "assurez le suivi : elle prendra fin à l'échéance indiquée.\n"
                "Consultez-la après connexion : %(link)s\n\n"
                "Ce message ne contient aucune information confidentielle."
            ) % {"link": link}
    sent = 0
    for user_id, address in other_side_recipients(convention, acting_side):
        with claim(f"{key}:{user_id}") as first:
            if first:
                sent += EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [address]).send()
    return sent


NOTICE = {
    "bind": True,
    "acks_late": True,
    "autoretry_for": (OSError,),
    "retry_backoff": 30,
    "retry_backoff_max": 120,
    "max_retries": 5,
}


@shared_task(name="conventions.send_termination_notice", **NOTICE)
def send_termination_notice(self: Task, convention_id: int) -> int:
    """Tell the other party that a convention was terminated: one e-mail per person, once."""
    convention = (
        Convention.objects.select_related("commune")
        .filter(pk=convention_id, status=Convention.Status.TERMINATED)
        .first()
    )
    if convention is None or convention.termination_notified_at is not None:
        return 0
    sent = _tell_other_party(
        convention,
        convention.terminated_side,
        f"conventions.termination:{convention.pk}",
        "terminated",
    )
    # Saved through the model (not update()): the audit registration sees the change.
    convention.termination_notified_at = timezone.now()
    convention.save(update_fields=["termination_notified_at"])
    logger.info("Termination notice for convention %s: %s recipient(s)", convention_id, sent)
    return sent


@shared_task(name="conventions.send_non_renewal_notice", **NOTICE)
def send_non_renewal_notice(self: Task, convention_id: int, acting_side: str) -> int:
    """Tell the other party that one side stopped a tacit renewal: it ends the convention too.

    Keyed by the notification date, so a later, different notice would be told again.
    """
    convention = (
        Convention.objects.select_related("commune")
        .filter(pk=convention_id, non_renewal_notified_on__isnull=False)
        .first()
    )
    if convention is None or acting_side not in Side.values:
        return 0
    key = f"conventions.non_renewal:{convention.pk}:{convention.non_renewal_notified_on:%Y%m%d}"
    sent = _tell_other_party(convention, acting_side, key, "non_renewal")
    logger.info("Non-renewal notice for convention %s: %s recipient(s)", convention_id, sent)
    return sent
