"""Write side of identities: invitations, reset links, second-factor resets, enrolment.

Nobody but the person ever chooses their password or sees their TOTP secret. The technical
administrator can invite, send a reset link to the person's own address, or reset the second
factor (which ends the person's sessions and sends them an enrolment link). Each act is an audit
entry naming the administrator (actor) and the person (target), and the person gets an e-mail.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from cmer.audit.core import record_event
from cmer.audit.models import Event
from cmer.queue import enqueue_on_commit

from . import tasks
from .auth import normalise_login
from .models import User
from .signals import end_all_sessions


def _record(
    what: str, user: User, *, acting_user: Any, request: HttpRequest | None, **data: Any
) -> None:
    record_event(
        Event.CHANGE,
        request=request,
        actor=acting_user,
        target=user,
        data={"account": what, **data},
    )


@transaction.atomic
def do_invite_user(user: User, *, acting_user: Any, request: HttpRequest | None = None) -> User:
    """Create ``user`` (unsaved) as *invited*: no usable password, no device; the invitation
    link goes to their own address."""
    user.email = normalise_login(user.email)
    user.set_unusable_password()
    user.save()
    _record("invited", user, acting_user=acting_user, request=request)
    enqueue_on_commit(tasks.send_account_email, user.pk, tasks.INVITATION)
    return user


@transaction.atomic
def do_send_password_link(
    user: User, *, acting_user: Any, request: HttpRequest | None = None
) -> str | None:
    """A password reset link to the person's own address (an invitation again if they never
    chose a password). Returns the kind of e-mail queued, or None for an inactive account."""
    if not user.is_active:
        return None
    kind = tasks.PASSWORD_RESET if user.has_usable_password() else tasks.INVITATION
    if kind == tasks.INVITATION:
        _drop_pending_devices(user)
    _record(f"{kind}_sent", user, acting_user=acting_user, request=request)
    enqueue_on_commit(tasks.send_account_email, user.pk, kind)
    return kind


@transaction.atomic
def do_reset_second_factor(
    user: User, *, acting_user: Any, request: HttpRequest | None = None
) -> int:
    """Delete the person's devices and backup codes, end every session of theirs, and send
    them an enrolment link. Returns the number of sessions ended."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    ended = end_all_sessions(user)
    _record("second_factor_reset", user, acting_user=acting_user, request=request, sessions=ended)
    if user.is_active:
        kind = tasks.ENROLMENT if user.has_usable_password() else tasks.INVITATION
        enqueue_on_commit(tasks.send_account_email, user.pk, kind)
    return ended


@transaction.atomic
def do_request_enrolment_link(user: User, *, request: HttpRequest | None = None) -> None:
    """The person, past the password but without a second factor, asks for a link again."""
    _drop_pending_devices(user)
    _record("enrolment_link_requested", user, acting_user=user, request=request)
    enqueue_on_commit(tasks.send_account_email, user.pk, tasks.ENROLMENT)


def _drop_pending_devices(user: User) -> None:
    """A new link shows a new key: a QR code seen on an earlier link's page (by whoever opened
    it) is never the one that gets confirmed."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()


def backup_codes_for(user: User) -> list[str]:
    """A fresh set of backup codes (the previous set is deleted); shown once."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="backup", confirmed=True)
    codes = []
    for _i in range(settings.BACKUP_CODES_COUNT):
        code = StaticToken.random_token()
        StaticToken.objects.create(device=device, token=code)
        codes.append(code)
    return codes


@transaction.atomic
def do_confirm_enrolment(
    user: User,
    device: TOTPDevice,
    *,
    new_password: str | None = None,
    request: HttpRequest | None = None,
) -> list[str]:
    """Confirm the TOTP device the person has just scanned (and set the password they chose,
    for an invitation); any other device goes. Returns the new backup codes."""
    if new_password is not None:
        user.set_password(new_password)
        user.save(update_fields=["password"])
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    codes = backup_codes_for(user)
    record_event(Event.OTP_ENROLLED, request=request, actor=user, target=user)
    return codes
