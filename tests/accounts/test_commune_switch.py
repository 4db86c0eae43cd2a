from __future__ import annotations

import pytest

from cmer.accounts.models import Role
from tests.factories import MembershipFactory


@pytest.mark.django_db
def test_people_with_several_communes_switch_between_them(as_user, world):
    MembershipFactory(user=world.referent, role=Role.CELL_MEMBER, commune=world.miramas)
    client = as_user(world.referent)
    html = client.get("/").content.decode()
    assert 'id="commune-switcher"' in html
    client.post("/comptes/commune/", {"commune": world.miramas.pk})
    html = client.get("/").content.decode()
    header = html.split('data-testid="current-user"')[1].split("</a>")[0]
    assert "Miramas" in header and "Membre de la cellule" in header
    # A commune the user has no role in is refused and changes nothing.
    response = client.post("/comptes/commune/", {"commune": world.nimes.pk}, follow=True)
    assert "ne fait pas partie" in response.content.decode()
    header = response.content.decode().split('data-testid="current-user"')[1].split("</a>")[0]
    assert "Miramas" in header


@pytest.mark.django_db
def test_single_commune_users_get_no_switcher(as_user, world):
    assert 'id="commune-switcher"' not in as_user(world.agent).get("/").content.decode()
