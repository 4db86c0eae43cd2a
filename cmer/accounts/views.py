"""Login with e-mail + password, then the mandatory second factor (TOTP, backup codes)."""

from __future__ import annotations

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import DEVICE_ID_SESSION_KEY, devices_for_user, match_token
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from cmer import permissions
from cmer.audit.core import record_event
from cmer.audit.models import Event

from .forms import (
    DsfrPasswordChangeForm,
    EmailAuthenticationForm,
    EmailChangeForm,
    PasswordConfirmForm,
    TokenForm,
)
from .middleware import SESSION_COMMUNE
from .models import User
from .signals import rotate_session_key


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


def _backup_codes_for(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="backup", confirmed=True)
    codes = []
    for _i in range(settings.BACKUP_CODES_COUNT):
        code = StaticToken.random_token()
        StaticToken.objects.create(device=device, token=code)
        codes.append(code)
    return codes


@require_http_methods(["GET", "POST"])
def otp_enrol(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not user.is_authenticated:
        return redirect(settings.LOGIN_URL)
    if any(True for _ in devices_for_user(user, confirmed=True)):
        # Enrolling a new device when one exists goes through the password (account page).
        return redirect("home" if user.is_verified() else "accounts:otp_verify")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=_("Application"), confirmed=False)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"]):
            with transaction.atomic():
                device.confirmed = True
                device.save()
                TOTPDevice.objects.filter(user=user, confirmed=False).delete()
                codes = _backup_codes_for(user)
                record_event(Event.OTP_ENROLLED, request=request, target=user)
            otp_login(request, device)
            rotate_session_key(request)
            return render(request, "accounts/backup_codes.html", {"codes": codes})
        record_event(Event.OTP_FAILED, request=request, target=user)
        form.add_error("token", _("Code incorrect. Vérifiez l'heure de votre téléphone."))
    qr = segno.make(device.config_url, error="m")
    context = {
        "form": form,
        "qr_data_uri": qr.svg_data_uri(scale=5, dark="#000091"),
        "secret": _format_secret(device),
    }
    return render(request, "accounts/otp_enrol.html", context)


def _format_secret(device: TOTPDevice) -> str:
    import base64

    raw = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def account(request: HttpRequest) -> HttpResponse:
    memberships = request.user.memberships.active().select_related("commune", "department")
    return render(request, "accounts/account.html", {"memberships": memberships})


@require_http_methods(["GET", "POST"])
def reset_second_factor(request: HttpRequest) -> HttpResponse:
    form = PasswordConfirmForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            TOTPDevice.objects.filter(user=request.user).delete()
            StaticDevice.objects.filter(user=request.user).delete()
            record_event(Event.CHANGE, request=request, target=request.user, data={"otp": "reset"})
        request.session.pop(DEVICE_ID_SESSION_KEY, None)
        messages.info(request, _("Enregistrez votre nouvelle application d'authentification."))
        return redirect("accounts:otp_enrol")
    return render(request, "accounts/confirm_password.html", {"form": form, "purpose": "otp"})


@require_http_methods(["GET", "POST"])
def regenerate_backup_codes(request: HttpRequest) -> HttpResponse:
    form = PasswordConfirmForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            codes = _backup_codes_for(request.user)
        return render(request, "accounts/backup_codes.html", {"codes": codes})
    return render(request, "accounts/confirm_password.html", {"form": form, "purpose": "codes"})


@require_http_methods(["GET", "POST"])
def change_email(request: HttpRequest) -> HttpResponse:
    form = EmailChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        request.user.email = form.cleaned_data["email"]
        request.user.save(update_fields=["email"])
        messages.success(request, _("Votre adresse électronique a été modifiée."))
        return redirect("accounts:account")
    return render(request, "accounts/confirm_password.html", {"form": form, "purpose": "email"})


@require_POST
def switch_commune(request: HttpRequest) -> HttpResponse:
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


class PasswordChangeView(auth_views.PasswordChangeView):
    form_class = DsfrPasswordChangeForm
    template_name = "accounts/form_page.html"
    success_url = reverse_lazy("accounts:account")

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        messages.success(self.request, _("Votre mot de passe a été modifié."))
        return super().form_valid(form)


@login_not_required
def locked_out(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/locked_out.html", status=429)
