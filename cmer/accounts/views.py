"""Login with e-mail + password, then the mandatory second factor (TOTP, backup codes)."""

from __future__ import annotations

import time

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import PasswordChangeForm
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme, urlsafe_base64_decode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import DEVICE_ID_SESSION_KEY, devices_for_user, match_token
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from cmer import permissions
from cmer.audit.core import record_event
from cmer.audit.models import Event

from . import identity, sessions, stepup
from .forms import (
    DsfrPasswordChangeForm,
    EmailAuthenticationForm,
    EmailChangeForm,
    EnrolmentForm,
    EnrolmentPasswordForm,
    PasswordConfirmForm,
    TokenForm,
)
from .middleware import SESSION_COMMUNE
from .models import MembershipStatus, User
from .requests import AuthenticatedRequest
from .signals import rotate_session_key
from .tokens import enrolment_token_generator


class LoginView(auth_views.LoginView):
    form_class = EmailAuthenticationForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return str(settings.LOGIN_REDIRECT_URL)


@require_http_methods(["GET", "POST"])
def otp_verify(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not user.is_authenticated:
        return redirect(settings.LOGIN_URL)
    if user.is_verified():
        return redirect("home")
    if not any(True for _ in devices_for_user(user, confirmed=True)):
        return redirect("accounts:otp_enrol")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # match_token tries the TOTP device (a code is accepted once: django-otp keeps the last
        # time step used) then the backup codes (each deleted when used); devices throttle.
        device = match_token(user, form.cleaned_data["token"])
        if device is not None:
            otp_login(request, device)
            rotate_session_key(request)
            return redirect(_safe_next(request))
        record_event(Event.OTP_FAILED, request=request, target=user)
        form.add_error("token", _("Code incorrect ou déjà utilisé. Réessayez avec un code neuf."))
    return render(request, "accounts/otp_verify.html", {"form": form})


# Set by the person's own "change device" (password confirmed in a verified session): only then
# may this session enrol a device without a link. Anyone else without a device — invited, or
# reset by the administrator — enrols through the one-time link sent to their own address.
SESSION_SELF_REENROL = "cmer_self_reenrol"
SESSION_ENROL_LINK_SENT_AT = "cmer_enrol_link_sent_at"
ENROL_LINK_INTERVAL_SECONDS = 300


@require_http_methods(["GET", "POST"])
def otp_enrol(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not user.is_authenticated:
        return redirect(settings.LOGIN_URL)
    if any(True for _ in devices_for_user(user, confirmed=True)):
        # Enrolling a new device when one exists goes through the password (account page).
        return redirect("home" if user.is_verified() else "accounts:otp_verify")
    if request.session.get(SESSION_SELF_REENROL) != user.pk:
        return _enrolment_needed(request, user)
    device = _pending_device(user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"]):
            codes = identity.do_confirm_enrolment(user, device, request=request)
            request.session.pop(SESSION_SELF_REENROL, None)
            otp_login(request, device)
            rotate_session_key(request)
            return render(request, "accounts/backup_codes.html", {"codes": codes})
        record_event(Event.OTP_FAILED, request=request, target=user)
        form.add_error("token", _("Code incorrect. Vérifiez l'heure de votre téléphone."))
    return render(request, "accounts/otp_enrol.html", {"form": form, **_qr_context(device)})


def _enrolment_needed(request: HttpRequest, user: User) -> HttpResponse:
    """Past the password, no second factor: the QR code is only shown through the link sent to
    the person's address (password + mailbox). They can ask for a new link."""
    if request.method == "POST":
        # One link per few minutes from a session: the button must not flood the mailbox.
        last = request.session.get(SESSION_ENROL_LINK_SENT_AT, 0)
        if time.time() - last < ENROL_LINK_INTERVAL_SECONDS:
            messages.warning(
                request, _("Un lien vient de vous être envoyé. Consultez votre messagerie.")
            )
        else:
            identity.do_request_enrolment_link(user, request=request)
            request.session[SESSION_ENROL_LINK_SENT_AT] = time.time()
            messages.info(request, _("Un nouveau lien vous a été envoyé par courriel."))
        return redirect("accounts:otp_enrol")
    return render(request, "accounts/enrolment_needed.html")


def _pending_device(user: User) -> TOTPDevice:
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=_("Application"), confirmed=False)
    return device


def _qr_context(device: TOTPDevice) -> dict[str, str]:
    qr = segno.make(device.config_url, error="m")
    return {
        "qr_data_uri": qr.svg_data_uri(scale=5, dark="#000091"),
        "secret": _format_secret(device),
    }


def _format_secret(device: TOTPDevice) -> str:
    import base64

    raw = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def account(request: AuthenticatedRequest) -> HttpResponse:
    memberships = request.user.memberships.active().select_related("commune", "department")
    # Roles requested for this person and not confirmed yet (four-eyes): they give nothing yet.
    requested = request.user.memberships.filter(status=MembershipStatus.REQUESTED).select_related(
        "commune", "department"
    )
    return render(
        request, "accounts/account.html", {"memberships": memberships, "requested": requested}
    )


@require_http_methods(["GET", "POST"])
@stepup.stepup_required
def reset_second_factor(request: AuthenticatedRequest) -> HttpResponse:
    form = PasswordConfirmForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            TOTPDevice.objects.filter(user=request.user).delete()
            StaticDevice.objects.filter(user=request.user).delete()
            record_event(Event.CHANGE, request=request, target=request.user, data={"otp": "reset"})
            # Whoever held the old second factor: their sessions end with it.
            sessions.do_end_other_sessions(request, why="second_factor_changed")
        stepup.forget(request)
        request.session.pop(DEVICE_ID_SESSION_KEY, None)
        request.session[SESSION_SELF_REENROL] = request.user.pk
        messages.info(request, _("Enregistrez votre nouvelle application d'authentification."))
        return redirect("accounts:otp_enrol")
    return render(request, "accounts/confirm_password.html", {"form": form, "purpose": "otp"})


@require_http_methods(["GET", "POST"])
@stepup.stepup_required
def regenerate_backup_codes(request: AuthenticatedRequest) -> HttpResponse:
    form = PasswordConfirmForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            codes = identity.backup_codes_for(request.user)
        return render(request, "accounts/backup_codes.html", {"codes": codes})
    return render(request, "accounts/confirm_password.html", {"form": form, "purpose": "codes"})


@require_http_methods(["GET", "POST"])
@stepup.stepup_required
def change_email(request: AuthenticatedRequest) -> HttpResponse:
    form = EmailChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        request.user.email = form.cleaned_data["email"]
        request.user.save(update_fields=["email"])
        messages.success(request, _("Votre adresse électronique a été modifiée."))
        return redirect("accounts:account")
    return render(request, "accounts/confirm_password.html", {"form": form, "purpose": "email"})


@require_POST
def switch_commune(request: AuthenticatedRequest) -> HttpResponse:
    raw = request.POST.get("commune", "")
    allowed = permissions.communes_where(request.user)
    commune = allowed.filter(pk=raw).first() if raw.isdigit() else None
    if commune is None:
        messages.error(request, _("Cette commune ne fait pas partie de vos rattachements."))
    else:
        request.session[SESSION_COMMUNE] = commune.pk
        # Other roles from here on: a new key, as at every change of what the session may do.
        rotate_session_key(request)
    return redirect("home")


class PasswordChangeView(stepup.StepUpRequiredMixin, auth_views.PasswordChangeView):
    form_class = DsfrPasswordChangeForm
    template_name = "accounts/form_page.html"
    success_url = reverse_lazy("accounts:account")
    request: AuthenticatedRequest

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        old_key = self.request.session.session_key
        # Saves the password and cycles this session's key (update_session_auth_hash).
        response = super().form_valid(form)
        sessions.follow_key(self.request, old_key)
        ended = sessions.do_end_other_sessions(self.request, why="password_changed")
        message = _("Votre mot de passe a été modifié.")
        if ended:
            message += " " + _("Vos autres sessions ont été fermées.")
        messages.success(self.request, message)
        return response


@require_GET
def session_list(request: AuthenticatedRequest) -> HttpResponse:
    """The person's live sessions, this one marked; each other one can be ended."""
    rows = [
        (
            link,
            sessions.describe_agent(link.user_agent),
            link.session_key == request.session.session_key,
        )
        for link in sessions.active_for(request.user)
    ]
    awaiting = sum(1 for link, _device, _current in rows if link.second_factor_at is None)
    return render(request, "accounts/sessions.html", {"rows": rows, "awaiting": awaiting})


@require_POST
def session_end(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    link = sessions.get_other_session_for_user(request, pk)
    sessions.do_end_session(request, link)
    messages.success(request, _("La session est fermée : cet appareil devra se reconnecter."))
    return redirect("accounts:sessions")


@require_POST
def session_end_others(request: AuthenticatedRequest) -> HttpResponse:
    ended = sessions.do_end_other_sessions(request)
    messages.success(
        request,
        _("%(count)d autre(s) session(s) fermée(s). Celle-ci reste ouverte.") % {"count": ended},
    )
    return redirect("accounts:sessions")


@login_not_required
def locked_out(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/locked_out.html", status=429)


# The link's token is moved from the URL to the session at once (as Django's password reset
# does), so that it appears in no later Referer or history entry.
ENROLMENT_SESSION_TOKEN = "_cmer_enrolment_token"  # noqa: S105 (a session key name)
ENROLMENT_SESSION_PASSWORD_OK = "_cmer_enrolment_password_ok"  # noqa: S105 (a session key name)
ENROLMENT_URL_TOKEN = "etape"  # noqa: S105 (placeholder in the URL)


def _user_from_uid(uidb64: str) -> User | None:
    try:
        pk = urlsafe_base64_decode(uidb64).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return User.objects.filter(pk=pk, is_active=True).first() if pk.isdigit() else None


@login_not_required
@require_http_methods(["GET", "POST"])
def enrol(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """Invitation and second-factor reset links: the person (for an invitation) chooses the
    password, or (after a reset) confirms the current one, then scans the QR code and confirms
    with a code; they land logged in with both factors. Used or expired links are refused."""
    user = _user_from_uid(uidb64)
    if token != ENROLMENT_URL_TOKEN:
        if user is not None and enrolment_token_generator.check_token(user, token):
            request.session[ENROLMENT_SESSION_TOKEN] = token
            return redirect("accounts:enrol", uidb64=uidb64, token=ENROLMENT_URL_TOKEN)
        return render(request, "accounts/enrol.html", {"validlink": False}, status=404)
    token = request.session.get(ENROLMENT_SESSION_TOKEN, "")
    if user is None or not enrolment_token_generator.check_token(user, token):
        return render(request, "accounts/enrol.html", {"validlink": False}, status=404)
    invitation = not user.has_usable_password()
    if not invitation and request.session.get(ENROLMENT_SESSION_PASSWORD_OK) != user.pk:
        # After a reset: the current password first, before any QR code is shown.
        password_form = EnrolmentPasswordForm(user, request, request.POST or None)
        if request.method == "POST" and password_form.is_valid():
            request.session[ENROLMENT_SESSION_PASSWORD_OK] = user.pk
            return redirect("accounts:enrol", uidb64=uidb64, token=ENROLMENT_URL_TOKEN)
        return render(
            request, "accounts/enrol.html", {"validlink": True, "password_form": password_form}
        )
    device = _pending_device(user)
    form = EnrolmentForm(user, device, request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            codes = identity.do_confirm_enrolment(
                user, device, new_password=form.new_password, request=request
            )
            for key in (ENROLMENT_SESSION_TOKEN, ENROLMENT_SESSION_PASSWORD_OK):
                request.session.pop(key, None)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            otp_login(request, device)
            rotate_session_key(request)
            return render(request, "accounts/backup_codes.html", {"codes": codes})
        if "token" in form.errors:
            record_event(Event.OTP_FAILED, request=request, actor=user, target=user)
    context = {"validlink": True, "form": form, "invitation": invitation, **_qr_context(device)}
    return render(request, "accounts/enrol.html", context)
