"""Request-level guards: session lifetime, mandatory second factor, current commune."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _

from cmer import permissions
from cmer.accounts.models import Commune

SESSION_STARTED = "cmer_auth_started_at"
SESSION_LAST_SEEN = "cmer_last_seen_at"
SESSION_COMMUNE = "cmer_commune_id"

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

    def __call__(self, request: HttpRequest) -> HttpResponse:
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
        return self.get_response(request)
