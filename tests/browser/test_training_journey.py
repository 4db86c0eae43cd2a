"""The training coordinator's day, in Chromium, checked with axe-core on every page: the home
dashboard, a sheet as a town hall really exports it (letterhead, Direction and Service,
"Présent(e)", a remark starting with "-", one person twice with two statuses, a total line),
the preview saying all of it, the confirmation applied by the worker, the result, and the
session's sign-in sheet downloaded after a fresh code (PDF and CSV, the remark neutralised)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.axe import assert_accessible
from tests.browser.fixtures import log_in
from tests.browser.stepup import next_code
from tests.factories import PASSWORD
from tests.training.factories import TrainingSessionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FILES = Path(__file__).parent.parent / "training" / "files"


@pytest.fixture
def static_files(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "private", "base_url": None},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def test_coordinator_imports_a_town_hall_export_and_downloads_the_sign_in_sheet(
    web, world, static_files, tmp_path
):
    today = timezone.localdate()
    session = TrainingSessionFactory(
        commune=world.tarascon,
        created_by=world.coordinator,
        title="Prévention de la radicalisation",
        date=today,
    )
    TrainingSessionFactory(
        commune=world.tarascon,
        created_by=world.coordinator,
        title="Session de printemps",
        status="planned",
        date=today + datetime.timedelta(days=20),
    )
    page = web
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" or "Content Security Policy" in m.text
            else None
        ),
    )
    log_in(page, world.coordinator, PASSWORD)

    # Home: the coordinator's dashboard.
    page.goto("/")
    dashboard = page.get_by_test_id("training-dashboard")
    expect(dashboard).to_contain_text("1 session à venir")
    expect(page.get_by_test_id("dashboard-upcoming")).to_contain_text("Session de printemps")
    assert_accessible(page)

    # Upload the export.
    page.goto(f"/formations/sessions/{session.pk}/")
    assert_accessible(page)
    page.get_by_role("link", name="Importer les présences").click()
    assert_accessible(page)
    page.set_input_files("#id_file", str(FILES / "town_hall_export.xlsx"))
    page.get_by_role("button", name="Voir l'aperçu").click()

    # The preview says what it did with the sheet.
    expect(page.get_by_test_id("preview-plan")).to_contain_text("4 présences ajoutées")
    main = page.locator("main")
    expect(main).to_contain_text("le service est lu dans « Service »")
    expect(main).to_contain_text("Ligne 12 : ligne de total, ignorée")
    expect(main).to_contain_text("1 personne figure deux fois avec des présences différentes")
    conflict = page.get_by_test_id("duplicate-conflict")
    expect(conflict).to_contain_text("Présent ligne 6, Absent ici")
    understood = page.get_by_test_id("understood")
    expect(understood).to_contain_text("- arrivée en retard")
    expect(understood).to_contain_text("Excusé")
    expect(page.get_by_test_id("rejected")).to_have_count(0)
    assert_accessible(page)
    # Also at phone width.
    page.set_viewport_size({"width": 390, "height": 844})
    assert_accessible(page)
    page.set_viewport_size({"width": 1280, "height": 800})

    # Confirm: the worker applies it (eager in tests), the status page gives the result.
    page.get_by_role("button", name="Confirmer l'import de 4 lignes").click()
    result = page.get_by_test_id("import-result")
    expect(result).to_contain_text("4 présences ajoutées")
    assert_accessible(page)

    # The session's sign-in sheet.
    page.get_by_role("link", name="Voir la session").click()
    expect(page.get_by_test_id("attendance-table")).to_contain_text("Arnaud")
    # Names leave the application: a fresh code first (cmer.accounts.stepup), then the file.
    page.get_by_role("link", name="Liste d'émargement (PDF)").click()
    expect(page.get_by_role("heading", name="Confirmez avec votre code")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Code à usage unique").fill(next_code(world.coordinator))
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Confirmer").click()
    pdf = download_info.value
    pdf_path = tmp_path / "emargement.pdf"
    pdf.save_as(pdf_path)
    assert pdf_path.read_bytes().startswith(b"%PDF")
    assert pdf.suggested_filename.endswith(".pdf")
    page.goto(f"/formations/sessions/{session.pk}/")  # within the 5 minutes: no code asked
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Liste d'émargement (CSV)").click()
    csv_path = tmp_path / "emargement.csv"
    download_info.value.save_as(csv_path)
    text = csv_path.read_text(encoding="utf-8-sig")
    assert f"Extrait par {world.coordinator}" in text
    assert ";'- arrivée en retard" in text
    assert problems == []
