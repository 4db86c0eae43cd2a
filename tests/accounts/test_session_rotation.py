"""The session key changes when the second factor is verified and when the commune changes."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from cmer.accounts.demo import current_code
from cmer.accounts.models import Role, UserSession
from tests.conftest import login
from tests.factories import PASSWORD, MembershipFactory

LOGIN = "/comptes/connexion/"
VERIFY = "/comptes/verification/"


def password_step(client: Client, user) -> str:
    response = client.post(LOGIN, {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client.session.session_key


@pytest.mark.django_db
def test_session_key_changes_at_the_second_factor(client, world):
    key_after_password = password_step(client, world.referent)
    device = TOTPDevice.objects.get(user=world.referent)
    response = client.post(VERIFY, {"token": current_code(device)})
    assert response.status_code == 302
    key_after_totp = client.session.session_key
    assert key_after_totp != key_after_password
    assert client.get("/").status_code == 200
    # The key known before the second factor opens nothing: it no longer exists server-side.
    assert not Session.objects.filter(session_key=key_after_password).exists()
    stale = Client()
    stale.cookies[settings.SESSION_COOKIE_NAME] = key_after_password
    assert stale.get("/")["Location"].startswith(LOGIN)
    # The server-side link follows the new key: deactivation still ends this session.
    assert list(
        UserSession.objects.filter(user=world.referent).values_list("session_key", flat=True)
    ) == [key_after_totp]
    world.referent.is_active = False
    world.referent.save()
    assert client.get("/")["Location"].startswith(LOGIN)


@pytest.mark.django_db
def test_failed_code_keeps_the_unverified_key(client, world):
    key = password_step(client, world.agent)
    client.post(VERIFY, {"token": "000000"})
    assert client.session.session_key == key
    assert client.get("/")["Location"] == VERIFY


@pytest.mark.django_db
def test_session_key_changes_with_the_commune(client, world):
    MembershipFactory(user=world.referent, role=Role.CELL_MEMBER, commune=world.miramas)
    login(client, world.referent)
    before = client.session.session_key
    client.post("/comptes/commune/", {"commune": world.miramas.pk})
    assert client.session.session_key != before
    assert client.get("/").status_code == 200
    assert not Session.objects.filter(session_key=before).exists()
    # A refused switch changes nothing, the key included.
    after = client.session.session_key
    client.post("/comptes/commune/", {"commune": world.nimes.pk})
    assert client.session.session_key == after
