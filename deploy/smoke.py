"""Production smoke test without Docker: the image's build steps and services, as processes.

    .venv/bin/python deploy/smoke.py            (CI: .ci/run, after the PostgreSQL tests)

From the checkout it reproduces what the Dockerfile and docker-compose.yml do:

1. the Dockerfile's static build (deploy/build-static.sh: DEBUG off, manifest) into a temp dir;
2. secrets from deploy/make-env.sh (as an operator would), the database and its two roles from
   deploy/postgres/init.sql under unique throwaway names, migrations as the owner role;
3. gunicorn with the Dockerfile's own CMD as the app role, DEBUG off, behind Caddy with
   deploy/caddy/Caddyfile (internal CA for localhost, as CMER_TLS=internal); with REDIS_URL set,
   the compose worker and beat commands too;
4. through https: the login page, a static file named by the manifest, /healthz (200 each);
   the plain-http healthcheck path on gunicorn; the https redirects of Caddy and Django;
5. the README's first-account procedure: createsuperuser, first login, the enrolment link asked
   for and read from the mailbox (file e-mail backend), the passphrase confirmed, a TOTP code
   computed from the secret shown on the page, then pages of a verified session; every
   timestamped log line of web, worker, beat and Caddy in UTC with offset;
6. the backup drill: a referral with an attachment (the test suite's helpers, as the app role),
   services stopped, deploy/backup.sh, deploy/restore.sh into a new database and a new files
   directory (it verifies the chain and decrypts), the same audit head before and after, and the
   referent reads the referral and downloads the attachment from the restored copy;
7. drops the databases and roles, stops every process it started.

Exit status 0 when everything held; otherwise the failing step and the process logs.
"""

# An operator script: it runs our own commands against our own local services.
# ruff: noqa: S108, S310, S603, S607
from __future__ import annotations

import base64
import hmac
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SUPERUSER_URL = os.environ.get(
    "CMER_PG_SUPERUSER_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)
# Variables of the caller that must not leak into the production processes.
SCRUBBED = {
    "DATABASE_URL",
    "REDIS_URL",
    "CMER_TESTING",
    "CMER_STATIC_BUILD",
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "DJANGO_DEBUG",
    "PYTEST_ADDOPTS",
}


# The drill's data: the test suite's own helpers, so that they follow the models.
FILL = """
import json, django
django.setup()
from cmer.accounts.models import Role
from conventions.actions import do_acknowledge_charters
from conventions.gates import pending_charters_for
from tests.cases.helpers import PDF_BYTES, file_referral
from tests.conftest import make_user
from tests.factories import CommuneFactory, DepartmentFactory
department = DepartmentFactory(code="13", name="Bouches-du-Rhône")
commune = CommuneFactory(
    insee_code="13108", name="Tarascon", department=department, reference_prefix="TAR"
)
agent = make_user("agent@drill.test", Role.REPORTING_AGENT, commune=commune)
referent = make_user("referent@drill.test", Role.REFERENT, commune=commune)
do_acknowledge_charters(referent, pending_charters_for(referent))
referral = file_referral(agent, commune, attachments=[("piece.pdf", "application/pdf", PDF_BYTES)])
print(json.dumps({"referral": referral.pk, "attachment": referral.attachments.get().pk,
                  "referent": referent.pk}))
"""

# After the restore: the referent reads the referral and downloads the attachment through the
# application's own views (test client, https, a verified second factor as after a TOTP step,
# and a fresh step-up code: a download is an export).
READ = """
import json, sys, django
django.setup()
from django.test import Client
from cmer.accounts.models import User
from tests.cases.helpers import PDF_BYTES
from tests.conftest import login, step_up
ids = json.loads(sys.argv[1])
client = step_up(login(Client(HTTP_HOST="localhost"), User.objects.get(pk=ids["referent"])))
base = f"/signalements/{ids['referral']}/"
detail = client.get(base, secure=True)
download = client.get(f"{base}pieces/{ids['attachment']}/", secure=True)
body = b"".join(download.streaming_content) if download.streaming else download.content
print(json.dumps({"detail": detail.status_code, "download": download.status_code,
                  "same_bytes": body == PDF_BYTES}))
"""


class SmokeFailure(Exception):
    pass


def step(message: str) -> None:
    print(f"[smoke {time.strftime('%H:%M:%S', time.gmtime())}Z] {message}", flush=True)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def totp(secret_b32: str, at: float | None = None) -> str:
    """RFC 6238 as django-otp's TOTPDevice defaults: SHA-1, 30 s steps, 6 digits."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int(at if at is not None else time.time()) // 30
    digest = hmac.new(key, struct.pack(">Q", counter), "sha1").digest()
    offset = digest[-1] & 0x0F
    number = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{number:06d}"


def parse_env_file(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            values[name] = value
    return values


def dockerfile_cmd() -> list[str]:
    """The image's CMD, as written in the Dockerfile (exec form)."""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("CMD "):
            return json.loads(line[4:])
    raise SmokeFailure("no CMD in the Dockerfile")


def compose_command(service: str) -> list[str]:
    from ruamel.yaml import YAML

    compose = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())
    command = compose["services"][service]["command"]
    return command if isinstance(command, list) else command.split()


class Client:
    """A browser-like https client: cookie jar (Secure cookies), Referer/Origin for CSRF."""

    def __init__(self, origin: str, cafile: Path) -> None:
        self.origin = origin
        self.jar = http.cookiejar.CookieJar()
        context = ssl.create_default_context(cafile=str(cafile))
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context),
            urllib.request.HTTPCookieProcessor(self.jar),
        )
        self.last_url = origin + "/"

    def request(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str, str]:
        url = path if path.startswith("http") else self.origin + path
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(url, data=body)
        request.add_header("Referer", self.last_url)
        if body is not None:
            request.add_header("Origin", self.origin)
        try:
            with self.opener.open(request, timeout=30) as response:
                self.last_url = response.geturl()
                return response.status, response.geturl(), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, url, error.read().decode(errors="replace")

    def csrf(self, html: str) -> str:
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        check(match is not None, "no CSRF token in the page")
        return match.group(1)


def no_redirect(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """One plain-http request, redirects not followed: (status, Location)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            return r.status, r.headers.get("Location", "")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location", "")


class Smoke:
    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="cmer-smoke-"))
        suffix = f"{os.getpid()}_{secrets.token_hex(3)}"
        self.db_name = f"cmer_smoke_{suffix}"
        self.owner_role = f"cmer_smoke_owner_{suffix}"
        self.app_role = f"cmer_smoke_app_{suffix}"
        self.processes: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        self.created_database = False
        self.restored_db_name = f"{self.db_name}_restored"
        self.redis_url = os.environ.get("REDIS_URL", "")
        self.pg = urllib.parse.urlsplit(SUPERUSER_URL)

    # ------------------------------------------------------------------ helpers

    def database_url(self, role: str, password: str, db_name: str | None = None) -> str:
        host = self.pg.hostname or "127.0.0.1"
        return (
            f"postgres://{role}:{password}@{host}:{self.pg.port or 5432}/{db_name or self.db_name}"
        )

    def run(self, args: list[str], env: dict[str, str], what: str) -> str:
        result = subprocess.run(
            args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        if result.returncode != 0:
            raise SmokeFailure(
                f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )
        return result.stdout

    def psql(self, env: dict[str, str], *args: str, database: str = "") -> str:
        """psql as the superuser, on its database or on ``database``."""
        url = self.pg._replace(path=f"/{database}").geturl() if database else SUPERUSER_URL
        return self.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, *args], env, "psql")

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = self.tmp / f"{name}.log"
        handle = log.open("wb")
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append((name, process, log))

    def wait_for(self, what: str, probe: Callable[[], bool], seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for name, process, _log in self.processes:
                if process.poll() is not None:
                    raise SmokeFailure(
                        f"{name} exited with {process.returncode} while waiting for {what}"
                    )
            try:
                if probe():
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise SmokeFailure(f"timed out waiting for {what}")

    # ------------------------------------------------------------------ steps

    def environment(self) -> dict[str, str]:
        step("secrets from deploy/make-env.sh")
        generated = parse_env_file(
            self.run(
                ["sh", "deploy/make-env.sh", "localhost", "internal"], dict(os.environ), "make-env"
            )
        )
        base = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
        env = {
            **base,
            **generated,
            "DJANGO_DEBUG": "false",
            "CMER_TESTING": "false",
            "DJANGO_SETTINGS_MODULE": "cmer.settings",
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "CMER_DB_NAME": self.db_name,
            "CMER_OWNER_DB_ROLE": self.owner_role,
            "CMER_APP_DB_ROLE": self.app_role,
            "AUDIT_APP_DB_ROLE": self.app_role,
            "STATIC_ROOT": str(self.tmp / "static"),
            "PRIVATE_STORAGE_ROOT": str(self.tmp / "private"),
            # The mailbox: the enrolment link of the first account is read from here.
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(self.tmp / "mail"),
            # compose's clamav service: started by services() (the drill's attachment is scanned).
            "CLAMAV_SOCKET": str(self.tmp / "clamd" / "clamd.sock"),
            "XDG_DATA_HOME": str(self.tmp / "caddy-data"),
            "XDG_CONFIG_HOME": str(self.tmp / "caddy-config"),
        }
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        (self.tmp / "private").mkdir()
        return env

    def build_static(self, env: dict[str, str]) -> None:
        if "--reuse-static" in sys.argv:
            # Development only: a directory built by an earlier run of deploy/build-static.sh.
            env["STATIC_ROOT"] = sys.argv[sys.argv.index("--reuse-static") + 1]
            step(f"static files reused from {env['STATIC_ROOT']} (--reuse-static)")
            return
        step("static files as the Dockerfile builds them (deploy/build-static.sh, DEBUG off)")
        build_env = {
            k: v for k, v in env.items() if k not in {"SECRET_KEY", "FIELD_ENCRYPTION_KEY"}
        }
        self.run(
            ["sh", "deploy/build-static.sh"],
            {**build_env, "PYTHON": sys.executable},
            "collectstatic",
        )
        manifest = json.loads((Path(env["STATIC_ROOT"]) / "staticfiles.json").read_text())
        check(
            "dsfr/dist/dsfr/dsfr.min.css" in manifest["paths"],
            "DSFR stylesheet not in the manifest",
        )

    def database(self, env: dict[str, str]) -> None:
        step(f"database {self.db_name} and roles from deploy/postgres/init.sql")
        self.created_database = True
        self.psql(env, "-f", "deploy/postgres/init.sql")
        owner = self.database_url(self.owner_role, env["CMER_OWNER_DB_PASSWORD"])
        step("migrate as the owner role")
        self.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
            {**env, "DATABASE_URL": owner},
            "migrate",
        )
        env["DATABASE_URL"] = self.database_url(self.app_role, env["CMER_APP_DB_PASSWORD"])
        # The app role may only add pending audit entries (the audit migrations); the chain is
        # written by the owner's SECURITY DEFINER functions, which it may execute.
        rights = self.psql(
            env,
            "-tAc",
            f"SELECT has_table_privilege('{self.app_role}', 'audit_auditentry', 'UPDATE'),"
            f" has_table_privilege('{self.app_role}', 'audit_auditentry', 'INSERT'),"
            # INSERT on the pending table's columns but its id and time (the database's).
            f" has_any_column_privilege('{self.app_role}', 'audit_pending', 'INSERT'),"
            f" has_column_privilege('{self.app_role}', 'audit_pending', 'timestamp', 'INSERT'),"
            f" has_function_privilege('{self.app_role}', 'cmer_audit_seal(integer, boolean)',"
            " 'EXECUTE')",
            database=self.db_name,
        )
        check(rights.strip() == "f|f|t|f|t", f"app role rights on the audit trail: {rights!r}")

    def services(self, env: dict[str, str]) -> None:
        step("clamd as compose's clamav service (own config, the test signature only)")
        sys.path.insert(0, str(ROOT))
        from tests.clamd import answers, clamd_binary, clamd_command

        binary = clamd_binary()
        check(binary is not None, "clamd is not installed (apt-get install clamav-daemon)")
        command, socket_path = clamd_command(str(binary), self.tmp / "clamd")
        check(socket_path == env["CLAMAV_SOCKET"], f"clamd socket {socket_path}")
        self.start("clamav", command, env)
        self.wait_for("clamd", lambda: answers(socket_path))

        self.gunicorn_port = free_port()
        step(f"gunicorn with the Dockerfile's CMD on 127.0.0.1:{self.gunicorn_port}, app role")
        command = dockerfile_cmd()
        check(command[0] == "gunicorn" and "--timeout" in command, f"unexpected CMD {command}")
        self.start(
            "web",
            [str(VENV_BIN / "gunicorn"), *command[1:]],
            {**env, "GUNICORN_BIND": f"127.0.0.1:{self.gunicorn_port}"},
        )
        if self.redis_url:
            step("Celery worker and beat with the compose commands, app role")
            for service in ("worker", "beat"):
                args = [a.replace("/tmp/", f"{self.tmp}/") for a in compose_command(service)]
                self.start(service, [str(VENV_BIN / args[0]), *args[1:]], env)
        self.wait_for(
            "gunicorn",
            lambda: (
                no_redirect(
                    f"http://127.0.0.1:{self.gunicorn_port}/healthz?live", {"Host": "localhost"}
                )[0]
                == 200
            ),
        )

        self.https_port, self.http_port = free_port(), free_port()
        step(f"Caddy (deploy/caddy/Caddyfile, internal CA) on https://localhost:{self.https_port}")
        check(shutil.which("caddy") is not None, "caddy is not installed (apt-get install caddy)")
        caddy_env = {
            **env,
            "CMER_DOMAIN": "localhost",
            "CMER_TLS": "internal",
            "CMER_UPSTREAM": f"127.0.0.1:{self.gunicorn_port}",
            "CADDY_HTTPS_PORT": str(self.https_port),
            "CADDY_HTTP_PORT": str(self.http_port),
            "CADDY_ADMIN": "off",
        }
        self.start(
            "proxy",
            ["caddy", "run", "--config", "deploy/caddy/Caddyfile", "--adapter", "caddyfile"],
            caddy_env,
        )
        self.cafile = (
            self.tmp / "caddy-data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        )
        self.wait_for("Caddy's internal CA", self.cafile.exists)
        self.origin = f"https://localhost:{self.https_port}"
        client = Client(self.origin, self.cafile)
        self.wait_for("https through Caddy", lambda: client.request("/healthz?live")[0] == 200)

    def pages(self) -> None:
        client = Client(self.origin, self.cafile)
        step("through https: login page, a static file from the manifest, /healthz")
        status, _url, login = client.request("/comptes/connexion/")
        check(status == 200, f"login page answered {status}:\n{login[:2000]}")
        stylesheet = re.search(r'href="(/static/[^"]*dsfr\.min\.[0-9a-f]{12}\.css)"', login)
        check(stylesheet is not None, "the login page does not link the hashed DSFR stylesheet")
        status, _url, css = client.request(stylesheet.group(1))
        check(status == 200 and len(css) > 10_000, f"static file answered {status}")
        deadline = time.monotonic() + 90
        while True:
            status, _url, health = client.request("/healthz")
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(2)
        check(status == 200, f"/healthz answered {status}: {health}")

        step("redirects: Caddy http → https; gunicorn direct → https except /healthz")
        status, location = no_redirect(f"http://localhost:{self.http_port}/comptes/connexion/")
        check(
            status in {301, 308} and location.startswith("https://"),
            f"Caddy http: {status} {location}",
        )
        direct = f"http://127.0.0.1:{self.gunicorn_port}"
        status, location = no_redirect(f"{direct}/comptes/connexion/", {"Host": "localhost"})
        check(
            status == 301 and location.startswith("https://"),
            f"gunicorn direct: {status} {location}",
        )
        # A client cannot claim https to gunicorn: only Caddy's header is trusted, and Caddy
        # overwrites a client's own X-Forwarded-Proto.
        status, _loc = no_redirect(f"{direct}/healthz?live", {"Host": "localhost"})
        check(status == 200, f"healthcheck path in plain http: {status}")

    def mailed_link(self, path_prefix: str, seconds: float = 60) -> str:
        """The path of the newest link starting with ``path_prefix`` in the mailbox."""
        deadline = time.monotonic() + seconds
        pattern = re.compile(r"https?://[^/\s]+(" + re.escape(path_prefix) + r"[^\s]+)")
        while time.monotonic() < deadline:
            mails = sorted((self.tmp / "mail").glob("*"), key=lambda f: f.stat().st_mtime)
            for mail in reversed(mails):
                found = pattern.search(mail.read_text(errors="replace").replace("=\n", ""))
                if found:
                    return found.group(1)
            time.sleep(1)
        raise SmokeFailure(f"no e-mail with a {path_prefix} link within {seconds:.0f} s")

    def logs_in_utc(self) -> None:
        """Every timestamped line of web, worker and beat is ISO 8601 UTC with its offset, and so
        is Caddy's "ts" once its configuration is loaded (issue 13, point 8)."""
        step("logs: web, worker, beat and proxy in UTC with offset")
        stamped = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d")
        utc = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 ")
        for name, _process, log in self.processes:
            lines = log.read_text(errors="replace").splitlines()
            if name == "proxy":
                stamps = [json.loads(line).get("ts") for line in lines if line.startswith("{")]
                text = [ts for ts in stamps if isinstance(ts, str)]
                check(
                    text and all(ts.endswith("+00:00") for ts in text), f"Caddy times: {text[:3]}"
                )
                continue
            if name not in {"web", "worker", "beat"}:
                continue
            timed = [line for line in lines if stamped.match(line)]
            check(bool(timed), f"{name}: no timestamped log line")
            wrong = [line for line in timed if not utc.match(line)]
            check(not wrong, f"{name}: log lines not in UTC with offset: {wrong[:3]}")

    def first_account(self, env: dict[str, str]) -> Client:
        step("first account as the README says: createsuperuser, login, link by e-mail, TOTP")
        email, password = "dsi-smoke@mairie.example", secrets.token_urlsafe(18)
        self.run(
            [sys.executable, "manage.py", "createsuperuser", "--no-input", "--email", email],
            {**env, "DJANGO_SUPERUSER_PASSWORD": password},
            "createsuperuser",
        )
        client = Client(self.origin, self.cafile)
        _status, _url, login = client.request("/comptes/connexion/")
        status, url, page = client.request(
            "/comptes/connexion/",
            {
                "username": email,
                "password": password,
                "csrfmiddlewaretoken": client.csrf(login),
                "next": "",
            },
        )
        check(
            status == 200 and url.endswith("/comptes/enrolement/"), f"after login: {status} {url}"
        )
        cookies = {cookie.name: cookie for cookie in client.jar}
        session = cookies.get("__Host-cmer_session")
        check(session is not None and session.secure, f"session cookie: {sorted(cookies)}")
        # No QR code past the password alone: the person asks for a link to their own address.
        check("totp-secret" not in page, "a TOTP secret shown after the password alone")
        status, url, page = client.request(
            "/comptes/enrolement/", {"csrfmiddlewaretoken": client.csrf(page)}
        )
        check(status == 200, f"asking for the enrolment link: {status} {url}")
        link = self.mailed_link("/comptes/activation/")
        status, url, page = client.request(link)
        if "totp-secret" not in page:
            # The account has a password: the link asks for it before the QR code.
            check(status == 200 and "password" in page, f"enrolment link: {status} {url}")
            status, url, page = client.request(
                url, {"password": password, "csrfmiddlewaretoken": client.csrf(page)}
            )
        secret = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', page)
        check(secret is not None, f"no TOTP secret on the enrolment page ({status} {url})")
        code = totp(secret.group(1).replace(" ", ""))
        status, url, page = client.request(
            url, {"token": code, "csrfmiddlewaretoken": client.csrf(page)}
        )
        check(status == 200 and "/comptes/activation/" in url, f"enrolment: {status} {url}")
        for path in ("/", "/admin/", "/comptes/compte/"):
            status, url, _page = client.request(path)
            check(status == 200 and url == self.origin + path, f"{path} after 2FA: {status} {url}")
        return client

    def backup_drill(self, env: dict[str, str]) -> None:
        step("drill: a referral with an attachment, as the app role")
        ids = json.loads(
            self.run([sys.executable, "-c", FILL], env, "fill").strip().splitlines()[-1]
        )
        step("drill: services stopped (maintenance window), deploy/backup.sh")
        self.stop_processes()
        pg_env = {
            **env,
            "PGHOST": self.pg.hostname or "127.0.0.1",
            "PGPORT": str(self.pg.port or 5432),
            "PGUSER": self.pg.username or "postgres",
            "PYTHON": sys.executable,
        }
        if self.pg.password:
            pg_env["PGPASSWORD"] = self.pg.password
        output = self.run(["sh", "deploy/backup.sh", str(self.tmp / "backups")], pg_env, "backup")
        check("FIELD_ENCRYPTION_KEY" in output, "backup.sh does not remind the keys")
        (backup,) = (self.tmp / "backups").iterdir()
        head_before = re.search(
            r"head (\d+) ([0-9a-f]{64})", (backup / "audit-head.txt").read_text()
        )
        check(head_before is not None, "no audit head recorded by the backup")

        step(f"drill: deploy/restore.sh into {self.restored_db_name} and an empty files directory")
        restored_env = {
            **pg_env,
            "CMER_DB_NAME": self.restored_db_name,
            "PRIVATE_STORAGE_ROOT": str(self.tmp / "private-restored"),
            "DATABASE_URL": self.database_url(
                self.app_role, env["CMER_APP_DB_PASSWORD"], self.restored_db_name
            ),
        }
        output = self.run(["sh", "deploy/restore.sh", str(backup)], restored_env, "restore")
        head_after = re.search(r"head (\d+) ([0-9a-f]{64})", output)
        check(
            head_after is not None and head_after.groups() == head_before.groups(),
            f"audit head before {head_before.groups()}, after restore:\n{output}",
        )
        check("attachment" in output and "fields decrypted" in output, f"restore check:\n{output}")
        for line in output.splitlines():
            if line.startswith(("OK:", "audit head", "referral", "attachment")):
                step(f"  restore: {line}")

        step("drill: the referent reads the referral and downloads the attachment (restored)")
        result = json.loads(
            self.run([sys.executable, "-c", READ, json.dumps(ids)], restored_env, "read")
            .strip()
            .splitlines()[-1]
        )
        check(
            result == {"detail": 200, "download": 200, "same_bytes": True},
            f"restored copy: {result}",
        )
        # The restore refuses to overwrite: a second run stops before touching anything.
        again = subprocess.run(
            ["sh", "deploy/restore.sh", str(backup)],
            cwd=ROOT,
            env=restored_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        check(again.returncode != 0 and "not empty" in again.stderr, "restore over data accepted")

    def stop_processes(self) -> None:
        for _name, process, _log in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for name, process, _log in reversed(self.processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                print(f"[smoke] {name} killed after 15 s", flush=True)

    def cleanup(self) -> None:
        self.stop_processes()
        if self.created_database:
            env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
            for statement in (
                f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)',
                f'DROP DATABASE IF EXISTS "{self.restored_db_name}" WITH (FORCE)',
                f'DROP ROLE IF EXISTS "{self.app_role}"',
                f'DROP ROLE IF EXISTS "{self.owner_role}"',
            ):
                subprocess.run(
                    ["psql", "-X", "-q", SUPERUSER_URL, "-c", statement], env=env, check=False
                )
        if self.redis_url:
            import redis

            redis.Redis.from_url(self.redis_url).flushdb()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def show_logs(self) -> None:
        for name, _process, log in self.processes:
            if log.exists():
                print(
                    f"----- {name} (last lines)\n"
                    + "\n".join(log.read_text(errors="replace").splitlines()[-40:])
                )

    def main(self) -> int:
        started = time.monotonic()
        try:
            env = self.environment()
            self.build_static(env)
            self.database(env)
            self.services(env)
            self.pages()
            self.first_account(env)
            self.logs_in_utc()
            self.backup_drill(env)
        except SmokeFailure as failure:
            self.show_logs()
            print(f"[smoke] FAILED: {failure}", flush=True)
            return 1
        finally:
            self.cleanup()
        step(f"OK in {time.monotonic() - started:.0f} s")
        return 0


if __name__ == "__main__":
    sys.exit(Smoke().main())
