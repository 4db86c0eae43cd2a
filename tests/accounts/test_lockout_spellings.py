"""Login counters are per account: no spelling of an address gets extra tries (issue 11)."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY

from tests.factories import PASSWORD, UserFactory

LOGIN = "/comptes/connexion/"


def password_step(client, username, password):
    return client.post(LOGIN, {"username": username, "password": password})


@pytest.fixture
def throwaway(db):
    return UserFactory(email="throwaway@tarascon.demo")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "spelling",
    [
        "THROWAWAY@tarascon.demo",
        "  throwaway@tarascon.demo ",
        "\tThrowAway@TARASCON.demo\u00a0",
        "throwaway@tarascon.demo",
    ],
)
def test_five_failures_lock_every_spelling_of_the_address(client, throwaway, spelling):
    for _ in range(5):
        password_step(client, "throwaway@tarascon.demo", "not the password at all")
    # The attack: the right password under another spelling passed the password step.
    response = password_step(client.__class__(), spelling, PASSWORD)
    assert response.status_code == 429
    assert SESSION_KEY not in client.session
    # One counter for the account, under its normalised address.
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == [
        "throwaway@tarascon.demo"
    ]


@pytest.mark.django_db
def test_failures_under_mixed_spellings_add_up(client, throwaway):
    spellings = [
        "THROWAWAY@tarascon.demo",
        " throwaway@tarascon.demo",
        "Throwaway@Tarascon.Demo ",
        "throwaway@TARASCON.DEMO",
        "\tthrowaway@tarascon.demo",
    ]
    for spelling in spellings:
        password_step(client, spelling, "not the password at all")
    attempt = AccessAttempt.objects.get()
    assert attempt.username == "throwaway@tarascon.demo"
    assert attempt.failures_since_start == 5
    assert password_step(client.__class__(), "throwaway@tarascon.demo", PASSWORD).status_code == 429


@pytest.mark.django_db
def test_the_right_password_under_another_spelling_still_logs_in_before_the_limit(
    client, throwaway
):
    for _ in range(4):
        password_step(client, "throwaway@tarascon.demo", "not the password at all")
    response = password_step(client, " THROWAWAY@tarascon.demo ", PASSWORD)
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(throwaway.pk)
