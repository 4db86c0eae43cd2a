"""A person's sessions: remembered at login, followed through key rotations, listed on the account
page, ended one by one, all but this one, or all (the administrator; deactivation).

Sessions live in the database (Django's table); ``UserSession`` maps each key to its user, the
browser it was opened with, the address and the last activity. The key never leaves the
database: the page names a session by its row id (looked up among the person's own only, so a
guessed id is 404) and the trail by ``key_digest``.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from typing import Any

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone

from cmer.audit.core import client_address, record_event
from cmer.audit.models import Event
from cmer.queue import enqueue_on_commit

from .models import User, UserSession
from .requests import AuthenticatedRequest


def key_digest(key: str) -> str:
    """How the trail refers to a session: not the key (whoever reads it could not use it)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _device(request: HttpRequest) -> dict[str, Any]:
    return {
        "user_agent": request.headers.get("User-Agent", "")[:300],
        "ip_address": client_address(request),
    }


def _second_factor_passed(request: HttpRequest) -> bool:
    is_verified = getattr(getattr(request, "user", None), "is_verified", None)
    return bool(is_verified and is_verified())


def remember(request: HttpRequest, user: User) -> None:
    """At login (the key has just been cycled by ``login()``)."""
    key = request.session.session_key
    if key:
        now = timezone.now()
        defaults: dict[str, Any] = {"user": user, "last_seen": now, **_device(request)}
        if _second_factor_passed(request):
            defaults["second_factor_at"] = now
        UserSession.objects.update_or_create(session_key=key, defaults=defaults)


def follow_key(request: HttpRequest, old_key: str | None) -> None:
    """The session got a new key (second factor, commune switch, password change, role change):
    the link follows, keeping when and where the session was opened."""
    user = getattr(request, "user", None)
    new_key = request.session.session_key
    if user is None or not user.is_authenticated or not new_key:
        return
    moved = 0
    if old_key:
        moved = UserSession.objects.filter(session_key=old_key, user=user).update(
            session_key=new_key
        )
    if not moved:
        remember(request, user)
    elif _second_factor_passed(request):
        # Every path that verifies the second factor rotates the key (otp_verify, enrolment).
        UserSession.objects.filter(session_key=new_key, second_factor_at__isnull=True).update(
            second_factor_at=timezone.now()
        )


def touch(request: AuthenticatedRequest) -> None:
    """The middleware stored a new last activity (at most once a minute): the link gets it too,
    with the current address. A link lost by a path that rotated the key without telling us
    is made again here."""
    key = request.session.session_key
    if not key:
        return
    now = timezone.now()
    updated = UserSession.objects.filter(session_key=key, user=request.user).update(
        last_seen=now, ip_address=client_address(request)
    )
    if not updated:
        remember(request, request.user)


def active_for(user: User) -> QuerySet[UserSession]:
    """The person's sessions still alive: within the idle and absolute limits, with their
    server-side session present. Newest activity first."""
    now = timezone.now()
    idle = now - datetime.timedelta(seconds=settings.SESSION_IDLE_SECONDS)
    oldest = now - datetime.timedelta(seconds=settings.SESSION_ABSOLUTE_SECONDS)
    alive = Session.objects.filter(expire_date__gt=now).values("session_key")
    return UserSession.objects.filter(
        user=user, last_seen__gte=idle, created_at__gte=oldest, session_key__in=alive
    ).order_by("-last_seen", "-pk")


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Chromium/", "Chromium"), ("Safari/", "Safari"))  # fmt: skip
_SYSTEMS = (("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iPhone"),
            ("iPad", "iPad"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
            ("Linux", "Linux"))  # fmt: skip


def describe_agent(user_agent: str) -> str:
    """ "Firefox 128 — Windows": enough to recognise one's device; the raw string is not shown."""
    browser = next((name for token, name in _BROWSERS if token in user_agent), "")
    version = ""
    if browser:
        token = next(t for t, name in _BROWSERS if name == browser)
        match = re.search(re.escape(token) + r"(\d+)", user_agent)
        version = match.group(1) if match else ""
    system = next((name for token, name in _SYSTEMS if token in user_agent), "")
    label = f"{browser} {version}".strip()
    return " — ".join(part for part in (label, system) if part)


def get_other_session_for_user(request: AuthenticatedRequest, pk: int) -> UserSession:
    """One of the person's other live sessions, or 404 (another person's, this one, gone)."""
    found = (
        active_for(request.user).exclude(session_key=request.session.session_key).filter(pk=pk)
    ).first()
    if found is None:
        raise Http404
    return found


def _end(links: QuerySet[UserSession]) -> list[str]:
    keys = list(links.values_list("session_key", flat=True))
    Session.objects.filter(session_key__in=keys).delete()
    UserSession.objects.filter(session_key__in=keys).delete()
    return keys


@transaction.atomic
def do_end_session(request: AuthenticatedRequest, link: UserSession) -> None:
    """The person ends one of their other sessions (the other browser is logged out)."""
    (key,) = _end(UserSession.objects.filter(pk=link.pk))
    record_event(
        Event.LOGOUT,
        request=request,
        target=request.user,
        data={"sessions": "ended_one", "session": key_digest(key)},
    )


@transaction.atomic
def do_end_other_sessions(request: AuthenticatedRequest, *, why: str = "ended_others") -> int:
    """Every session of the person but this one (their choice, or after a change of password
    or second factor: a session opened by whoever knew the old one ends)."""
    keys = _end(
        UserSession.objects.filter(user=request.user).exclude(
            session_key=request.session.session_key
        )
    )
    if keys or why == "ended_others":
        record_event(
            Event.LOGOUT,
            request=request,
            target=request.user,
            data={"sessions": why, "count": len(keys)},
        )
    return len(keys)


def end_all_sessions(user: User) -> int:
    """Every session of ``user``, no audit entry (callers record their own act)."""
    return len(_end(UserSession.objects.filter(user=user)))


@transaction.atomic
def do_end_all_sessions(user: User, *, acting_user: Any, request: HttpRequest | None = None) -> int:
    """The administrator ends every session of ``user``: an audit entry naming both, and an
    e-mail to the person."""
    from . import tasks

    ended = end_all_sessions(user)
    record_event(
        Event.CHANGE,
        request=request,
        actor=acting_user,
        target=user,
        data={"account": "sessions_ended", "sessions": ended},
    )
    if user.is_active:
        enqueue_on_commit(tasks.send_account_email, user.pk, tasks.SESSIONS_ENDED)
    return ended
