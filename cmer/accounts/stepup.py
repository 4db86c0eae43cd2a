"""Step-up: a fresh second-factor code before a sensitive act, valid a few minutes, per session.

Exporting personal data, changing one's own password, second factor or address, and deciding an
access request each ask the person to type a code again, even in a verified session: a session
taken over (an unlocked screen, a stolen cookie) cannot do them without the phone. The proof is
kept in the session only (``STEPUP_SESSION_KEY``), so another session of the same person asks
again, and it lapses after ``settings.STEPUP_SECONDS`` (5 minutes).

Use: call ``require(request)`` in the view *after* the access check (a person who may not see the
object gets the same 404 as before, and learns nothing from a code prompt), or decorate a view
whose access needs no object with ``@stepup_required``. ``require`` raises ``StepUpRequired``;
``StepUpMiddleware`` turns it into the "Confirmez avec votre code" page:

- a GET (a download, a form page) is sent to that page (``accounts:stepup?next=…``), which
  returns to it once the code is right;
- a POST is answered in place (403, nothing done) with the same form, which re-posts the fields
  it received (never a password, never a file) with the code to the same address: the act then
  runs exactly as first asked. A wrong code changes nothing and says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods
from django.views.generic import View
from django_otp import match_token

from cmer.audit.core import record_event
from cmer.audit.models import Event

from .requests import AuthenticatedRequest

STEPUP_SESSION_KEY = "cmer_stepup_at"
STEPUP_FIELD = "cmer_stepup_code"
BACK_FIELD = "cmer_stepup_back"
# Fields never written back into a page: the CSRF token is issued afresh, a password is typed
# again rather than kept in the HTML.
_NOT_REPLAYED = {"csrfmiddlewaretoken", STEPUP_FIELD, BACK_FIELD}

WRONG_CODE = gettext_lazy(
    "Code incorrect ou déjà utilisé : rien n'a été fait. Saisissez un code neuf."
)


class StepUpRequired(Exception):  # a signal to the middleware, not an error
    """Raised by ``require``: the act waits for a fresh code. ``error`` after a wrong code."""

    def __init__(self, error: str = "") -> None:
        super().__init__(error or "step-up required")
        self.error = error


def seconds_left(request: HttpRequest) -> int:
    """How long the last code typed in this session still counts (0: none, or lapsed)."""
    confirmed_at = request.session.get(STEPUP_SESSION_KEY)
    if not isinstance(confirmed_at, int | float):
        return 0
    left = confirmed_at + settings.STEPUP_SECONDS - time.time()
    # A clock set back must not stretch the window beyond its length.
    return int(left) if 0 < left <= settings.STEPUP_SECONDS else 0


def is_fresh(request: HttpRequest) -> bool:
    return seconds_left(request) > 0


def confirm(request: AuthenticatedRequest, code: str) -> bool:
    """Check ``code`` (TOTP, or a backup code, which is then spent; each TOTP code is accepted
    once — django-otp keeps the last step used — and devices throttle failures) and, if right,
    open the window for this session. A wrong code is an audit entry, like at login."""
    token = (code or "").replace(" ", "").strip().lower()
    device = match_token(request.user, token) if token and len(token) <= 16 else None
    if device is None:
        record_event(Event.OTP_FAILED, request=request, target=request.user)
        return False
    request.session[STEPUP_SESSION_KEY] = time.time()
    return True


def forget(request: HttpRequest) -> None:
    """Close the window (roles changed, second factor replaced)."""
    request.session.pop(STEPUP_SESSION_KEY, None)


def require(request: AuthenticatedRequest) -> None:
    """Return if this session confirmed a code in the last minutes, or if this POST carries a
    right one; raise ``StepUpRequired`` otherwise (the middleware answers)."""
    if is_fresh(request):
        return
    if request.method == "POST" and STEPUP_FIELD in request.POST:
        if confirm(request, request.POST.get(STEPUP_FIELD, "")):
            return
        raise StepUpRequired(str(WRONG_CODE))
    raise StepUpRequired()


def stepup_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For views whose access does not depend on an object (one's own account)."""

    @wraps(view)
    def wrapper(request: AuthenticatedRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        require(request)
        return view(request, *args, **kwargs)

    return wrapper


# Only ever mixed into a view: a View for the type checker, a plain object at run time.
if TYPE_CHECKING:
    _ViewBase = View
else:
    _ViewBase = object


class StepUpRequiredMixin(_ViewBase):
    """``stepup_required`` for class-based views (the password change)."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # Keeps View.dispatch's signature; only signed-in people reach a view (the login is
        # required by default: LoginRequiredMiddleware).
        require(cast(AuthenticatedRequest, request))
        return super().dispatch(request, *args, **kwargs)


def challenge(request: HttpRequest, error: str = "") -> HttpResponse:
    """The answer to ``StepUpRequired``: the code page, where the person was."""
    if request.method != "POST":
        url = reverse("accounts:stepup") + "?" + urlencode({"next": request.get_full_path()})
        return redirect(url)
    replayed: list[tuple[str, str]] = []
    dropped = bool(request.FILES)
    for name, values in request.POST.lists():
        if name in _NOT_REPLAYED:
            continue
        if "password" in name:
            dropped = True
            continue
        replayed.extend((name, value) for value in values)
    context = {
        "action": request.get_full_path(),
        "replayed": replayed,
        "dropped": dropped,
        "error": error,
        "field": STEPUP_FIELD,
        "back_field": BACK_FIELD,
        "minutes": settings.STEPUP_SECONDS // 60,
        "back": _back(request),
    }
    return render(request, "accounts/stepup.html", context, status=403)


def _safe(request: HttpRequest, target: str) -> str:
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


def _back(request: HttpRequest) -> str:
    """Where "Annuler" goes: the page the person came from (kept through a wrong code), on
    this site, else home."""
    kept = request.POST.get(BACK_FIELD, "") if request.method == "POST" else ""
    came_from = kept or request.headers.get("Referer", "")
    return _safe(request, came_from) or reverse("home")


@require_http_methods(["GET", "POST"])
def page(request: AuthenticatedRequest) -> HttpResponse:
    """``accounts:stepup``: the code, then back to ``next`` (a GET: a download, a form)."""
    target = _safe(request, request.POST.get("next") or request.GET.get("next") or "")
    target = target or reverse("home")
    error = ""
    if request.method == "POST":
        if confirm(request, request.POST.get(STEPUP_FIELD, "")):
            return redirect(target)
        error = str(WRONG_CODE)
    context = {
        "action": reverse("accounts:stepup"),
        "replayed": [("next", target)],
        "dropped": False,
        "error": error,
        "field": STEPUP_FIELD,
        "back_field": BACK_FIELD,
        "minutes": settings.STEPUP_SECONDS // 60,
        "back": _back(request),
    }
    return render(request, "accounts/stepup.html", context, status=200)


class StepUpMiddleware:
    """Turns ``StepUpRequired`` raised by a view into the code page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, StepUpRequired):
            return challenge(request, exception.error)
        return None
