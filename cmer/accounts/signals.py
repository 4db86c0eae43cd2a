"""Session bookkeeping: rotate and remember at login, destroy on logout and deactivation."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth.hashers import is_password_usable
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from . import sessions
from .middleware import SESSION_LAST_SEEN, SESSION_STARTED
from .models import User, UserSession


@receiver(user_logged_in, dispatch_uid="cmer_session_login")
def remember_session(sender: Any, request: Any, user: User, **kwargs: Any) -> None:
    # django.contrib.auth.login() has already cycled the session key (no fixation).
    now = time.time()
    request.session[SESSION_STARTED] = now
    request.session[SESSION_LAST_SEEN] = now
    request.session.save()
    sessions.remember(request, user)


@receiver(user_logged_out, dispatch_uid="cmer_session_logout")
def forget_session(sender: Any, request: Any, user: User | None, **kwargs: Any) -> None:
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        UserSession.objects.filter(session_key=key).delete()


def rotate_session_key(request: Any) -> None:
    """A new session key for the same session data, at each change of what the session may do
    (second factor verified, commune switched, roles changed): a key seen before that step — on
    a shared computer, in a proxy log — no longer opens the session. The server-side link used
    to list and kill sessions follows the new key."""
    session = request.session
    old_key = session.session_key
    session.cycle_key()
    sessions.follow_key(request, old_key)


end_all_sessions = sessions.end_all_sessions


@receiver(pre_save, sender=User, dispatch_uid="cmer_user_was_active")
def note_previous_state(sender: Any, instance: User, **kwargs: Any) -> None:
    previous = (
        User.objects.filter(pk=instance.pk).values_list("is_active", "password").first()
        if instance.pk
        else None
    )
    instance._was_active = previous[0] if previous else None
    instance._previous_password = previous[1] if previous else None


@receiver(post_save, sender=User, dispatch_uid="cmer_user_password_changed")
def record_password_change(sender: Any, instance: User, created: bool, **kwargs: Any) -> None:
    """Any change of a password, by any path (own page, reset link, enrolment, a shell), is an
    audit entry (auditlog excludes the field) and, unless it was the first choice of an invited
    person, an e-mail to the person. Inside a request the actor is filled by auditlog."""
    previous = getattr(instance, "_previous_password", None)
    if created or previous is None or previous == instance.password:
        return
    from cmer.audit.core import record_event
    from cmer.audit.models import Event
    from cmer.queue import enqueue_on_commit

    from . import tasks

    record_event(Event.CHANGE, target=instance, data={"account": "password_changed"})
    instance._previous_password = instance.password
    if is_password_usable(previous) and instance.is_active:
        enqueue_on_commit(tasks.send_account_email, instance.pk, tasks.PASSWORD_CHANGED)


@receiver(post_save, sender=User, dispatch_uid="cmer_user_deactivated")
def kill_sessions_on_deactivation(sender: Any, instance: User, **kwargs: Any) -> None:
    if getattr(instance, "_was_active", None) and not instance.is_active:
        end_all_sessions(instance)
