"""The convention journey in a real browser: the referent drafts and signs for the commune, the
liaison signs for the prefecture, then it is in force; then the charter gate for a cell member."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conventions.models import Convention, SignedDocument
from tests.browser.fixtures import log_in
from tests.factories import PASSWORD

from .factories import CharterVersionFactory, make_pdf

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_both_sides_sign_a_protocol(web, world, tmp_path, browser_instance, live_server):
    """The referent records the commune's half, the liaison the prefecture's: only then is it
    in force. Neither page offers to record the other side's signature."""
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

    # The referent cannot list the prefect: the page says who can.
    form = page.get_by_test_id("signatory-form")
    form.get_by_label("Nom").fill("Préfet des Bouches-du-Rhône")
    form.get_by_label("Qualité").select_option("prefect")
    form.get_by_role("button", name="Ajouter").click()
    expect(page.locator(".fr-alert--error").first).to_contain_text(
        "seul le correspondant de la préfecture"
    )
    assert not convention.signatories.exists()
    form = page.get_by_test_id("signatory-form")
    form.get_by_label("Nom").fill("Maire de Tarascon")
    form.get_by_label("Qualité").select_option("mayor")
    form.get_by_role("button", name="Ajouter").click()
    page.get_by_role("button", name="Envoyer à la signature").click()
    expect(page.get_by_test_id("convention-state")).to_have_text("En attente de signatures")

    bad = tmp_path / "faux.pdf"
    bad.write_bytes(b"GIF89a not a pdf")
    page.get_by_test_id("document-form").get_by_label("PDF signé").set_input_files(str(bad))
    page.get_by_test_id("document-form").get_by_role("button", name="Déposer").click()
    expect(page.get_by_test_id("document-form")).to_contain_text("n'est pas un PDF")
    assert not SignedDocument.objects.exists()
    pdf = tmp_path / "protocole-signe.pdf"
    pdf.write_bytes(make_pdf("Protocole signé"))
    page.get_by_test_id("document-form").get_by_label("PDF signé").set_input_files(str(pdf))
    page.get_by_test_id("document-form").get_by_role("button", name="Déposer").click()
    document = SignedDocument.objects.get()
    expect(page.get_by_test_id("documents")).to_contain_text(document.sha256)

    commune_side = page.get_by_test_id("signatories-commune")
    commune_side.get_by_label("Date de signature").fill(today.isoformat())
    commune_side.get_by_role("button", name="Enregistrer la signature").click()
    expect(page.get_by_test_id("side-commune")).to_contain_text(
        f"enregistrée par {world.referent.get_full_name()}"
    )
    expect(page.get_by_test_id("side-prefecture")).to_contain_text("en attente")
    expect(page.get_by_role("button", name="Constater la signature")).to_be_disabled()
    expect(page.get_by_test_id("gate-reason")).to_contain_text("signé par les deux parties")

    # The liaison, in their own browser session, records the prefecture's half.
    context = browser_instance.new_context(base_url=live_server.url, locale="fr-FR")
    liaison = context.new_page()
    liaison.set_default_timeout(15_000)
    log_in(liaison, world.liaison, PASSWORD)
    liaison.goto(f"/conventions/{convention.pk}/")
    expect(liaison.get_by_test_id("side-commune")).to_contain_text("Seul le référent municipal")
    expect(
        liaison.get_by_test_id("side-commune").get_by_role("button", name="Enregistrer")
    ).to_have_count(0)
    form = liaison.get_by_test_id("signatory-form")
    form.get_by_label("Nom").fill("Préfet des Bouches-du-Rhône")
    form.get_by_label("Qualité").select_option("prefect")
    form.get_by_role("button", name="Ajouter").click()
    prefecture_side = liaison.get_by_test_id("signatories-prefecture")
    prefecture_side.get_by_label("Date de signature").fill(today.isoformat())
    prefecture_side.get_by_role("button", name="Enregistrer la signature").click()
    expect(liaison.get_by_test_id("side-prefecture")).to_contain_text("version 1 du PDF")
    liaison.get_by_role("button", name="Constater la signature").click()
    expect(liaison.get_by_test_id("convention-state")).to_have_text("En vigueur")
    context.close()

    page.reload()
    expect(page.get_by_test_id("convention-state")).to_have_text("En vigueur")
    expect(page.get_by_test_id("text-in-force")).to_contain_text("version 1")
    expect(page.get_by_test_id("document-form")).to_have_count(0)  # the signed text is frozen
    assert "Tarascon" not in page.title()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="PDF,").click()
    assert download_info.value.suggested_filename == f"convention-{convention.pk}-v1.pdf"
    page.screenshot(path=str(tmp_path / "convention.png"), full_page=True)


def test_member_is_sent_to_the_charter_and_back(web, world):
    CharterVersionFactory(commune=world.tarascon, version=1, text="Règle : discrétion absolue.")
    page = web
    log_in(page, world.member, PASSWORD)
    page.goto("/conventions/charte/?next=/")
    expect(page.get_by_test_id("charter-form")).to_contain_text("discrétion absolue")
    page.get_by_role("button", name="J'ai lu la charte").click()
    page.wait_for_url(lambda url: "/charte/" not in url)
    assert world.member.charter_acknowledgements.filter(charter__version=1).count() == 1
