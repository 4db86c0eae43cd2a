"""The chair's journey in a real browser: plan → agenda with a referral → attendance and
decision → review → approve; then a member downloads the PDF stamped with their name (after a
fresh code: an export), and the liaison's calendar shows the meeting held, with one referral
discussed, and no content."""

from __future__ import annotations

import datetime
import io
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect
from pypdf import PdfReader

from meetings.models import AgendaItem, Meeting, MinutesDocument
from tests.browser.fixtures import log_in
from tests.browser.stepup import next_code
from tests.cases.helpers import file_referral
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_plan_hold_decide_approve_and_download(
    browser_instance, live_server, world, settings, tmp_path
):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path, "base_url": None},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.PRIVATE_STORAGE_ROOT = tmp_path
    referral = file_referral(world.agent, world.tarascon)
    chair = browser_instance.new_context(base_url=live_server.url, locale="fr-FR")
    reader = browser_instance.new_context(
        base_url=live_server.url, locale="fr-FR", accept_downloads=True
    )
    liaison = browser_instance.new_context(base_url=live_server.url, locale="fr-FR")
    try:
        page = chair.new_page()
        page.set_default_timeout(20_000)
        page.on("dialog", lambda dialog: dialog.accept())
        log_in(page, world.referent, PASSWORD)
        # The referent's home is a dashboard: meetings are in the main navigation.
        page.get_by_role("navigation", name="Menu principal").get_by_role(
            "link", name="Réunions", exact=True
        ).click()
        page.get_by_role("link", name="Planifier une réunion").click()
        when = timezone.localtime() + datetime.timedelta(days=1)
        page.get_by_label("Date et heure").fill(when.strftime("%Y-%m-%dT%H:%M"))
        page.get_by_label("Lieu").fill("Salle du conseil")
        page.locator("label.fr-label", has_text=world.member.get_full_name()).click()
        page.get_by_role("button", name="Planifier et inviter").click()
        page.wait_for_url("**/reunions/*/")
        meeting = Meeting.objects.get()
        # The day has come (the meeting is moved one hour into the past).
        Meeting.objects.filter(pk=meeting.pk).update(
            starts_at=timezone.now() - datetime.timedelta(hours=1)
        )
        page.get_by_label("Référence du signalement").fill(referral.reference)
        page.get_by_role("button", name="Ajouter le signalement").click()
        agenda = page.get_by_test_id("agenda")
        expect(agenda).to_contain_text(referral.reference)
        expect(agenda).to_contain_text("J. D.")
        assert "Dupont" not in agenda.inner_text()
        page.get_by_role("button", name="La réunion s'est tenue").click()
        expect(page.get_by_test_id("meeting-status")).to_have_text("Tenue")
        page.get_by_label(f"Présence de {world.member.get_full_name()}").select_option("present")
        page.get_by_label(f"Présence de {world.referent.get_full_name()}").select_option("present")
        page.get_by_role("button", name="Enregistrer les présences").click()
        item = AgendaItem.objects.get(meeting=meeting)
        page.locator(f"#decision-{item.pk}").fill("suivi social décidé")
        page.get_by_role("button", name="Enregistrer la décision").click()
        expect(page.get_by_test_id("decisions").first).to_contain_text("suivi social décidé")
        page.get_by_label("Relecture jusqu'au").fill(timezone.localdate().isoformat())
        page.get_by_role("button", name="Envoyer en relecture").click()
        page.get_by_role("button", name="Approuver le compte rendu").click()
        expect(page.get_by_test_id("locked")).to_be_visible()
        assert MinutesDocument.objects.get().state == MinutesDocument.State.READY
        assert "Dupont" not in page.title()

        member = reader.new_page()
        member.set_default_timeout(20_000)
        log_in(member, world.member, PASSWORD)
        member.goto(f"/reunions/{meeting.pk}/")
        expect(member.get_by_test_id("agenda")).to_contain_text("suivi social décidé")
        # An export of personal data: a fresh code first (cmer.accounts.stepup), then the file.
        member.get_by_role("link", name="Télécharger (exemplaire à votre nom)").click()
        expect(member.get_by_role("heading", name="Confirmez avec votre code")).to_be_visible()
        member.get_by_label("Code à usage unique").fill(next_code(world.member))
        with member.expect_download() as download_info:
            member.get_by_role("button", name="Confirmer").click()
        data = Path(download_info.value.path()).read_bytes()
        pages = [p.extract_text() for p in PdfReader(io.BytesIO(data)).pages]
        assert pages and all(world.member.get_full_name() in text for text in pages)
        assert referral.reference in "\n".join(pages) and "Dupont" not in "\n".join(pages)
        member.screenshot(path=str(tmp_path / "minutes.png"), full_page=True)

        prefecture = liaison.new_page()
        prefecture.set_default_timeout(20_000)
        log_in(prefecture, world.liaison, PASSWORD)
        prefecture.goto("/reunions/")
        prefecture.get_by_role("link", name="Calendrier du département").click()
        row = prefecture.get_by_test_id("calendar").locator("tr", has_text="Tarascon")
        expect(row).to_contain_text("Tenue")
        expect(row.locator("td").last).to_have_text("1")
        assert "Salle du conseil" not in row.inner_text() and "J. D." not in row.inner_text()
    finally:
        chair.close()
        reader.close()
        liaison.close()


def test_a_chair_who_may_not_read_the_agenda_is_refused_on_the_edit_form(
    browser_instance, live_server, world
):
    """The referent picks a cell member without access to the referral on the agenda as chair:
    the edit form comes back with the error summary focused and the error under the field,
    counting the item without naming it; the chair stays."""
    from meetings import actions
    from tests.meetings.helpers import plan

    referral = file_referral(world.agent, world.tarascon)
    meeting = plan(world, invitees=[world.member, world.liaison])
    actions.do_add_referral_item(meeting, reference=referral.reference, acting_user=world.referent)
    context = browser_instance.new_context(base_url=live_server.url, locale="fr-FR")
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        log_in(page, world.referent, PASSWORD)
        page.goto(f"/reunions/{meeting.pk}/modifier/")
        page.get_by_label("Président de séance").select_option(str(world.member.pk))
        page.get_by_role("button", name="Enregistrer et prévenir").click()
        summary = page.get_by_test_id("error-summary")
        expect(summary).to_be_focused()
        message = "ne peut pas consulter 1 signalement inscrit à l'ordre du jour"
        expect(summary).to_contain_text(message)
        expect(page.locator(".fr-error-text", has_text=message)).to_be_visible()
        body = page.locator("body").inner_text()
        assert referral.reference not in body and "Dupont" not in body and "J. D." not in body
        assert Meeting.objects.get(pk=meeting.pk).chair == world.referent
    finally:
        context.close()
