"""E-mails about a person's own account: invitation, enrolment link, reset link, notices.

Tasks take the user's id and a kind; the one-time link is made here, at sending time, so that it
never travels through the broker or the outbox. Each kind re-checks that it is still wanted (an
invitation for an account that has since enrolled is not sent). The e-mails name nobody and
carry no case data.
"""

from __future__ import annotations

from celery import Task, shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django_otp.plugins.otp_totp.models import TOTPDevice

from cmer.outbox.effects import claim, effect_key

from .models import User
from .tokens import enrolment_path, password_reset_path

INVITATION = "invitation"  # new account: choose a password, enrol the second factor
ENROLMENT = "enrolment"  # second factor reset: enrol again (with the current password)
PASSWORD_RESET = "password_reset"  # noqa: S105 (a kind of e-mail); link sent by the administrator
PASSWORD_CHANGED = "password_changed"  # noqa: S105 (a kind of e-mail); notice after any change of the password
SESSIONS_ENDED = "sessions_ended"  # notice: the administrator ended every session
KINDS = {INVITATION, ENROLMENT, PASSWORD_RESET, PASSWORD_CHANGED, SESSIONS_ENDED}


def _link_for(user: User, kind: str) -> str | None:
    """The link the e-mail carries, or None when the e-mail is no longer wanted."""
    enrolled = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    if kind == INVITATION:
        return None if user.has_usable_password() or enrolled else enrolment_path(user)
    if kind == ENROLMENT:
        return None if enrolled else enrolment_path(user)
    if kind == PASSWORD_RESET:
        return password_reset_path(user) if user.has_usable_password() else None
    return ""  # a notice: no link


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(OSError,),  # smtplib's errors: retried, the claim below is rolled back
    retry_backoff=30,
    retry_backoff_max=120,
    max_retries=5,
)
def send_account_email(self: Task, user_id: int, kind: str) -> int:
    if kind not in KINDS:
        return 0
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return 0
    link = _link_for(user, kind)
    if link is None:
        return 0
    context = {
        "link": settings.SITE_URL.rstrip("/") + link if link else "",
        "site_url": settings.SITE_URL.rstrip("/"),
        "hours": settings.ENROLMENT_LINK_SECONDS // 3600,
        "reset_hours": settings.PASSWORD_RESET_TIMEOUT // 3600,
    }
    subject = render_to_string(f"accounts/email/{kind}_subject.txt", context).strip()
    body = render_to_string(f"accounts/email/{kind}.txt", context)
    # A redelivered message (worker lost before its acknowledgement) sends nothing again.
    with claim(effect_key(self)) as first:
        if not first:
            return 0
        return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
