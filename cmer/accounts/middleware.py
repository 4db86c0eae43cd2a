"""Request-level guards: session lifetime, mandatory second factor, current commune."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _

from cmer import permissions
from cmer.accounts import sessions
from cmer.accounts.models import Commune
from cmer.accounts.requests import AuthenticatedRequest, CmerRequest

SESSION_STARTED = "cmer_auth_started_at"
SESSION_LAST_SEEN = "cmer_last_seen_at"
SESSION_COMMUNE = "cmer_commune_id"
SESSION_ROLES = "cmer_roles"

# Pages a user who has passed the password but not the second factor may reach.
SECOND_FACTOR_ALLOWED = {
    "accounts:otp_verify",
    "accounts:otp_enrol",
    "accounts:enrol",
    "accounts:logout",
    "set_language",
    "healthz",
}


# The last activity is written to the session when the stored one is at least this old, not on
# every request: a request that changes nothing in the session then needs no session write (with
# SESSION_SAVE_EVERY_REQUEST off). Idle time counts from the stored value, so a session ends
# between SESSION_IDLE_SECONDS - SESSION_TOUCH_SECONDS and SESSION_IDLE_SECONDS after the last
# request: never later than the limit.
SESSION_TOUCH_SECONDS = 60


class SessionLimitsMiddleware:
    """Idle (15 min) and absolute (10 h) limits, checked server-side on every request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            session = request.session
            started = session.get(SESSION_STARTED)
            last_seen = session.get(SESSION_LAST_SEEN)
            if started is not None and (
                now - started > settings.SESSION_ABSOLUTE_SECONDS
                or now - (last_seen or started) > settings.SESSION_IDLE_SECONDS
            ):
                logout(request)
                messages.warning(
                    request, _("Votre session a expiré. Reconnectez-vous pour continuer.")
                )
                return redirect(settings.LOGIN_URL)
            if started is None:  # a session opened before these limits existed
                session[SESSION_STARTED] = now
            if last_seen is None or now - last_seen >= SESSION_TOUCH_SECONDS:
                session[SESSION_LAST_SEEN] = now
                # The sessions page shows it: one UPDATE a minute per active session.
                sessions.touch(cast(AuthenticatedRequest, request))  # signed in: checked above
        return self.get_response(request)


def _url_name(request: HttpRequest) -> str | None:
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return None
    return match.view_name


class SecondFactorRequiredMiddleware:
    """A user who passed the password but not the TOTP step reaches nothing but that step."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated and not user.is_verified():
            name = _url_name(request)
            if name not in SECOND_FACTOR_ALLOWED and not request.path.startswith(
                settings.STATIC_URL
            ):
                from django_otp import devices_for_user

                has_device = any(True for _ in devices_for_user(user, confirmed=True))
                target = "accounts:otp_verify" if has_device else "accounts:otp_enrol"
                return redirect(target)
        return self.get_response(request)


class CurrentCommuneMiddleware:
    """Sets ``request.commune`` (the commune the user works in now) and ``request.roles``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, http_request: HttpRequest) -> HttpResponse:
        # This middleware is what makes the request a CmerRequest: it sets the attributes.
        request = cast(CmerRequest, http_request)
        request.commune = None
        request.roles = set()
        user = request.user
        if user.is_authenticated and user.is_verified():
            communes = permissions.user_communes(user)
            chosen_id = request.session.get(SESSION_COMMUNE)
            commune: Commune | None = next((c for c in communes if c.pk == chosen_id), None)
            if commune is None and communes:
                commune = communes[0]
            request.commune = commune
            request.user_communes = communes
            request.roles = (
                permissions.roles_in(user, commune) if commune else set()
            ) | permissions.installation_roles(user)
            _follow_role_changes(request)
        return self.get_response(request)


def roles_fingerprint(user: object) -> str:
    """A short digest of the roles the user holds today (from the request's one roles query)."""
    import hashlib

    held = permissions.role_map(user)
    parts = sorted(
        [f"c{pk}:{role}" for pk, roles in held.by_commune.items() for role in roles]
        + [f"d{pk}:{role}" for pk, roles in held.by_department.items() for role in roles]
        + [f"i:{role}" for role in held.installation]
    )
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _follow_role_changes(request: HttpRequest) -> None:
    """Issue 11: a session never goes on under other roles unnoticed. When the memberships in
    force changed since the last request (confirmed, refused, ended — or ended by its date), the
    session key is rotated, a code typed for step-up no longer counts, and the person is told."""
    from . import stepup

    fingerprint = roles_fingerprint(request.user)
    stored = request.session.get(SESSION_ROLES)
    if stored == fingerprint:
        return
    request.session[SESSION_ROLES] = fingerprint
    if stored is None:  # first request of this session
        return
    old_key = request.session.session_key
    request.session.cycle_key()  # as signals.rotate_session_key (which imports this module)
    sessions.follow_key(request, old_key)
    stepup.forget(request)
    messages.info(
        request, _("Vos rôles ont changé : les pages tiennent compte de vos droits actuels.")
    )
