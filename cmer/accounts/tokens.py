"""One-time links sent to a person's own address: invitation / second-factor enrolment.

Stateless, like Django's password reset tokens (no table): a token is an HMAC of the account's
state, so it stops working as soon as that state moves on. Used once: enrolling confirms a TOTP
device (and, for an invitation, sets the password) and logs the person in, which changes the
hashed state. Expired: older than ``ENROLMENT_LINK_SECONDS``.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes
from django.utils.http import base36_to_int, urlsafe_base64_encode
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import User


class EnrolmentTokenGenerator(PasswordResetTokenGenerator):
    # Its own salt: a password reset token is not an enrolment token, nor the reverse.
    key_salt = "cmer.accounts.tokens.EnrolmentTokenGenerator"

    def _make_hash_value(self, user: User, timestamp: int) -> str:
        confirmed = sorted(
            TOTPDevice.objects.filter(user=user, confirmed=True).values_list("pk", flat=True)
        )
        # Password hash, last login, e-mail (Django's part), plus activity and enrolled devices.
        return f"{super()._make_hash_value(user, timestamp)}|{user.is_active}|{confirmed}"

    def check_token(self, user: User | None, token: str | None) -> bool:
        """Django's check, with the enrolment lifetime instead of the password reset one."""
        if not (user and token):
            return False
        try:
            ts_b36, _hash = token.split("-")
            timestamp = base36_to_int(ts_b36)
        except ValueError:
            return False
        if not any(
            constant_time_compare(self._make_token_with_timestamp(user, timestamp, secret), token)
            for secret in [self.secret, *self.secret_fallbacks]
        ):
            return False
        return self._num_seconds(self._now()) - timestamp <= settings.ENROLMENT_LINK_SECONDS


enrolment_token_generator = EnrolmentTokenGenerator()


def enrolment_path(user: User) -> str:
    """The path of a fresh enrolment (or invitation) link for ``user``."""
    return reverse(
        "accounts:enrol",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": enrolment_token_generator.make_token(user),
        },
    )


def password_reset_path(user: User) -> str:
    """The path of a fresh password reset link (Django's own machinery and token)."""
    from django.contrib.auth.tokens import default_token_generator

    return reverse(
        "accounts:password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
