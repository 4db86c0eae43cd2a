"""Notifications. E-mails name no person and no fact: "a referral needs your attention" + link."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _

from cmer.accounts.models import Membership, Role, User
from cmer.outbox.effects import claim, effect_key


def _send(task: Task, user_ids: Iterable[int] | QuerySet[Any, Any], path: str) -> int:
    """One e-mail per active recipient, each claimed once for this message (cmer.outbox.effects).

    A redelivered message (worker killed before its acknowledgement, Redis lost) or a retry
    after an SMTP error sends only to the recipients not yet served. ``user_ids``: ids, or a
    one-column ``values()`` queryset read as a subquery.
    """
    recipients = User.objects.filter(pk__in=user_ids, is_active=True).values_list("pk", "email")
    body = _(
        "Bonjour,\n\nUn élément de CMER nécessite votre attention :\n%(url)s\n\n"
        "Connectez-vous pour le consulter. Ce message ne contient volontairement aucune "
        "information sur la situation."
    ) % {"url": settings.SITE_URL.rstrip("/") + path}
    event = effect_key(task)
    sent = 0
    for user_id, address in recipients.order_by("pk"):
        with claim(f"{event}:{user_id}") as first:
            if first:
                sent += send_mail(
                    _("CMER — un signalement nécessite votre attention"),
                    body,
                    settings.DEFAULT_FROM_EMAIL,
                    [address],
                    fail_silently=False,
                )
    return sent


# E-mail tasks: retried on SMTP/network errors (smtplib's errors are OSError) with countdowns
# below the visibility timeout; acks_late so a killed worker's message comes back.
NOTIFICATION = {
    "bind": True,
    "acks_late": True,
    "autoretry_for": (OSError,),
    "retry_backoff": 30,
    "retry_backoff_max": 120,
    "max_retries": 5,
}


@shared_task(**NOTIFICATION)
def notify_referents(self: Task, referral_id: int, kind: str) -> int:
    from .models import Referral

    referral = Referral.objects.filter(pk=referral_id).select_related("commune").first()
    if referral is None or referral.is_draft:
        return 0
    user_ids = (
        Membership.objects.active()
        .filter(role=Role.REFERENT, commune=referral.commune)
        .values("user_id")
    )
    return _send(self, user_ids, reverse("cases:detail", args=[referral.pk]))


@shared_task(**NOTIFICATION)
def notify_commune_referents(self: Task, commune_id: int, kind: str) -> int:
    user_ids = (
        Membership.objects.active()
        .filter(role=Role.REFERENT, commune_id=commune_id)
        .values("user_id")
    )
    return _send(self, user_ids, reverse("cases:state_info_list"))


@shared_task(**NOTIFICATION)
def notify_liaisons(self: Task, referral_id: int) -> int:
    from .models import Referral

    referral = Referral.objects.filter(pk=referral_id).select_related("commune").first()
    if referral is None or not hasattr(referral, "transmission"):
        return 0
    user_ids = (
        Membership.objects.active()
        .filter(role=Role.LIAISON, department_id=referral.commune.department_id)
        .values("user_id")
    )
    return _send(self, user_ids, reverse("cases:detail", args=[referral.pk]))


@shared_task(**NOTIFICATION)
def notify_user(self: Task, user_id: int, referral_id: int, kind: str) -> int:
    return _send(self, [user_id], reverse("cases:detail", args=[referral_id]))
