"""The coordinator's journey in a real browser: create a session, upload, confirm, statistics.
No CSP violation may appear in the console (no inline style or script on these pages)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from tests.conftest import login

FILES = Path(__file__).parent / "files"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_page(browser_instance, live_server, settings):
    """Hands out browser contexts and closes them before the live server stops: a context left
    open keeps connections whose late closing breaks the next test on SQLite."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    contexts = []

    class Browser:
        def new_context(self, **kwargs):
            context = browser_instance.new_context(**kwargs)
            contexts.append(context)
            return context

    yield Browser()
    for context in contexts:
        context.close()


def test_coordinator_journey(world, live_server, browser_page):
    client = login(Client(), world.coordinator)
    context = browser_page.new_context(base_url=live_server.url)
    context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" or "Content Security Policy" in m.text
            else None
        ),
    )
    page.goto("/formations/sessions/nouvelle/")
    page.fill("#id_title", "Détecter les signaux faibles")
    page.fill("#id_date", "2026-01-15")
    page.select_option("#id_audience", "staff")
    page.click("main button[type=submit]")
    page.wait_for_url("**/formations/sessions/*/")
    page.click("text=Marquer comme tenue")
    page.click("text=Importer les présences")
    page.set_input_files("#id_file", str(FILES / "extra_sheet.xlsx"))
    page.click("text=Voir l'aperçu")
    page.wait_for_selector("[data-testid=preview-plan]")
    assert "4 présences ajoutées" in page.inner_text("[data-testid=preview-plan]")
    page.click('button:has-text("Confirmer l\'import")')
    # Applied by the task (eager in tests): the status page shows the result.
    page.wait_for_selector("[data-testid=import-result]")
    page.click("text=Voir la session")
    page.wait_for_selector("[data-testid=attendance-table]")
    assert "Barbier" in page.inner_text("[data-testid=attendance-table]")
    page.goto("/formations/statistiques/")
    page.wait_for_selector("[data-testid=chart]")
    assert page.locator("[data-testid=chart] rect").count() == 1
    assert problems == []
