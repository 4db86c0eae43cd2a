"""Each role's main path in Chromium, at desktop width and on a 390×844 phone (issue 16).

Every page is checked with the pinned axe-core (tests/browser/axe.py: no violation of any
impact on the app's pages, none serious in Django's admin) and for internal codes in what it
shows (tests/browser/codes.py). On the phone the header tools are reached through DSFR's menu
button. The training coordinator's journey is tests/browser/test_training_journey.py.
"""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cases import actions
from cases.models import Referral
from tests.browser.axe import assert_accessible
from tests.browser.codes import assert_no_internal_code
from tests.browser.fixtures import log_in
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(params=list(SIZES))
def size(request):
    return request.param


@pytest.fixture
def screen(web, size, settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    web.set_viewport_size(SIZES[size])
    errors: list[str] = []
    web.on("pageerror", lambda error: errors.append(str(error)))
    yield web
    assert not errors, errors


def check(page, *, admin: bool = False) -> None:
    assert_accessible(page, admin=admin)
    if not admin:
        assert_no_internal_code(page)


def go(page, size: str, link: str) -> None:
    """Follow the main navigation: on the phone it sits behind the DSFR menu button."""
    if size == "phone":
        page.get_by_role("button", name="Menu").click()
        menu = page.locator("#cmer-header-menu")
        expect(menu.get_by_role("button", name="Se déconnecter")).to_be_visible()
        check(page)  # the open menu too
        menu.get_by_role("link", name=link, exact=True).click()
    else:
        page.get_by_role("navigation", name="Menu principal").get_by_role(
            "link", name=link, exact=True
        ).click()
    page.wait_for_load_state()


def _assessed_and_transmittable(world) -> Referral:
    from tests.cases.helpers import file_referral

    referral = file_referral(world.agent, world.tarascon, urgency="danger")
    actions.do_change_status(
        referral, to_status=Referral.Status.IN_ASSESSMENT, acting_user=world.referent
    )
    return referral


def test_referent(screen, size, world):
    from tests.conventions.factories import ConventionFactory

    ConventionFactory(commune=world.tarascon, signed=True)
    referral = _assessed_and_transmittable(world)
    page = screen
    log_in(page, world.referent, PASSWORD)
    expect(page.get_by_test_id("referent-dashboard")).to_be_visible()
    check(page)
    go(page, size, "Signalements")
    check(page)
    page.get_by_role("link", name=referral.reference).click()
    expect(page.get_by_test_id("facts")).to_be_visible()
    check(page)
    # A grant with nothing filled in: DSFR errors in place, the summary focused.
    page.get_by_role("button", name="Accorder l'accès").click()
    expect(page.get_by_test_id("error-summary")).to_be_focused()
    check(page)
    page.get_by_label("Membre de la cellule").select_option(str(world.member.pk))
    page.get_by_label("Motif : pourquoi cette personne doit en connaître").fill("Suivi")
    in_a_month = (timezone.localdate() + datetime.timedelta(days=30)).isoformat()
    page.get_by_label("Échéance de l'accès").fill(in_a_month)
    page.get_by_role("button", name="Accorder l'accès").click()
    expect(page.get_by_test_id("grants")).to_contain_text(world.member.get_full_name())
    check(page)
    # Transmission (the protocol is in force): DSFR errors, then sent.
    page.get_by_role("link", name="Transmettre à la préfecture").click()
    check(page)
    page.get_by_role("button", name="Transmettre", exact=True).click()
    expect(page.get_by_test_id("error-summary")).to_be_focused()
    check(page)
    page.locator("label[for=id_items_1]").click()  # DSFR checkbox: its label takes the click
    page.get_by_label("Motif de la transmission").fill("Menaces graves et répétées")
    page.get_by_role("button", name="Transmettre", exact=True).click()
    expect(page.get_by_test_id("referral-status")).to_have_text("Transmis à la préfecture")
    check(page)
    go(page, size, "Réunions")
    check(page)
    go(page, size, "Conventions et charte")
    check(page)


def test_member(screen, size, world):
    referral = _assessed_and_transmittable(world)
    actions.do_grant_access(
        referral,
        member=world.member,
        contribute=True,
        reason="Suivi éducatif",
        expires_on=timezone.localdate() + datetime.timedelta(days=30),
        acting_user=world.referent,
    )
    # Tarascon's referent publishes a new charter: the member reads it before the referral.
    from conventions.actions import do_publish_charter

    do_publish_charter(world.tarascon, "Discrétion absolue.", acting_user=world.referent)
    page = screen
    log_in(page, world.member, PASSWORD)
    check(page)
    go(page, size, "Signalements")
    expect(page.get_by_test_id("charter-form")).to_contain_text("Discrétion absolue")
    check(page)
    page.get_by_role("button", name="J'ai lu la charte").click()
    page.wait_for_url(lambda url: "/charte/" not in url)
    check(page)
    page.get_by_role("link", name=referral.reference).click()
    expect(page.get_by_test_id("facts")).to_be_visible()
    check(page)
    go(page, size, "Réunions")
    check(page)


def test_agent(screen, size, world):
    page = screen
    log_in(page, world.agent, PASSWORD)
    check(page)
    page.get_by_role("link", name="Déposer un signalement").first.click()
    check(page)
    page.get_by_role("button", name="Déposer le signalement").click()
    expect(page.get_by_test_id("error-summary")).to_be_focused()
    check(page)
    page.get_by_label("Nom", exact=True).fill("Durand")
    page.get_by_label("Faits observés").fill("Menaces répétées envers un camarade.")
    page.get_by_label("Origine du signalement").select_option("school")
    page.get_by_role("button", name="Déposer le signalement").click()
    expect(page.get_by_test_id("submit-confirmation")).to_be_focused()
    check(page)
    page.get_by_role("button", name="Confirmer le dépôt").click()
    page.wait_for_url("**/depose/")
    check(page)
    go(page, size, "Signalements")
    check(page)


def test_liaison(screen, size, world):
    from cases.models import Transmission

    referral = _assessed_and_transmittable(world)
    Transmission.objects.create(
        referral=referral,
        transmitted_by=world.referent,
        shared_items=["identity", "facts"],
        reason="Menaces graves",
    )
    Referral.objects.filter(pk=referral.pk).update(status=Referral.Status.TRANSMITTED)
    page = screen
    log_in(page, world.liaison, PASSWORD)
    expect(page.get_by_test_id("liaison-dashboard")).to_be_visible()
    expect(page.get_by_text("Commune de travail")).to_have_count(0)
    check(page)
    go(page, size, "Signalements transmis")
    check(page)
    page.get_by_role("link", name=referral.reference).click()
    expect(page.get_by_test_id("facts")).to_be_visible()
    check(page)
    go(page, size, "Conventions et charte")
    check(page)


def test_dpo(screen, size, world):
    page = screen
    log_in(page, world.dpo, PASSWORD)
    expect(page.get_by_test_id("dpo-dashboard")).to_be_visible()
    check(page)
    go(page, size, "Journal d'audit")
    check(page)
    go(page, size, "Intégrité du journal")
    check(page)


def test_admin(screen, size, world):
    page = screen
    log_in(page, world.admin, PASSWORD)
    check(page)
    go(page, size, "Administration technique")
    check(page, admin=True)
    page.goto("/admin/accounts/membership/")
    check(page, admin=True)
