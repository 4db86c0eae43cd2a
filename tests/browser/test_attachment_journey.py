"""A referral's attachment in a real browser: the link on the referral page → the code page →
the file (cases.views.detail.attachment_download, behind step-up like every export); within the
five minutes the next download needs no code. Each page checked with axe and for internal codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from cases import actions
from cmer.audit.models import AuditEntry, Event
from tests.browser.axe import assert_accessible
from tests.browser.codes import assert_no_internal_code
from tests.browser.fixtures import log_in
from tests.browser.stepup import step_up
from tests.cases.helpers import PDF_BYTES, file_referral
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def check(page) -> None:
    assert_accessible(page)
    assert_no_internal_code(page)


def _exports() -> int:
    return AuditEntry.objects.filter(event=Event.EXPORT).count()


def test_the_attachment_link_asks_for_the_code_then_downloads_the_file(
    web, world, settings, tmp_path
):
    settings.PRIVATE_STORAGE_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    referral = file_referral(
        world.agent, world.tarascon, attachments=[("piece.pdf", "application/pdf", PDF_BYTES)]
    )
    referral = actions.do_change_status(
        referral, to_status="in_assessment", acting_user=world.referent
    )
    page = web
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, world.referent, PASSWORD)
    page.goto(f"/signalements/{referral.pk}/")
    expect(page.get_by_test_id("facts")).to_be_visible()
    check(page)

    page.get_by_role("link", name="piece.pdf").click()
    # The download waits for the code: the code page, nothing served or recorded yet.
    expect(page.get_by_role("heading", name="Confirmez avec votre code")).to_be_visible()
    check(page)
    assert _exports() == 0
    with page.expect_download() as download_info:
        step_up(page, world.referent)
    download = download_info.value
    assert download.suggested_filename == "piece.pdf"
    assert Path(download.path()).read_bytes() == PDF_BYTES
    assert _exports() == 1

    # Within the five minutes, the next click downloads at once.
    page.goto(f"/signalements/{referral.pk}/")
    with page.expect_download() as again:
        page.get_by_role("link", name="piece.pdf").click()
    assert Path(again.value.path()).read_bytes() == PDF_BYTES
    assert _exports() == 2
    assert not errors, errors
