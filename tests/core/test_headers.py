from __future__ import annotations

import pytest

from tests.conftest import login


@pytest.mark.django_db
def test_security_headers_on_authenticated_page(client, world):
    login(client, world.referent)
    response = client.get("/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    for directive in ("frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"):
        assert directive in csp
    script_src = next(part for part in csp.split(";") if part.strip().startswith("script-src"))
    assert "unsafe-inline" not in script_src
    assert "'nonce-" in script_src
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


@pytest.mark.django_db
def test_login_page_is_not_cached_either(client):
    response = client.get("/comptes/connexion/")
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_script_tags_carry_the_nonce(client, world):
    login(client, world.referent)
    response = client.get("/")
    html = response.content.decode()
    nonce = response["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert html.count("<script") == html.count(f'nonce="{nonce}"')


def test_argon2_is_the_production_hasher():
    from django.conf import settings

    real = [h for h in settings.PASSWORD_HASHERS if "MD5" not in h]
    assert real[0].endswith("Argon2PasswordHasher")


def test_password_validators_length_not_composition():
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        validate_password("Short1!")
    with pytest.raises(ValidationError):
        validate_password("password1234")  # common
    validate_password("une phrase de passe assez longue")


@pytest.mark.django_db
def test_french_by_default_whatever_the_browser_says(client):
    response = client.get("/comptes/connexion/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert response["Content-Language"] == "fr"
    assert "Mot de passe" in response.content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/comptes/connexion/"})
    response = client.get("/comptes/connexion/")
    assert response["Content-Language"] == "en"
