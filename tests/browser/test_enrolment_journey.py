"""Invitation → enrolment → first login, in a real browser (issue 11): the administrator invites
from the admin; the person follows the e-mailed link, chooses the password, sets up the
authenticator from the key shown next to the QR code, and later logs in with both factors."""

from __future__ import annotations

import base64
import re
import time

import pytest
from django.core import mail
from django_otp.oath import TOTP
from playwright.sync_api import expect

from cmer.accounts.models import User
from tests.browser.fixtures import log_in
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHOSEN = "ma phrase de passe à moi 2026"


def code_from_secret(secret: str, at: float | None = None) -> str:
    """What the person's phone shows: the TOTP of the key read on the page."""
    raw = secret.replace(" ", "")
    key = base64.b32decode(raw + "=" * (-len(raw) % 8))
    totp = TOTP(key, step=30, t0=0, digits=6, drift=0)
    if at is not None:
        totp.time = at
    return f"{totp.token():06d}"


def test_invited_person_enrols_and_logs_in(browser_instance, live_server, world):
    admin = browser_instance.new_context(base_url=live_server.url, locale="fr-FR")
    person = browser_instance.new_context(base_url=live_server.url, locale="fr-FR")
    try:
        page = admin.new_page()
        page.set_default_timeout(15_000)
        log_in(page, world.admin, PASSWORD)
        page.goto("/admin/accounts/user/add/")
        expect(page.locator("input[type=password]")).to_have_count(0)
        page.fill("#id_email", "nouvelle@tarascon.test")
        page.fill("#id_first_name", "Nina")
        page.fill("#id_last_name", "Neuve")
        page.locator("input[name=_save]").click()
        page.wait_for_url("**/admin/accounts/user/")
        user = User.objects.get(email="nouvelle@tarascon.test")
        assert not user.has_usable_password()

        (message,) = mail.outbox
        assert message.to == ["nouvelle@tarascon.test"]
        link = re.search(r"https?://[^/\s]+(/comptes/activation/\S+)", message.body)[1]

        page = person.new_page()
        page.set_default_timeout(15_000)
        page.goto(link)
        page.wait_for_url("**/etape/")  # the token left the address bar
        expect(page.get_by_role("heading", name="Activer votre compte")).to_be_visible()
        expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
        secret = page.get_by_test_id("totp-secret").inner_text()
        page.get_by_label("Choisissez votre mot de passe").fill(CHOSEN)
        page.get_by_label("Confirmez le mot de passe").fill(CHOSEN)
        page.get_by_label("Code à six chiffres affiché par l'application").fill(
            code_from_secret(secret)
        )
        enrolled_at = time.time()
        page.get_by_role("button", name="Activer mon compte").click()
        expect(page.get_by_test_id("backup-codes")).to_be_visible()
        page.get_by_role("link", name="J'ai noté mes codes, continuer").click()
        expect(page.get_by_test_id("current-user").first).to_be_visible()

        # The link is spent.
        page.goto(link)
        expect(page.get_by_test_id("invalid-link")).to_be_visible()

        # First login from the login page: the password chosen, then the phone's code. A code
        # is accepted once per 30 s step: wait for the next step after the enrolment's.
        page.get_by_role("button", name="Se déconnecter").first.click()
        page.wait_for_url("**/comptes/connexion/**")
        wait = 30 - enrolled_at % 30 + 0.5
        if time.time() < enrolled_at + wait:
            time.sleep(enrolled_at + wait - time.time())
        page.get_by_label("Adresse électronique").fill("  NOUVELLE@tarascon.test ")
        page.get_by_label("Mot de passe").fill(CHOSEN)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url("**/comptes/verification/**")
        page.get_by_label("Code à usage unique").fill(code_from_secret(secret))
        page.get_by_role("button", name="Valider").click()
        page.wait_for_url(lambda url: "/verification/" not in url)
        expect(page.get_by_test_id("current-user").first).to_be_visible()
    finally:
        admin.close()
        person.close()
