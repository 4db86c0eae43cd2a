"""Issue 16: a main navigation per role on every page (no going back through the logo), the
header tools also in the phone menu, and no "commune de travail" for department roles."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def _nav(page: str) -> str:
    return page.split('data-testid="main-navigation"')[1].split("</nav>")[0]


@pytest.mark.parametrize(
    ("persona", "present", "absent"),
    [
        (
            "referent",
            ["/signalements/", "/reunions/", "/conventions/", 'href="/statistiques/"'],
            ["/audit/", "/admin/", "/registre/"],
        ),
        (
            "agent",
            ["/signalements/"],
            ["/reunions/", "/conventions/", "/audit/", 'href="/statistiques/"'],
        ),
        (
            "member",
            ["/signalements/", "/reunions/"],
            ["/conventions/", "/audit/", 'href="/statistiques/"', "/registre/"],
        ),
        (
            "liaison",
            ["/signalements/prefecture/", "/conventions/", 'href="/statistiques/"'],
            ['href="/signalements/"', "/registre/"],
        ),
        (
            "dpo",
            ["/audit/", "/audit/integrite/", "/conservation/", "/registre/"],
            ["/signalements/", "/reunions/"],
        ),
        ("admin", ["/admin/"], ["/signalements/", "/audit/"]),
    ],
)
def test_each_role_gets_its_own_entries(as_user, world, persona, present, absent):
    nav = _nav(as_user(getattr(world, persona)).get("/").content.decode())
    for href in present:
        assert href in nav, href
    for href in absent:
        assert href not in nav, href


def test_the_current_entry_is_marked(as_user, world):
    page = as_user(world.referent).get("/signalements/").content.decode()
    nav = _nav(page)
    assert 'href="/signalements/" aria-current="page"' in nav
    assert nav.count('aria-current="page"') == 1


def test_the_header_tools_are_also_in_the_phone_menu(as_user, world):
    page = as_user(world.referent).get("/").content.decode()
    assert 'aria-controls="cmer-header-menu"' in page  # DSFR's menu button
    menu = page.split('id="cmer-header-menu"')[1]
    for tool in ("Se déconnecter", "Masquer l’écran", "English"):
        assert tool in menu
    # The same markup twice (no ids to duplicate), so DSFR's script leaves the copy alone.
    tools = page.split('<div class="fr-header__tools-links">')[1].split("</ul>")[0]
    copy = page.split('cmer-menu-tools">')[1].split("</ul>")[0]
    assert tools.strip() == copy.strip()
    assert ' id="' not in tools


@pytest.mark.parametrize("persona", ["liaison", "dpo"])
def test_department_roles_are_not_given_a_working_commune(as_user, world, persona):
    page = as_user(getattr(world, persona)).get("/").content.decode()
    assert "Commune de travail" not in page
    assert 'id="commune-switcher"' not in page


def test_a_commune_role_still_sees_its_working_commune(as_user, world):
    page = as_user(world.referent).get("/").content.decode()
    assert "Commune de travail : Tarascon" in page
