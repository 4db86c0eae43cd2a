"""E-mails of the membership lifecycle (four-eyes on access rights).

Each e-mail names a role and a commune or department, never a case, and goes only to people the
step concerns: the person the role is for, whoever may confirm it, whoever asked and decided.
Imported by ``AccountsConfig.ready`` so that the worker knows the task.
"""

from __future__ import annotations

from celery import Task, shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import override

from cmer.outbox.effects import claim, effect_key

from .models import Membership, MembershipStatus, User


def _link(name: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse(name)


def _what(membership: Membership) -> dict[str, str]:
    scope = membership.commune or membership.department
    return {
        "role": str(membership.get_role_display()),
        "scope": str(scope) if scope is not None else str(_("installation")),
        "date": membership.starts_on.strftime("%d/%m/%Y"),
    }


def _messages(membership: Membership, step: str) -> list[tuple[str, str, list[int]]]:
    """(subject, body, recipient ids) for ``step``; empty when the step no longer holds."""
    from .memberships import Step, confirmers_of

    what = _what(membership)
    footer = _("\n\nCe message ne contient volontairement aucune information sur un dossier.")
    concerned = [membership.user_id]
    deciders = [pk for pk in (membership.requested_by_id, membership.decided_by_id) if pk]
    if step == Step.REQUESTED and membership.status == MembershipStatus.REQUESTED:
        return [
            (
                _("CMER — un rôle a été demandé pour vous"),
                _(
                    "Bonjour,\n\nLe rôle « %(role)s » (%(scope)s, à partir du %(date)s) a été "
                    "demandé pour vous. Il prendra effet lorsqu'une seconde personne habilitée "
                    "l'aura confirmé. Si vous n'attendiez pas cette demande, signalez-le à votre "
                    "référent."
                )
                % what
                + footer,
                concerned,
            ),
            (
                _("CMER — une demande de rôle attend votre confirmation"),
                _(
                    "Bonjour,\n\nUne demande de rôle attend votre confirmation :\n%(url)s\n\n"
                    "Connectez-vous pour la consulter, la confirmer ou la refuser."
                )
                % {"url": _link("memberships:pending")}
                + footer,
                list(confirmers_of(membership).values_list("pk", flat=True)),
            ),
        ]
    if step == Step.CONFIRMED and membership.status == MembershipStatus.CONFIRMED:
        body = _(
            "Bonjour,\n\nLe rôle « %(role)s » (%(scope)s, à partir du %(date)s) a été confirmé."
        )
        return [(_("CMER — rôle confirmé"), body % what + footer, concerned + deciders)]
    if step == Step.BOOTSTRAP and membership.status == MembershipStatus.CONFIRMED:
        body = _(
            "Bonjour,\n\nLe rôle « %(role)s » (%(scope)s, à partir du %(date)s) vous a été "
            "attribué par l'exploitant du serveur, en tant que premier titulaire."
        )
        return [(_("CMER — rôle attribué"), body % what + footer, concerned)]
    if step == Step.REFUSED and membership.status == MembershipStatus.REFUSED:
        body = _(
            "Bonjour,\n\nLa demande du rôle « %(role)s » (%(scope)s, à partir du %(date)s) a été "
            "refusée. Le motif est consultable par l'administrateur technique."
        )
        return [(_("CMER — demande de rôle refusée"), body % what + footer, concerned + deciders)]
    if step == Step.ENDED and membership.ends_on is not None:
        body = _("Bonjour,\n\nLe rôle « %(role)s » (%(scope)s) prend fin le %(end)s.")
        what["end"] = membership.ends_on.strftime("%d/%m/%Y")
        return [(_("CMER — fin d'un rôle"), body % what + footer, concerned)]
    return []


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(OSError,),  # SMTP and network errors
    retry_backoff=30,
    retry_backoff_max=120,
    max_retries=5,
)
def notify_membership(self: Task, membership_id: int, step: str) -> int:
    """Send the e-mails of one step; nothing if the membership has moved on since (re-checked).

    One e-mail per recipient, each claimed once for this message (cmer.outbox.effects): a
    redelivery or a retry after an SMTP error sends only to those not served yet.
    """
    membership = (
        Membership.objects.filter(pk=membership_id)
        .select_related("commune__department", "department")
        .first()
    )
    if membership is None:
        return 0
    with override(settings.LANGUAGE_CODE):
        batches = _messages(membership, step)
    event = effect_key(self)
    sent = 0
    for number, (subject, body, user_ids) in enumerate(batches):
        recipients = User.objects.filter(pk__in=set(user_ids), is_active=True).order_by("pk")
        for user_id, address in recipients.values_list("pk", "email"):
            with claim(f"{event}:{number}:{user_id}") as first:
                if first:
                    # One message per recipient: nobody learns who else was told.
                    sent += send_mail(
                        subject, body, settings.DEFAULT_FROM_EMAIL, [address], fail_silently=False
                    )
    return sent
