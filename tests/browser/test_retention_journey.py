"""The DPO's retention page in Chromium: reached from the main navigation, a legal hold placed on
a referral (refused first without a reason, nothing written), then listed, then lifted with a
reason; the 25th-birthday rule suspended with a reason; the page passes axe-core."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cases.models import LegalHold
from tests.browser.axe import assert_accessible
from tests.browser.fixtures import log_in
from tests.cases.helpers import file_referral
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_dpo_places_a_legal_hold_and_suspends_the_age_rule(web, world):
    referral = file_referral(world.referent, world.tarascon)
    log_in(web, world.dpo, PASSWORD)
    web.get_by_test_id("main-navigation").get_by_role("link", name="Durées de conservation").click()
    expect(web.get_by_role("heading", level=1)).to_have_text("Durées de conservation")
    expect(web.get_by_test_id("rules")).to_contain_text("25")
    assert_accessible(web)

    until = (timezone.localdate() + datetime.timedelta(days=365)).isoformat()
    form = web.get_by_test_id("hold-form")
    form.get_by_label("Référence du signalement").fill(referral.reference)
    form.get_by_label("Jusqu'au (inclus)").fill(until)
    form.get_by_role("button", name="Poser le gel").click()
    expect(web.locator(".fr-error-text, .fr-message--error").first).to_be_visible()
    assert not LegalHold.objects.exists()

    form = web.get_by_test_id("hold-form")
    form.get_by_label("Référence du signalement").fill(referral.reference)
    form.get_by_label("Motif (réquisition, procédure en cours)").fill("Réquisition du parquet")
    form.get_by_label("Jusqu'au (inclus)").fill(until)
    form.get_by_role("button", name="Poser le gel").click()
    expect(web.get_by_test_id("holds")).to_contain_text(referral.reference)
    assert LegalHold.objects.get().referral_id == referral.pk
    assert "Réquisition" not in web.get_by_test_id("holds").inner_text()  # reason stays out

    # Lifted early: the confirmation opens under the hold and needs a reason.
    hold = LegalHold.objects.get()
    web.get_by_text(f"Lever le gel sur {referral.reference}").click()
    lift = web.get_by_test_id(f"lift-form-{hold.pk}")
    assert_accessible(web)
    lift.get_by_label("Motif de la levée").fill("Mainlevée du parquet du 1er décembre")
    lift.get_by_role("button", name="Confirmer la levée du gel").click()
    expect(web.get_by_test_id("holds")).to_contain_text("Aucun gel en cours")
    hold.refresh_from_db()
    assert hold.lifted_by_id == world.dpo.pk

    rule = web.get_by_test_id("age-rule-form")
    rule.get_by_label("Règle des 25 ans").select_option("0")
    rule.get_by_label("Motif (délibération, avis, décision)").fill("Avis du DPO du 1er décembre")
    rule.get_by_role("button", name="Enregistrer le changement").click()
    expect(web.get_by_test_id("age-rule-state")).to_contain_text("Suspendue")
    assert_accessible(web)
