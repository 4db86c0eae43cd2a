"""Playwright on Debian's Chromium (no browser download here: always an executable path)."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = next(
    (p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if shutil.which(p)), None
)


@pytest.fixture(scope="session")
def browser_instance():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def web(browser_instance, live_server):
    context = browser_instance.new_context(base_url=live_server.url, locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def log_in(page, user, password):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from cmer.accounts.demo import current_code

    page.goto("/comptes/connexion/")
    page.get_by_label("Adresse électronique").fill(user.email)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/comptes/verification/**")
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    page.get_by_label("Code à usage unique").fill(current_code(device))
    page.get_by_role("button", name="Valider").click()
    page.wait_for_url(lambda url: "/verification/" not in url)
