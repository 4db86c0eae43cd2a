"""Celery tasks of meetings. They take ids only, re-fetch, re-check, and are idempotent.

- ``send_invitations(meeting_id)``: each invitee whose ``notified_sequence`` is behind the
  meeting's ``sequence`` gets one e-mail with an ``.ics`` (request, update or cancellation);
  the row is updated as each one goes, so a task run twice sends nothing twice.
- ``send_review_notice(meeting_id)``: attendees are told the draft minutes await their review.
- ``build_minutes_pdf(document_id)``: renders one version once (state + unique constraint);
  ``acks_late`` with a time limit well below the broker's visibility timeout, so a worker killed
  mid-render leaves the message to another worker, and a failure is stored for the chair to see.
- ``requeue_stale_documents`` (beat): a PDF left pending by a worker killed mid-render (Redis
  would hand its message back only after the visibility timeout) is queued again.
- ``plan_action_reminders`` (beat, daily) and ``send_action_reminder(action_id)``: one e-mail to
  the owner of an open action due within two days or overdue, once.

E-mails never name a person, a referral or a decision: a date, a place, a link.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import uuid
from typing import cast

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

logger = logging.getLogger(__name__)

REMINDER_DAYS_BEFORE = 2
# ``notified_sequence`` of a withdrawn invitee who has been told: above any real sequence.
WITHDRAWAL_TOLD = 2**31 - 1
RESEND_AFTER = datetime.timedelta(minutes=30)
# Well below CELERY_VISIBILITY_TIMEOUT (300 s, cmer/settings.py): a task that runs
# this long is killed before Redis hands its message to another worker.
PDF_SOFT_LIMIT = 120
PDF_HARD_LIMIT = 150
# A pending PDF older than this has lost its worker: re-queued by beat (requeue_stale_documents).
STALE_DOCUMENT_SECONDS = 10 * 60
# Retry countdowns stay below the visibility timeout too (cmer/settings.py).
RETRY_BACKOFF_MAX = 120


def _link(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


@shared_task(
    name="meetings.send_invitations",
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=RETRY_BACKOFF_MAX,
    max_retries=5,
    acks_late=True,
    ignore_result=True,
)
def send_invitations(meeting_id: int) -> int:
    """Tell every invitee who has not heard of the meeting's current version. Idempotent."""
    from .ics import meeting_ics
    from .models import Invitation, Meeting

    meeting = Meeting.objects.filter(pk=meeting_id).select_related("commune").first()
    if meeting is None:
        return 0
    url = _link(reverse("meetings:detail", args=[meeting.pk]))
    sent = 0
    pending = Invitation.objects.filter(
        meeting=meeting, notified_sequence__lt=meeting.sequence
    ).values_list("pk", flat=True)
    connection = get_connection()
    for invitation_id in list(pending):
        with transaction.atomic():
            invitation = (
                Invitation.objects.select_for_update()
                .select_related("user")
                .filter(pk=invitation_id, notified_sequence__lt=meeting.sequence)
                .first()
            )
            if invitation is None or not invitation.user.is_active:
                continue
            cancelled = (
                meeting.status == Meeting.Status.CANCELLED or invitation.withdrawn_at is not None
            )
            if invitation.withdrawn_at is not None and invitation.notified_sequence < 0:
                # Never told about it: nothing to withdraw.
                invitation.notified_sequence = meeting.sequence
                invitation.save(update_fields=["notified_sequence"])
                continue
            with override(settings.LANGUAGE_CODE):
                when = formats.date_format(timezone.localtime(meeting.starts_at), "j F Y à H:i")
                summary = _("Réunion de la cellule (CMER) — %(commune)s") % {
                    "commune": meeting.commune.name
                }
                if cancelled:
                    subject = _("[CMER] Réunion annulée")
                    intro = _("La réunion de la cellule prévue le %(when)s est annulée.")
                elif invitation.notified_sequence >= 0:
                    subject = _("[CMER] Réunion modifiée")
                    intro = _("La réunion de la cellule a changé : elle aura lieu le %(when)s.")
                else:
                    subject = _("[CMER] Invitation à une réunion de la cellule")
                    intro = _("Vous êtes invité(e) à la réunion de la cellule du %(when)s.")
                body = "\n\n".join(
                    [
                        _("Bonjour,"),
                        intro % {"when": when},
                        _("Détails après connexion : %(url)s") % {"url": url},
                        _(
                            "Ce message ne contient volontairement aucune information sur les "
                            "situations examinées."
                        ),
                    ]
                )
            message = EmailMessage(
                subject,
                body,
                settings.DEFAULT_FROM_EMAIL,
                [invitation.user.email],
                connection=connection,
            )
            ics = meeting_ics(meeting, summary=summary, cancelled=cancelled, url=url)
            method = "CANCEL" if cancelled else "REQUEST"
            message.attach("reunion.ics", ics, f"text/calendar; charset=utf-8; method={method}")
            message.send()
            # A withdrawn invitee is told once; later changes are no longer theirs to hear.
            invitation.notified_sequence = (
                WITHDRAWAL_TOLD if invitation.withdrawn_at is not None else meeting.sequence
            )
            invitation.save(update_fields=["notified_sequence"])
            sent += 1
    return sent


@shared_task(
    name="meetings.send_review_notice",
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=RETRY_BACKOFF_MAX,
    max_retries=5,
    acks_late=True,
    ignore_result=True,
)
def send_review_notice(meeting_id: int) -> int:
    """The draft minutes await review: each invited person is told once."""
    from .models import Invitation, Meeting

    meeting = Meeting.objects.filter(pk=meeting_id).first()
    if meeting is None or meeting.minutes_state != Meeting.Minutes.REVIEW:
        return 0
    url = _link(reverse("meetings:detail", args=[meeting.pk]))
    sent = 0
    ids = Invitation.objects.filter(
        meeting=meeting, withdrawn_at__isnull=True, review_notified_at__isnull=True
    ).values_list("pk", flat=True)
    for invitation_id in list(ids):
        with transaction.atomic():
            invitation = (
                Invitation.objects.select_for_update()
                .select_related("user")
                .filter(pk=invitation_id, review_notified_at__isnull=True)
                .first()
            )
            if invitation is None or not invitation.user.is_active:
                continue
            with override(settings.LANGUAGE_CODE):
                subject = _("[CMER] Compte rendu à relire")
                body = _(
                    "Bonjour,\n\nLe projet de compte rendu d'une réunion de la cellule à laquelle "
                    "vous étiez invité(e) est à relire jusqu'au %(until)s :\n%(url)s\n\n"
                    "Ce message ne contient volontairement aucune information sur les situations "
                    "examinées."
                ) % {
                    # Set with the REVIEW state (actions.do_send_for_review), checked above.
                    "until": formats.date_format(
                        cast(datetime.date, meeting.review_until), "j F Y"
                    ),
                    "url": url,
                }
            EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [invitation.user.email]).send()
            invitation.review_notified_at = timezone.now()
            invitation.save(update_fields=["review_notified_at"])
            sent += 1
    return sent


def _mark_failed(document_id: int, error: str) -> None:
    from .models import MinutesDocument

    with transaction.atomic():
        document = MinutesDocument.objects.select_for_update().filter(pk=document_id).first()
        if document is not None and document.state == MinutesDocument.State.PENDING:
            document.state = MinutesDocument.State.FAILED
            document.error = error[:100]
            document.finished_at = timezone.now()
            document.save(update_fields=["state", "error", "finished_at"])


def build_document(document_id: int) -> bool:
    """Render and store one version of the minutes, once. Returns True if this call built it."""
    from .documents import page_count, render_minutes
    from .models import MinutesDocument

    document = (
        MinutesDocument.objects.select_related("meeting", "meeting__commune", "meeting__chair")
        .filter(pk=document_id)
        .first()
    )
    if document is None or document.state != MinutesDocument.State.PENDING:
        return False
    rendered = render_minutes(document.meeting, document.version)
    data = rendered.data
    with transaction.atomic():
        document = MinutesDocument.objects.select_for_update().get(pk=document_id)
        if document.state != MinutesDocument.State.PENDING:
            return False  # another run stored it meanwhile: keep theirs
        document.file.save(f"{uuid.uuid4().hex}.pdf", ContentFile(data), save=False)
        document.sha256 = hashlib.sha256(data).hexdigest()
        document.stamp_offset = rendered.stamp_offset
        document.pages = page_count(data)
        document.state = MinutesDocument.State.READY
        document.finished_at = timezone.now()
        document.save()
    return True


@shared_task(
    name="meetings.build_minutes_pdf",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=PDF_SOFT_LIMIT,
    time_limit=PDF_HARD_LIMIT,
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=RETRY_BACKOFF_MAX,
    max_retries=3,
    ignore_result=True,
)
def build_minutes_pdf(self: Task, document_id: int) -> bool:
    """Build the PDF of one approved version; skipped if built already. A failure is stored
    (state FAILED with the error's class) and shown to the chair, who may ask again."""
    from auditlog.context import set_actor

    from .models import MinutesDocument

    document = MinutesDocument.objects.filter(pk=document_id).select_related("requested_by").first()
    if document is None or document.state != MinutesDocument.State.PENDING:
        return False
    document.attempts += 1
    document.save(update_fields=["attempts"])
    try:
        with set_actor(document.requested_by):
            return build_document(document_id)
    except SoftTimeLimitExceeded:
        _mark_failed(document_id, "SoftTimeLimitExceeded")
        raise
    except OSError as exc:
        if self.request.retries >= self.max_retries:
            _mark_failed(document_id, type(exc).__name__)
        raise
    except Exception as exc:
        _mark_failed(document_id, type(exc).__name__)
        logger.exception("Minutes PDF %s failed", document_id)
        raise


@shared_task(name="meetings.requeue_stale_documents", ignore_result=True)
def requeue_stale_documents(older_than_seconds: int = STALE_DOCUMENT_SECONDS) -> int:
    """Beat: a PDF still pending long after its hard time limit lost its worker (killed
    mid-render, message gone): queue it again. The build is idempotent, so a duplicate is
    harmless. Returns how many were queued."""
    from cmer.queue import enqueue_on_commit

    from .models import MinutesDocument

    limit = timezone.now() - datetime.timedelta(seconds=older_than_seconds)
    stale = MinutesDocument.objects.filter(
        state=MinutesDocument.State.PENDING, requested_at__lt=limit
    ).values_list("pk", flat=True)
    count = 0
    for document_id in list(stale):
        with transaction.atomic():
            enqueue_on_commit(build_minutes_pdf, document_id)
        count += 1
    return count


@shared_task(name="meetings.plan_action_reminders", ignore_result=True)
def plan_action_reminders() -> int:
    """Beat, daily: queue one reminder for each open action due within two days or overdue."""
    from cmer.queue import enqueue_on_commit

    from .models import ActionItem, Meeting

    limit = timezone.localdate() + datetime.timedelta(days=REMINDER_DAYS_BEFORE)
    due = ActionItem.objects.filter(
        status=ActionItem.Status.OPEN,
        due_on__lte=limit,
        reminder_queued_at__isnull=True,
        meeting__status=Meeting.Status.HELD,
    ).values_list("pk", flat=True)
    planned = 0
    for action_id in list(due):
        with transaction.atomic():
            action = (
                ActionItem.objects.select_for_update()
                .filter(pk=action_id, reminder_queued_at__isnull=True)
                .first()
            )
            if action is None:
                continue
            action.reminder_queued_at = timezone.now()
            action.save(update_fields=["reminder_queued_at"])
            enqueue_on_commit(send_action_reminder, action.pk)
            planned += 1
    # Queued but never sent (worker lost after the outbox sent it): queue again.
    stale = ActionItem.objects.filter(
        reminder_sent_at__isnull=True,
        reminder_queued_at__lt=timezone.now() - RESEND_AFTER,
        status=ActionItem.Status.OPEN,
    ).values_list("pk", flat=True)
    for action_id in list(stale):
        with transaction.atomic():
            enqueue_on_commit(send_action_reminder, action_id)
    return planned


@shared_task(
    name="meetings.send_action_reminder",
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=RETRY_BACKOFF_MAX,
    max_retries=5,
    acks_late=True,
    ignore_result=True,
)
def send_action_reminder(action_id: int) -> int:
    """One e-mail to the action's owner; nothing if already sent, done or cancelled."""
    from .models import ActionItem

    with transaction.atomic():
        action = (
            ActionItem.objects.select_for_update()
            .select_related("owner")
            .filter(pk=action_id)
            .first()
        )
        if action is None or action.reminder_sent_at is not None:
            return 0
        if action.status != ActionItem.Status.OPEN or not action.owner.is_active:
            action.reminder_sent_at = timezone.now()
            action.save(update_fields=["reminder_sent_at"])
            return 0
        url = _link(reverse("meetings:detail", args=[action.meeting_id]))
        with override(settings.LANGUAGE_CODE):
            subject = _("[CMER] Une action de la cellule arrive à échéance")
            body = _(
                "Bonjour,\n\nUne action dont vous êtes responsable, décidée en réunion de la "
                "cellule, est à réaliser pour le %(due)s :\n%(url)s\n\n"
                "Ce message ne contient volontairement aucune information sur les situations "
                "examinées."
            ) % {"due": formats.date_format(action.due_on, "j F Y"), "url": url}
        EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [action.owner.email]).send()
        action.reminder_sent_at = timezone.now()
        action.save(update_fields=["reminder_sent_at"])
    return 1
