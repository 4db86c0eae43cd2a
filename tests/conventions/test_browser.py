"""The convention journey in a real browser: draft, signatories, signed PDF, in force; then the
charter gate for a cell member."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conventions.models import Convention, SignedDocument
from tests.browser.fixtures import log_in
from tests.factories import PASSWORD

from .factories import CharterVersionFactory, make_pdf

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_referent_records_a_signed_protocol(web, world, tmp_path):
    page = web
    log_in(page, world.referent, PASSWORD)
    page.get_by_role("link", name="Conventions et charte").first.click()
    page.get_by_role("link", name="Nouvelle convention").click()
    page.get_by_label("Commune").select_option(str(world.tarascon.pk))
    page.get_by_label("Nature").select_option("protocol")
    page.get_by_label("Intitulé").fill("Protocole d'installation de la CMER de Tarascon")
    page.get_by_label("Référence").fill("PREF13-2026-07")
    today = timezone.localdate()
    page.get_by_label("Date d'effet").fill(today.isoformat())
    page.get_by_label("Durée (mois)").fill("36")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_test_id("convention-state")).to_have_text("Brouillon")
    expect(page.get_by_test_id("gate-reason")).to_contain_text("pas en vigueur")
    convention = Convention.objects.get()

    form = page.get_by_test_id("signatory-form")
    form.get_by_label("Nom").fill("Préfet des Bouches-du-Rhône")
    form.get_by_label("Qualité").select_option("prefect")
    form.get_by_role("button", name="Ajouter").click()
    page.get_by_role("button", name="Envoyer à la signature").click()
    expect(page.get_by_test_id("convention-state")).to_have_text("En attente de signatures")

    signatories = page.get_by_test_id("signatories")
    signatories.get_by_label("Date de signature").fill(today.isoformat())
    signatories.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_test_id("signatories")).to_contain_text(today.strftime("%d/%m/%Y"))

    pdf = tmp_path / "protocole-signe.pdf"
    pdf.write_bytes(make_pdf("Protocole signé"))
    page.get_by_test_id("document-form").get_by_label("PDF signé").set_input_files(str(pdf))
    page.get_by_test_id("document-form").get_by_role("button", name="Déposer").click()
    document = SignedDocument.objects.get()
    expect(page.get_by_test_id("documents")).to_contain_text(document.sha256)

    page.get_by_role("button", name="Constater la signature").click()
    expect(page.get_by_test_id("convention-state")).to_have_text("En vigueur")
    expect(page.get_by_test_id("text-in-force")).to_contain_text("version 1")
    assert "Tarascon" not in page.title()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="PDF,").click()
    assert download_info.value.suggested_filename == f"convention-{convention.pk}-v1.pdf"

    bad = tmp_path / "faux.pdf"
    bad.write_bytes(b"GIF89a not a pdf")
    page.get_by_test_id("document-form").get_by_label("PDF signé").set_input_files(str(bad))
    page.get_by_test_id("document-form").get_by_role("button", name="Déposer").click()
    expect(page.get_by_test_id("document-form")).to_contain_text("n'est pas un PDF")
    assert SignedDocument.objects.count() == 1
    page.screenshot(path=str(tmp_path / "convention.png"), full_page=True)


def test_member_is_sent_to_the_charter_and_back(web, world):
    CharterVersionFactory(commune=world.tarascon, version=1, text="Règle : discrétion absolue.")
    page = web
    log_in(page, world.member, PASSWORD)
    page.goto("/conventions/charte/?next=/")
    expect(page.get_by_test_id("charter-form")).to_contain_text("discrétion absolue")
    page.get_by_role("button", name="J'ai lu la charte").click()
    page.wait_for_url(lambda url: "/charte/" not in url)
    assert world.member.charter_acknowledgements.count() == 1
