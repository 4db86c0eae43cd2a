from __future__ import annotations

import datetime

import pytest
import time_machine
from django.contrib.sessions.models import Session

from tests.conftest import login
from tests.factories import PASSWORD


@pytest.mark.django_db
def test_idle_session_expires_after_15_minutes(client, world):
    with time_machine.travel(datetime.datetime(2026, 11, 23, 9, 0, tzinfo=datetime.UTC)) as clock:
        login(client, world.referent)
        assert client.get("/").status_code == 200
        clock.shift(datetime.timedelta(minutes=14))
        assert client.get("/").status_code == 200
        clock.shift(datetime.timedelta(minutes=16))
        response = client.get("/")
        assert response.status_code == 302
        assert response["Location"].startswith("/comptes/connexion/")


@pytest.mark.django_db
def test_absolute_session_limit_is_10_hours_even_when_active(client, world):
    with time_machine.travel(datetime.datetime(2026, 11, 23, 8, 0, tzinfo=datetime.UTC)) as clock:
        login(client, world.referent)
        for _ in range(60):  # active every 10 minutes for 10 hours
            clock.shift(datetime.timedelta(minutes=10))
            response = client.get("/")
        assert response.status_code == 302
        follow = client.get(response["Location"])
        assert "expiré" in follow.content.decode()


@pytest.mark.django_db
def test_session_key_rotates_at_login(client, world):
    client.get("/comptes/connexion/")
    client.session.save()
    before = client.session.session_key
    client.post("/comptes/connexion/", {"username": world.agent.email, "password": PASSWORD})
    assert client.session.session_key != before


@pytest.mark.django_db
def test_deactivation_kills_every_session(client, world):
    login(client, world.member)
    other = client.__class__()
    login(other, world.member)
    assert Session.objects.count() >= 2
    world.member.is_active = False
    world.member.save()
    assert client.get("/").status_code == 302
    assert other.get("/").status_code == 302
    assert not Session.objects.filter(
        session_key__in=[client.session.session_key, other.session.session_key]
    ).exists()


@pytest.mark.django_db
def test_sessions_are_stored_in_the_database(settings):
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"
    assert settings.SESSION_COOKIE_HTTPONLY


@pytest.mark.django_db
def test_users_are_never_deleted(world):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        world.agent.delete()
