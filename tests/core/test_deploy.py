"""The deployment files (issue 13): what the image, compose and the init script promise.

The whole production path runs in CI as processes (deploy/smoke.py); these tests pin the
promises one by one, fast, so that a change breaking one is named.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())


def test_dockerfile_collects_static_files_with_production_settings():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "DJANGO_DEBUG=true" not in dockerfile
    assert "deploy/build-static.sh" in dockerfile
    script = (ROOT / "deploy" / "build-static.sh").read_text()
    assert "CMER_STATIC_BUILD=true DJANGO_DEBUG=false" in script
    assert "staticfiles.json" in script


def test_dockerfile_gunicorn_settings_are_explicit():
    (cmd,) = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if line[:4] == "CMD "]
    args = json.loads(cmd[4:])
    options = dict(zip(args[1::2], args[2::2], strict=False))
    assert args[0] == "gunicorn"
    assert options["--config"] == "deploy/gunicorn.conf.py"
    assert options["--workers"] == "3"
    assert options["--timeout"] == "30"
    assert int(options["--graceful-timeout"]) <= int(options["--timeout"])
    assert "--max-requests" in options


def test_compose_publishes_only_the_proxy_and_web_healthcheck_reaches_gunicorn():
    services = compose()["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}
    assert services["proxy"]["depends_on"]["web"]["condition"] == "service_healthy"
    healthcheck = " ".join(services["web"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/healthz?live" in healthcheck
    assert "CMER_DOMAIN" in healthcheck  # Host header in ALLOWED_HOSTS
    # The proxy gets no application secret.
    assert "env_file" not in services["proxy"]


def test_no_database_password_in_a_committed_file():
    text = (ROOT / "docker-compose.yml").read_text() + (
        ROOT / "deploy" / "postgres" / "init.sql"
    ).read_text()
    assert "change-me" not in text
    # Passwords are set from psql variables only (:'owner_password'), never from a literal.
    assert not re.search(r"PASSWORD\s+'[^']", text, re.IGNORECASE)
    assert "PASSWORD :'owner_password'" in text and "PASSWORD :'app_password'" in text
    for name, service in compose()["services"].items():
        url = service.get("environment", {}).get("DATABASE_URL", "")
        if url:
            # The password is .env's, and compose refuses to start without it.
            assert re.match(r"postgres://\w+:\$\{CMER_(OWNER|APP)_DB_PASSWORD:\?[^}]+\}@", url), (
                name,
                url,
            )


def test_proxy_trusted_by_the_application_in_compose():
    env = compose()["services"]["web"]
    # PROXY_COUNT is in .env (make-env.sh), the settings trust X-Forwarded-Proto only with it.
    assert "env_file" in env
    generated = subprocess.run(
        ["sh", "deploy/make-env.sh", "cmer.example.fr", "acme", "dsi@example.fr"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "\nPROXY_COUNT=1\n" in generated


def env_file_values(text: str) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")
    )


def test_generated_env_has_every_documented_variable_and_passes_the_checks():
    generated = env_file_values(
        subprocess.run(
            ["sh", "deploy/make-env.sh", "cmer.example.fr", "internal"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    readme = (ROOT / "README.md").read_text()
    for name in generated:
        assert f"`{name}`" in readme, f"{name} is not documented in the README"
    for name in ("CMER_OWNER_DB_PASSWORD", "CMER_APP_DB_PASSWORD", "POSTGRES_PASSWORD"):
        assert re.fullmatch(r"[0-9a-f]{48}", generated[name])  # safe inside a URL
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "CMER_", "DATABASE_"))
        and k not in generated
        and k != "REDIS_URL"
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **base,
            **generated,
            "DJANGO_DEBUG": "false",
            "CMER_TESTING": "false",
            "DATABASE_URL": "sqlite:///:memory:",
            # Set by compose's environment (x-app), like DATABASE_URL.
            "CLAMAV_SOCKET": "/run/clamav/clamd.sock",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_make_env_refuses_an_unknown_tls_mode_and_acme_without_email():
    for args in (["cmer.example.fr", "plain"], ["cmer.example.fr", "acme"]):
        result = subprocess.run(
            ["sh", "deploy/make-env.sh", *args], cwd=ROOT, capture_output=True, text=True
        )
        assert result.returncode == 2
        assert result.stdout == ""


@pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy is not installed")
@pytest.mark.parametrize("mode", ["acme", "internal", "files"])
def test_caddyfile_adapts_in_each_tls_mode(mode, tmp_path):
    result = subprocess.run(
        ["caddy", "adapt", "--config", "deploy/caddy/Caddyfile", "--adapter", "caddyfile"],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "CMER_DOMAIN": "cmer.example.fr",
            "CMER_TLS": mode,
            "ACME_EMAIL": "dsi@example.fr",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    (server,) = config["apps"]["http"]["servers"].values()
    assert server["routes"][0]["match"] == [{"host": ["cmer.example.fr"]}]
    text = json.dumps(config)
    assert '"dial": "web:8000"' in text
    assert '"uri": "/healthz?live"' in text
    assert '"Host": ["cmer.example.fr"]' in text


# --- deploy/postgres/init.sql on a real cluster: unique throwaway names, dropped after.


def superuser_url() -> str:
    url = os.environ.get("CMER_PG_SUPERUSER_URL", "")
    if not url or shutil.which("psql") is None:
        pytest.skip("needs PostgreSQL (CMER_PG_SUPERUSER_URL) and psql")
    return url


def run_init(url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-f", "deploy/postgres/init.sql"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def one(url: str, sql: str, *params: str) -> tuple:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        return connection.execute(sql, params).fetchone()


@pytest.mark.postgres_only
def test_init_sql_reads_names_and_passwords_from_the_environment():
    url = superuser_url()
    suffix = secrets.token_hex(4)
    names = {
        "CMER_DB_NAME": f"cmer_initsql_{suffix}",
        "CMER_OWNER_DB_ROLE": f"cmer_initsql_owner_{suffix}",
        "CMER_APP_DB_ROLE": f"cmer_initsql_app_{suffix}",
    }
    try:
        short = run_init(
            url, **names, CMER_OWNER_DB_PASSWORD="short", CMER_APP_DB_PASSWORD="x" * 20
        )
        assert short.returncode != 0
        assert "16 characters or more" in short.stderr
        missing = run_init(url, **names, CMER_OWNER_DB_PASSWORD="x" * 20)
        assert missing.returncode != 0
        assert one(url, "SELECT count(*) FROM pg_roles WHERE rolname LIKE %s", f"%{suffix}") == (0,)

        first = run_init(
            url, **names, CMER_OWNER_DB_PASSWORD="o" * 20, CMER_APP_DB_PASSWORD="a" * 20
        )
        assert first.returncode == 0, first.stderr
        app = names["CMER_APP_DB_ROLE"]
        verifier = one(url, "SELECT rolpassword FROM pg_authid WHERE rolname = %s", app)
        # Run again with a new password: idempotent, and the password follows the environment.
        again = run_init(
            url, **names, CMER_OWNER_DB_PASSWORD="o" * 20, CMER_APP_DB_PASSWORD="b" * 20
        )
        assert again.returncode == 0, again.stderr
        assert verifier != one(url, "SELECT rolpassword FROM pg_authid WHERE rolname = %s", app)
        owner = one(
            url,
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
            names["CMER_DB_NAME"],
        )
        assert owner == (names["CMER_OWNER_DB_ROLE"],)
        flags = one(
            url, "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = %s", app
        )
        assert flags == (False, False, False)
    finally:
        subprocess.run(
            ["psql", "-X", "-q", url, "-c", f'DROP DATABASE IF EXISTS "{names["CMER_DB_NAME"]}"'],
            capture_output=True,
        )
        for role in (names["CMER_APP_DB_ROLE"], names["CMER_OWNER_DB_ROLE"]):
            subprocess.run(
                ["psql", "-X", "-q", url, "-c", f'DROP ROLE IF EXISTS "{role}"'],
                capture_output=True,
            )


def test_static_storage_compresses_brotli_and_gzip_that_decompress_to_the_file(tmp_path):
    import brotli

    from cmer.staticstorage import FasterBrotliCompressor

    source = tmp_path / "dsfr.css"
    source.write_text(".fr-btn { color: #000091; }\n" * 2000)
    written = list(FasterBrotliCompressor(quiet=True).compress(str(source)))
    assert sorted(Path(p).suffix for p in written) == [".br", ".gz"]
    data = source.read_bytes()
    assert brotli.decompress((tmp_path / "dsfr.css.br").read_bytes()) == data
