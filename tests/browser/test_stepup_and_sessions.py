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
