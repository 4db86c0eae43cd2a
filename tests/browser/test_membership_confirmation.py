"""Four-eyes in a real browser: the referent finds a pending role request from the home page,
refuses one with a reason and confirms the other."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from cmer.accounts.models import Membership, MembershipStatus, Role
from tests.browser.fixtures import log_in
from tests.browser.stepup import step_up
from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_referent_confirms_a_pending_request(web, world):
    wanted = MembershipFactory(
        user=UserFactory(email="noe@tarascon.test", first_name="Noé", last_name="Nouveau"),
        role=Role.CELL_MEMBER,
        commune=world.tarascon,
        requested=True,
        requested_by=world.admin,
    )
    unknown = MembershipFactory(
        user=UserFactory(email="x@tarascon.test", first_name="Xavier", last_name="Inconnu"),
        role=Role.REPORTING_AGENT,
        commune=world.tarascon,
        requested=True,
        requested_by=world.admin,
    )
    page = web
    log_in(page, world.referent, PASSWORD)
    callout = page.get_by_test_id("pending-memberships")
    expect(callout).to_contain_text("2 demandes de rôle attendent votre confirmation")
    callout.get_by_role("link", name="Voir les demandes").click()
    page.wait_for_url("**/roles/demandes/")
    expect(page.get_by_role("heading", name="Demandes de rôle à confirmer")).to_be_visible()
    row = page.get_by_test_id(f"membership-request-{unknown.pk}")
    expect(row).to_contain_text("Xavier Inconnu")
    expect(row).to_contain_text("Agent signalant")
    expect(row).to_contain_text(world.admin.get_full_name())
    row.get_by_role("link", name="Refuser").click()
    # Deciding an access request asks a fresh code (step-up), then comes back to the form.
    step_up(page, world.referent)
    page.wait_for_url(f"**/roles/demandes/{unknown.pk}/refuser/")
    page.get_by_label("Motif du refus").fill("Inconnu du service jeunesse")
    page.get_by_role("button", name="Refuser la demande").click()
    expect(page.get_by_role("alert")).to_contain_text("La demande est refusée")
    row = page.get_by_test_id(f"membership-request-{wanted.pk}")
    expect(row).to_contain_text("Noé Nouveau")
    expect(row).to_contain_text("Membre de la cellule")
    expect(row).to_contain_text("Tarascon")
    row.get_by_role("button", name="Confirmer").click()
    expect(page.get_by_role("alert")).to_contain_text("Le rôle est confirmé")
    expect(page.get_by_test_id("no-membership-request")).to_be_visible()
    wanted.refresh_from_db()
    unknown.refresh_from_db()
    assert wanted.status == MembershipStatus.CONFIRMED and wanted.decided_by == world.referent
    assert unknown.status == MembershipStatus.REFUSED
    assert unknown.decision_reason == "Inconnu du service jeunesse"
    assert Membership.objects.active().filter(pk=wanted.pk).exists()
    assert "Noé" not in page.title()
