"""The axe helper itself: it finds what it should, and the base layout passes it."""

from __future__ import annotations

import pytest

from tests.browser.axe import assert_accessible, axe_version, violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_pinned_engine_reports_a_known_violation(browser_instance):
    page = browser_instance.new_page()
    page.set_content(
        '<html lang="fr"><head><title>t</title></head><body><main><h1>t</h1>'
        '<img src="data:,"></main></body></html>'
    )
    found = violations(page)
    assert axe_version().startswith("4.")
    assert [v["id"] for v in found] == ["image-alt"]
    with pytest.raises(AssertionError, match="image-alt"):
        assert_accessible(page)
    # The admin threshold ignores what is below "serious"; a missing alt is critical.
    with pytest.raises(AssertionError, match="image-alt"):
        assert_accessible(page, admin=True)
    page.close()


def test_the_login_page_has_no_violation(web):
    web.goto("/comptes/connexion/")
    assert_accessible(web)


@pytest.mark.django_db
def test_the_internal_code_check_finds_what_the_issue_saw_and_spares_people_s_addresses():
    from tests.browser.codes import codes_shown

    shown = "Éléments partagés : attachments, facts, identity — consultation (detail)"
    assert codes_shown(shown) == ["attachments", "detail", "facts", "identity"]
    assert codes_shown("referent@tarascon.test — consultation de la fiche, 3 fois") == []
    assert codes_shown("Statut : in_assessment") == ["in_assessment"]
