"""Authentication events go to the trail through the audit core."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from .core import record_event
from .models import Event


@receiver(user_logged_in, dispatch_uid="cmer_audit_login")
def on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    record_event(Event.LOGIN, request=request, actor=user, target=user)


@receiver(user_logged_out, dispatch_uid="cmer_audit_logout")
def on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        record_event(Event.LOGOUT, request=request, actor=user, target=user)


def _attempted(credentials: dict[str, Any]) -> str:
    return str(credentials.get("username") or credentials.get("email") or "")[:254].lower()


def _user_pk(email: str) -> int | None:
    """The account the attempt was aimed at, if it exists: the DPO of its department sees it."""
    if not email:
        return None
    return get_user_model().objects.filter(email__iexact=email).values_list("pk", flat=True).first()


@receiver(user_login_failed, dispatch_uid="cmer_audit_login_failed")
def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kw: Any
) -> None:
    # The attempted address is kept (security needs it), never the password (Django strips it).
    attempted = _attempted(credentials)
    record_event(
        Event.LOGIN_FAILED,
        request=request,
        target_model=get_user_model(),
        target_pk=_user_pk(attempted),
        data={"attempted_email": attempted},
    )


@receiver(user_locked_out, dispatch_uid="cmer_audit_lockout")
def on_lockout(sender: Any, request: Any = None, username: str = "", **kw: Any) -> None:
    attempted = (username or "")[:254].lower()
    record_event(
        Event.LOCKOUT,
        request=request,
        target_model=get_user_model(),
        target_pk=_user_pk(attempted),
        data={"attempted_email": attempted},
    )
