"""Notifications. E-mails name no person and no fact: "a referral needs your attention" + link."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils.translation import gettext as _

from cmer.accounts.models import Membership, Role, User


def _send(recipients: list[str], path: str) -> int:
    if not recipients:
        return 0
    body = _(
        "Bonjour,\n\nUn élément de CMER nécessite votre attention :\n%(url)s\n\n"
        "Connectez-vous pour le consulter. Ce message ne contient volontairement aucune "
        "information sur la situation."
    ) % {"url": settings.SITE_URL.rstrip("/") + path}
    return send_mail(
        _("CMER — un signalement nécessite votre attention"),
        body,
        settings.DEFAULT_FROM_EMAIL,
        recipients,
        fail_silently=False,
    )


def _emails(user_ids) -> list[str]:  # type: ignore[no-untyped-def]
    return list(
        User.objects.filter(pk__in=user_ids, is_active=True).values_list("email", flat=True)
    )


@shared_task(bind=True, max_retries=5, default_retry_delay=60, acks_late=True)
def notify_referents(self, referral_id: int, kind: str) -> int:  # type: ignore[no-untyped-def]
    from .models import Referral

    referral = Referral.objects.filter(pk=referral_id).select_related("commune").first()
    if referral is None or referral.is_draft:
        return 0
    user_ids = (
        Membership.objects.active()
        .filter(role=Role.REFERENT, commune=referral.commune)
        .values("user_id")
    )
    return _send(_emails(user_ids), reverse("cases:detail", args=[referral.pk]))


@shared_task(bind=True, max_retries=5, default_retry_delay=60, acks_late=True)
def notify_commune_referents(self, commune_id: int, kind: str) -> int:  # type: ignore[no-untyped-def]
    user_ids = (
        Membership.objects.active()
        .filter(role=Role.REFERENT, commune_id=commune_id)
        .values("user_id")
    )
    return _send(_emails(user_ids), reverse("cases:state_info_list"))


@shared_task(bind=True, max_retries=5, default_retry_delay=60, acks_late=True)
def notify_liaisons(self, referral_id: int) -> int:  # type: ignore[no-untyped-def]
    from .models import Referral

    referral = Referral.objects.filter(pk=referral_id).select_related("commune").first()
    if referral is None or not hasattr(referral, "transmission"):
        return 0
    user_ids = (
        Membership.objects.active()
        .filter(role=Role.LIAISON, department_id=referral.commune.department_id)
        .values("user_id")
    )
    return _send(_emails(user_ids), reverse("cases:detail", args=[referral.pk]))


@shared_task(bind=True, max_retries=5, default_retry_delay=60, acks_late=True)
def notify_user(self, user_id: int, referral_id: int, kind: str) -> int:  # type: ignore[no-untyped-def]
    return _send(_emails([user_id]), reverse("cases:detail", args=[referral_id]))
