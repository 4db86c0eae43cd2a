"""Production settings: strict, complete, and refusing to start without their secrets."""

from __future__ import annotations

import io
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parents[2]
# Generated like deploy/make-env.sh does: nothing here is a documented value.
PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "BLIND_INDEX_KEY": secrets.token_urlsafe(32),
    "AUDIT_CHECKPOINT_KEY": secrets.token_urlsafe(32),
    "CLAMAV_SOCKET": "/run/clamav/clamd.sock",
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
    "missing",
    ["SECRET_KEY", "FIELD_ENCRYPTION_KEY", "BLIND_INDEX_KEY", "ALLOWED_HOSTS", "CLAMAV_SOCKET"],
)
def test_production_refuses_to_start_without_secrets(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert missing in result.stderr
    assert "obligatoire" in result.stderr or "required" in result.stderr


def python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, **env, "DJANGO_SETTINGS_MODULE": "cmer.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_cookies_and_hsts():
    code = (
        "import django;django.setup();from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_NAME, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE)"
    )
    result = python(code, PRODUCTION_ENV)
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


# --- Issue 13, secrets: documented local-only values, short keys, malformed Fernet keys.

LOCAL_ONLY = {
    "SECRET_KEY": "insecure-local-only-key-do-not-use-in-production-0123456789abcdef",
    "FIELD_ENCRYPTION_KEY": "bG9jYWwtb25seS1maWVsZC1rZXktZG8tbm90LXVzZS0=",
    "BLIND_INDEX_KEY": "local-only-blind-index-key",
    "AUDIT_CHECKPOINT_KEY": "local-only-audit-checkpoint-key",
}


def refused(env_change: dict[str, str]) -> str:
    result = manage("check", env={**PRODUCTION_ENV, **env_change})
    assert result.returncode != 0, result.stdout
    assert "ImproperlyConfigured" in result.stderr
    return result.stderr


@pytest.mark.parametrize("name", sorted(LOCAL_ONLY))
def test_documented_local_only_value_is_refused_when_passed_explicitly(name):
    error = refused({name: LOCAL_ONLY[name]})
    assert f"{name}:" in error
    assert "local-only" in error


def test_local_only_fernet_key_is_refused_even_behind_a_real_one():
    keys = f"{Fernet.generate_key().decode()},{LOCAL_ONLY['FIELD_ENCRYPTION_KEY']}"
    error = refused({"FIELD_ENCRYPTION_KEY": keys})
    assert "FIELD_ENCRYPTION_KEY: key #2 is the public local-only value" in error


@pytest.mark.parametrize(
    ("name", "minimum"), [("SECRET_KEY", 50), ("BLIND_INDEX_KEY", 32), ("AUDIT_CHECKPOINT_KEY", 32)]
)
def test_key_shorter_than_its_minimum_is_refused(name, minimum):
    error = refused({name: "x" * (minimum - 1)})
    assert f"{name}: too short, at least {minimum} characters" in error
    # One more character is enough.
    assert manage("check", env={**PRODUCTION_ENV, name: "x" * minimum}).returncode == 0


@pytest.mark.parametrize(
    ("value", "position"),
    [
        ("notakey", 1),
        # 32 bytes are needed; this is 16 in valid base64.
        ("MDEyMzQ1Njc4OWFiY2RlZg==", 1),
        (f"{Fernet.generate_key().decode()},notakey", 2),
        (f"{Fernet.generate_key().decode()},", 2),
    ],
)
def test_malformed_fernet_key_is_refused(value, position):
    error = refused({"FIELD_ENCRYPTION_KEY": value})
    assert f"FIELD_ENCRYPTION_KEY: key #{position} is not a Fernet key" in error
    # The message names the variable, never prints the value.
    assert value.split(",")[-1] not in error or value.endswith(",")


def test_rotation_list_of_two_real_keys_starts():
    keys = f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}"
    result = manage("check", env={**PRODUCTION_ENV, "FIELD_ENCRYPTION_KEY": keys})
    assert result.returncode == 0, result.stderr


# --- The image build: collectstatic with production settings and throwaway secrets, nothing else.


STATIC_BUILD_ENV = {"DJANGO_DEBUG": "false", "CMER_STATIC_BUILD": "true", "CMER_TESTING": "false"}


@pytest.mark.parametrize("command", [("check",), ("migrate", "--plan"), ("verify_audit",)])
def test_static_build_flag_allows_only_collectstatic(command):
    result = manage(*command, env=STATIC_BUILD_ENV)
    assert result.returncode != 0
    assert "CMER_STATIC_BUILD only allows `manage.py collectstatic`" in result.stderr


def test_static_build_flag_cannot_serve_the_application():
    # What gunicorn does first: import the WSGI application.
    result = python("import cmer.wsgi", STATIC_BUILD_ENV)
    assert result.returncode != 0
    assert "CMER_STATIC_BUILD only allows" in result.stderr


def test_static_build_flag_refused_with_debug_on():
    env = {"DJANGO_DEBUG": "true", "CMER_STATIC_BUILD": "true", "CMER_TESTING": "false"}
    result = manage("collectstatic", "--help", env=env)
    assert result.returncode != 0
    assert "CMER_STATIC_BUILD" in result.stderr


def test_static_build_uses_manifest_storage_and_throwaway_secrets():
    code = (
        "import sys;sys.argv=['manage.py','collectstatic'];import django;django.setup();"
        "from django.conf import settings as s;"
        "print(s.STORAGES['staticfiles']['BACKEND'], s.DEBUG, len(s.SECRET_KEY) >= 50,"
        f" s.SECRET_KEY != {LOCAL_ONLY['SECRET_KEY']!r})"
    )
    env = {"DJANGO_DEBUG": "false", "CMER_STATIC_BUILD": "true", "CMER_TESTING": "false"}
    first = python(code, env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == [
        "cmer.staticstorage.CompressedManifestStorage",
        "False",
        "True",
        "True",
    ]
    # Each build process draws its own secrets: there is nothing to reuse at runtime.
    secret = (
        "import sys;sys.argv=['manage.py','collectstatic'];from cmer import settings as s;"
        "print(s.SECRET_KEY, s.FIELD_ENCRYPTION_KEY)"
    )
    assert python(secret, env).stdout != python(secret, env).stdout


# --- TLS behind the proxy: the forwarded scheme is trusted only when a proxy is declared, and
# /healthz is reachable in plain http by the container healthcheck.

PROXY_SETTINGS = (
    "import django;django.setup();from django.conf import settings as s;"
    "print(getattr(s, 'SECURE_PROXY_SSL_HEADER', None), s.SECURE_SSL_REDIRECT,"
    " s.SECURE_REDIRECT_EXEMPT, s.AXES_IPWARE_PROXY_COUNT)"
)


def test_forwarded_scheme_trusted_only_with_a_proxy():
    without = python(PROXY_SETTINGS, PRODUCTION_ENV)
    assert without.returncode == 0, without.stderr
    assert without.stdout.split()[0] == "None"
    behind = python(PROXY_SETTINGS, {**PRODUCTION_ENV, "PROXY_COUNT": "1"})
    assert behind.returncode == 0, behind.stderr
    assert behind.stdout.startswith("('HTTP_X_FORWARDED_PROTO', 'https') True ['^healthz$'] 1")


@pytest.mark.django_db
def test_healthz_is_exempt_from_the_ssl_redirect_and_nothing_else(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    settings.REDIS_URL = ""
    assert client.get("/healthz").status_code == 200
    assert client.get("/healthz?live").status_code == 200
    login = client.get("/comptes/connexion/")
    assert login.status_code == 301
    assert login["Location"] == "https://testserver/comptes/connexion/"
    assert client.get("/healthzz").status_code == 301


# --- Logs: one format, UTC with offset, in web (Django), gunicorn and Celery worker/beat.

UTC_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 ")


def test_django_log_lines_are_in_utc_with_offset():
    code = (
        "import django,logging,time;django.setup();from django.conf import settings as s;"
        "assert time.strftime('%Z') in ('CET','CEST'), time.strftime('%Z');"
        "logging.getLogger('cmer.probe').warning('probe')"
    )
    result = python(code, PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert UTC_LINE.match(result.stderr), result.stderr
    assert result.stderr.rstrip().endswith("WARNING cmer.probe probe")


def test_celery_worker_and_beat_log_through_the_same_utc_format():
    # worker and beat both call app.log.setup(); our setup_logging receiver replaces Celery's
    # own (local-time) format with settings.LOGGING.
    code = (
        "import django;django.setup();from cmer.celery import app;import logging;"
        "app.log.setup(loglevel='INFO', redirect_stdouts=False);"
        "logging.getLogger('celery.beat').info('probe')"
    )
    result = python(code, PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert UTC_LINE.match(result.stderr), result.stderr
    assert "INFO celery.beat probe" in result.stderr


def test_gunicorn_logs_in_utc_with_the_same_formatter():
    import logging.config
    import runpy

    conf = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    formatter = conf["logconfig_dict"]["formatters"]["utc"]
    assert formatter["()"] == "cmer.logs.UTCFormatter"
    from cmer.logs import UTCFormatter

    record = logging.LogRecord("gunicorn.access", logging.INFO, "", 0, "GET /", None, None)
    record.created = 1_800_000_000.25
    assert UTCFormatter("%(asctime)s").format(record) == "2027-01-15T08:00:00.250+00:00"
    # The query string (%(q)s, %(r)s) could carry a search term: never logged.
    assert "%(q)s" not in conf["access_log_format"] and "%(r)s" not in conf["access_log_format"]
    logging.config.dictConfig(conf["logconfig_dict"])


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        (None, "{'server_side_binding': True, 'prepare_threshold': 5}"),
        ("true", "{'server_side_binding': True, 'prepare_threshold': 5}"),
        # Behind a transaction-mode pooler: Django's own defaults (client-side binding).
        ("false", "{}"),
    ],
)
def test_postgresql_statements_are_prepared_unless_turned_off(flag, expected):
    env = {**PRODUCTION_ENV, "DATABASE_URL": "postgres://cmer_app@db:5432/cmer"}
    if flag is not None:
        env["DATABASE_PREPARED_STATEMENTS"] = flag
    code = (
        "import django;django.setup();from django.conf import settings as s;"
        "print(s.DATABASES['default'].get('OPTIONS', {}))"
    )
    result = python(code, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_sqlite_gets_no_postgresql_options():
    code = (
        "import django;django.setup();from django.conf import settings as s;"
        "print(s.DATABASES['default'].get('OPTIONS', {}))"
    )
    result = python(code, PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "prepare_threshold" not in result.stdout
