"""The referent's referral statistics and the DPO's register of processing, in Chromium: small
counts read "< 5", the breakdown changes, the CSV downloads; the register lists the encrypted
fields and the retention periods. Both pages pass axe-core."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.axe import assert_accessible
from tests.browser.fixtures import log_in
from tests.cases.helpers import file_referral
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "private", "base_url": None},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def test_referent_reads_statistics_and_dpo_reads_the_register(web, world, storage):
    for _ in range(3):
        file_referral(world.referent, world.tarascon)

    log_in(web, world.referent, PASSWORD)
    web.goto("/statistiques/")
    expect(web.get_by_role("heading", level=1)).to_contain_text("Statistiques des signalements")
    table = web.get_by_test_id("statistics-table")
    expect(table).to_contain_text("< 5")
    expect(web.get_by_test_id("grand-total")).to_have_text("< 5")
    expect(web.get_by_test_id("legend")).to_contain_text("moins de cinq")
    web.get_by_label("Répartition").select_option("urgence")
    web.get_by_role("button", name="Afficher").click()
    expect(table).to_contain_text("Danger immédiat")
    assert_accessible(web)
    with web.expect_download() as download:
        web.get_by_test_id("export-csv").click()
    assert "< 5" in Path(download.value.path()).read_text(encoding="utf-8-sig")
    web.context.clear_cookies()

    log_in(web, world.dpo, PASSWORD)
    web.goto("/registre/")
    expect(web.get_by_role("heading", level=1)).to_contain_text("Registre des traitements")
    expect(web.get_by_test_id("encrypted")).to_contain_text("faits observés")
    expect(web.get_by_test_id("retention")).to_contain_text("ans")
    assert_accessible(web)
