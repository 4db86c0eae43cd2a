"""Typing a step-up code in a browser test (cmer.accounts.stepup)."""

from __future__ import annotations

import time

from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


def next_code(user) -> str:
    """The code of the next 30 s step: the current one was just spent at login (each code is
    accepted once), and django-otp accepts one step ahead (OTP_TOTP_TOLERANCE)."""
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + device.step
    return f"{totp.token():0{device.digits}d}"


def step_up(page, user) -> None:
    """On the "Confirmez avec votre code" page: type a fresh code and confirm."""
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name="Confirmez avec votre code")).to_be_visible()
    page.get_by_label("Code à usage unique").fill(next_code(user))
    page.get_by_role("button", name="Confirmer").click()
