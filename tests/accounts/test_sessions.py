from __future__ import annotations

import datetime

import pytest
import time_machine
from django.contrib.sessions.models import Session

from tests.conftest import login
from tests.factories import PASSWORD


@pytest.fixture(params=[True, False], ids=["save-every-request", "save-when-modified"])
def session_saving(request, settings):
    """The idle limit holds whether or not Django rewrites the session on every request."""
    settings.SESSION_SAVE_EVERY_REQUEST = request.param
    return request.param


@pytest.mark.django_db
def test_idle_session_expires_after_15_minutes(client, world, session_saving):
    with time_machine.travel(
        datetime.datetime(2026, 11, 23, 9, 0, tzinfo=datetime.UTC), tick=False
    ) as clock:
        login(client, world.referent)
        assert client.get("/").status_code == 200
        clock.shift(datetime.timedelta(minutes=14))
        assert client.get("/").status_code == 200
        clock.shift(datetime.timedelta(minutes=16))
        response = client.get("/")
        assert response.status_code == 302
        assert response["Location"].startswith("/comptes/connexion/")


@pytest.mark.django_db
def test_activity_keeps_the_session_alive(client, world, session_saving):
    with time_machine.travel(
        datetime.datetime(2026, 11, 23, 9, 0, tzinfo=datetime.UTC), tick=False
    ) as clock:
        login(client, world.referent)
        for _ in range(8):  # one request every 10 minutes for 80 minutes
            clock.shift(datetime.timedelta(minutes=10))
            assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_idle_limit_counts_from_the_stored_activity_never_later(client, world, session_saving):
    """Activity is stored at most once a minute: the session ends 14 to 15 min after the last
    request, never later than 15."""
    with time_machine.travel(
        datetime.datetime(2026, 11, 23, 9, 0, tzinfo=datetime.UTC), tick=False
    ) as clock:
        login(client, world.referent)
        clock.shift(datetime.timedelta(seconds=59))
        assert client.get("/").status_code == 200  # activity stored at login: not rewritten
        clock.shift(datetime.timedelta(seconds=15 * 60 - 58))  # 15 min 1 s after the login
        assert client.get("/").status_code == 302
    with time_machine.travel(
        datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.UTC), tick=False
    ) as clock:
        login(client, world.referent)
        clock.shift(datetime.timedelta(seconds=61))
        assert client.get("/").status_code == 200  # stored again
        clock.shift(datetime.timedelta(minutes=14, seconds=59))
        assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_a_request_that_changes_nothing_does_not_rewrite_the_session(client, world, settings):
    settings.SESSION_SAVE_EVERY_REQUEST = False
    with time_machine.travel(
        datetime.datetime(2026, 11, 23, 9, 0, tzinfo=datetime.UTC), tick=False
    ) as clock:
        login(client, world.agent)
        client.get("/")
        expiry = Session.objects.get().expire_date
        clock.shift(datetime.timedelta(seconds=30))
        client.get("/")
        assert Session.objects.get().expire_date == expiry  # not saved
        clock.shift(datetime.timedelta(seconds=31))
        client.get("/")
        assert Session.objects.get().expire_date > expiry  # activity stored, expiry pushed


@pytest.mark.django_db
def test_absolute_session_limit_is_10_hours_even_when_active(client, world):
    with time_machine.travel(
        datetime.datetime(2026, 11, 23, 8, 0, tzinfo=datetime.UTC), tick=False
    ) as clock:
        login(client, world.referent)
        for _ in range(60):  # active every 10 minutes for 10 hours
            clock.shift(datetime.timedelta(minutes=10))
            response = client.get("/")
        assert response.status_code == 200  # exactly 10 hours: still within the limit
        clock.shift(datetime.timedelta(seconds=1))
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
