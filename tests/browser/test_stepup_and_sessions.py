"""Step-up and sessions in a real browser (issue 17 points 3 and 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from cmer.audit.models import AuditEntry, Event
from tests.browser.fixtures import log_in
from tests.browser.stepup import step_up
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_export_asks_for_the_code_then_downloads(web, world):
    page = web
    log_in(page, world.dpo, PASSWORD)
    page.goto("/audit/?event=login")
    page.get_by_test_id("export-csv").click()
    # The export is held: the code page, where the person was; nothing exported yet.
    expect(page.get_by_role("heading", name="Confirmez avec votre code")).to_be_visible()
    assert not AuditEntry.objects.filter(event=Event.EXPORT).exists()
    page.get_by_label("Code à usage unique").fill("000000")
    page.get_by_role("button", name="Confirmer").click()
    expect(page.get_by_test_id("stepup-error")).to_contain_text("rien n'a été fait")
    assert not AuditEntry.objects.filter(event=Event.EXPORT).exists()
    page.wait_for_timeout(1100)  # django-otp throttles the device a second after a wrong code
    with page.expect_download() as download_info:
        step_up(page, world.dpo)
    download = download_info.value
    assert download.suggested_filename.startswith("journal-audit-")
    content = Path(download.path()).read_text(encoding="utf-8-sig")
    assert content.splitlines()[0].startswith("Export établi le ")
    assert world.dpo.email in content.splitlines()[0]
    entry = AuditEntry.objects.get(event=Event.EXPORT)
    assert entry.actor == world.dpo and entry.additional_data["event"] == "login"
    # Within the five minutes, the next export downloads at once.
    page.goto("/audit/?event=login")
    with page.expect_download():
        page.get_by_test_id("export-csv").click()
    assert AuditEntry.objects.filter(event=Event.EXPORT).count() == 2


def test_the_sessions_page_ends_another_session(browser_instance, live_server, world):
    from tests.browser.stepup import next_code

    office = browser_instance.new_context(base_url=live_server.url, locale="fr-FR")
    phone = browser_instance.new_context(
        base_url=live_server.url,
        locale="fr-FR",
        user_agent="Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131.0 Mobile",
    )
    try:
        first, second = office.new_page(), phone.new_page()
        for page in (first, second):
            page.set_default_timeout(15_000)
        log_in(first, world.referent, PASSWORD)
        # The second login in the same 30 s: the next step's code (each code is used once).
        second.goto("/comptes/connexion/")
        second.get_by_label("Adresse électronique").fill(world.referent.email)
        second.get_by_label("Mot de passe").fill(PASSWORD)
        second.get_by_role("button", name="Se connecter").click()
        second.wait_for_url("**/comptes/verification/**")
        second.get_by_label("Code à usage unique").fill(next_code(world.referent))
        second.get_by_role("button", name="Valider").click()
        second.wait_for_url(lambda url: "/verification/" not in url)

        first.goto("/comptes/compte/")
        first.get_by_role("link", name="Mes sessions").click()
        table = first.get_by_test_id("sessions")
        expect(table.get_by_role("row")).to_have_count(3)  # header + two sessions
        expect(first.get_by_test_id("this-session")).to_have_count(1)
        phone_row = table.get_by_role("row").filter(has_text="Android")
        expect(phone_row).to_contain_text("Chrome 131")
        phone_row.get_by_role("button", name="Fermer cette session").click()
        expect(first.get_by_role("alert")).to_contain_text("La session est fermée")
        expect(first.get_by_test_id("sessions").get_by_role("row")).to_have_count(2)

        second.reload()
        second.wait_for_url("**/comptes/connexion/**")
        first.goto("/")
        assert "/comptes/connexion/" not in first.url
    finally:
        office.close()
        phone.close()
