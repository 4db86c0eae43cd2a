"""Production settings: strict, complete, and refusing to start without their secrets."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "SECRET_KEY": "k" * 20 + "-production-secret-key-for-the-test-only-0123456789",
    "FIELD_ENCRYPTION_KEY": "bG9jYWwtb25seS1maWVsZC1rZXktZG8tbm90LXVzZS0=",
    "BLIND_INDEX_KEY": "blind",
    "AUDIT_CHECKPOINT_KEY": "checkpoint",
    "ALLOWED_HOSTS": "cmer.example.fr",
    "CMER_TESTING": "false",
    "DATABASE_URL": "sqlite:///:memory:",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in PRODUCTION_ENV and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEY", "BLIND_INDEX_KEY", "ALLOWED_HOSTS"]
)
def test_production_refuses_to_start_without_secrets(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert missing in result.stderr
    assert "obligatoire" in result.stderr or "required" in result.stderr


def test_production_cookies_and_hsts():
    code = (
        "import django;django.setup();from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_NAME, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE)"
    )
    base = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, **PRODUCTION_ENV, "DJANGO_SETTINGS_MODULE": "cmer.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    name, secure, csrf_secure, hsts, httponly, samesite = result.stdout.split()
    assert name.startswith("__Host-")
    assert secure == csrf_secure == httponly == "True"
    assert int(hsts) >= 31_536_000
    assert samesite == "Lax"


@pytest.mark.django_db
def test_seed_demo_refused_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DJANGO_DEBUG"):
        call_command("seed_demo")
    from cmer.accounts.models import User

    assert not User.objects.exists()


@pytest.mark.django_db
def test_demo_code_refused_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("demo_code", "agent@tarascon.demo")


@pytest.mark.django_db
def test_seed_demo_creates_one_user_per_role_and_is_idempotent(settings, capsys):
    from cmer.accounts.models import Commune, Role, User

    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_demo")
    assert Commune.objects.count() == 3
    roles = set(User.objects.values_list("memberships__role", flat=True))
    assert roles == {str(r) for r in Role}
    out = capsys.readouterr().out
    assert "agent@tarascon.demo" in out and "TOTP" in out
    call_command("demo_code", "agent@tarascon.demo")
    code = capsys.readouterr().out.strip()
    assert code.isdigit() and len(code) == 6


@pytest.mark.django_db
def test_no_account_exists_after_migrate():
    from cmer.accounts.models import User

    assert not User.objects.exists()
    assert not User.objects.filter(email__regex=r"^(admin|root|test)@").exists()


@pytest.mark.django_db
def test_demo_commune_tarascon_has_a_protocol_in_force(settings):
    from cmer.accounts.models import Commune
    from conventions.gates import protocol_in_force

    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    assert protocol_in_force(Commune.objects.get(reference_prefix="TAR"))
    assert not protocol_in_force(Commune.objects.get(reference_prefix="MIR"))
