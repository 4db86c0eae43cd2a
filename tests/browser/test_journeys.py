"""Main journeys in a real browser: log in with TOTP, file a referral, the referent assesses."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cases.models import Referral
from tests.browser.fixtures import log_in
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_agent_files_an_urgent_referral_and_sees_the_emergency_guidance(
    web, world, tmp_path, settings
):
    settings.PRIVATE_STORAGE_ROOT = tmp_path
    page = web
    log_in(page, world.agent, PASSWORD)
    page.get_by_role("link", name="Déposer un signalement").first.click()
    notice = page.get_by_test_id("emergency-notice")
    assert notice.is_hidden()
    page.locator("label[for=id_urgency_2]").click()
    assert notice.is_visible()  # before saving
    page.get_by_label("Nom", exact=True).fill("Durand")
    page.get_by_label("Prénoms").fill("Paul")
    page.get_by_label("Faits observés").fill("Menaces explicites de s'en prendre au collège.")
    page.get_by_label("Origine du signalement").select_option("school")
    page.get_by_role("button", name="Déposer le signalement").click()
    # Validated by the server first, then confirmed (the text is frozen once filed).
    expect(page.get_by_test_id("submit-confirmation")).to_be_focused()
    page.get_by_role("button", name="Confirmer le dépôt").click()
    page.wait_for_url("**/depose/")
    expect(page.get_by_test_id("emergency-notice")).to_be_visible()  # and after
    referral = Referral.objects.get()
    assert referral.reference in page.content()
    assert "Durand" not in page.title()
    page.screenshot(path=str(tmp_path / "filed.png"))


def test_referent_reads_grants_and_hides_the_screen(web, world, tmp_path, settings):
    from tests.cases.helpers import file_referral

    settings.PRIVATE_STORAGE_ROOT = tmp_path
    referral = file_referral(world.agent, world.tarascon)
    page = web
    log_in(page, world.referent, PASSWORD)
    page.goto("/signalements/")
    page.get_by_role("link", name=referral.reference).click()
    assert page.get_by_test_id("facts").is_visible()
    assert referral.reference in page.title() and "Dupont" not in page.title()
    page.get_by_label("Membre de la cellule").select_option(str(world.member.pk))
    page.get_by_label("Motif : pourquoi cette personne doit en connaître").fill("Suivi éducatif")
    in_a_month = (timezone.localdate() + datetime.timedelta(days=30)).isoformat()
    page.get_by_label("Échéance de l'accès").fill(in_a_month)
    page.get_by_role("button", name="Accorder l'accès").click()
    expect(page.get_by_test_id("grants")).to_contain_text(world.member.get_full_name())
    page.get_by_role("button", name="Masquer l’écran").click()
    assert page.locator("#cmer-screen-cover").is_visible()
    page.keyboard.press("a")
    assert page.locator("#cmer-screen-cover").is_hidden()
    page.screenshot(path=str(tmp_path / "detail.png"), full_page=True)
