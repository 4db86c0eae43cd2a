"""Load test of the production path (issue 13, Benchmark): gunicorn as the Dockerfile runs it,
DEBUG off, PostgreSQL with the 100k-referral dataset, real login + TOTP, concurrent users.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cmer_bench \\
        .venv/bin/python bench/load_bench.py [--levels 1,10,25,50] [--seconds 30] \\
        [--static-root DIR] [--profile]

Dataset: bench/cases_list_bench.py's generator (100,000 referrals, 2,000 users, 50 communes;
generated once, reused; bench-only keys). The virtual users are the communes' referents (one per
commune, up to 50): each gets a known passphrase and a TOTP device, then logs in through the real
login and second-factor pages. The server is the Dockerfile's CMD (3 sync workers, 30 s timeout)
with DEBUG off, the manifest static storage (``--static-root``: a directory built by
deploy/build-static.sh; built here otherwise), ``PROXY_COUNT=1`` and ``DATABASE_CONN_MAX_AGE=60``
as in deploy/make-env.sh; the client speaks plain http to gunicorn with the headers Caddy would
add (``X-Forwarded-Proto: https``), so the proxy's own cost is not measured.

Each level runs N users for ``--seconds`` in a closed loop, no think time (capacity): the
commune's list, the detail of one of its referrals (an audited read), the home page. Reported:
p50/p95/p99 per page and overall, errors, requests/s, and the CPU seconds used per process during
the level (gunicorn workers, the PostgreSQL backends of this database, this client). Level 1 is
the single-user latency, measured in the same run. ``--profile`` adds a cProfile of the list and
detail views in-process (top functions by own time).
"""

# A bench: it runs our own commands (gunicorn, the static build).
# ruff: noqa: S603, S607
from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import os
import re
import secrets
import statistics
import struct
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSPHRASE = "cmer-bench-load-passphrase-2026"  # noqa: S105 (bench-only accounts)
SERVER_ENV = {
    "DJANGO_DEBUG": "false",
    "CMER_TESTING": "false",
    "ALLOWED_HOSTS": "localhost",
    "SECRET_KEY": "cmer-bench-only-secret-key-" + "0" * 40,
    "PROXY_COUNT": "1",
    "DATABASE_CONN_MAX_AGE": "60",
    "LOG_LEVEL": "WARNING",
    # Required with DEBUG off; this load test uploads no file, so clamd is not contacted.
    "CLAMAV_SOCKET": "/run/clamav/clamd.sock",
    # Setting the bench passphrases tells each person by e-mail: kept in memory.
    "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
}
os.environ.update(SERVER_ENV)
if "--static-root" in sys.argv:
    # Before the dataset module loads the settings: the profile renders pages in this process.
    os.environ["STATIC_ROOT"] = sys.argv[sys.argv.index("--static-root") + 1]
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cmer_bench")

from bench import cases_list_bench as dataset  # noqa: E402 (sets the bench-only keys)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,10,25,50")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--static-root", default="")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--conn-max-age",
        default="60",
        help="DATABASE_CONN_MAX_AGE of the server (0: a connection per request)",
    )
    parser.add_argument("--referrals", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--communes", type=int, default=50)
    return parser.parse_args()


def totp(key: bytes, at: float) -> str:
    digest = hmac.new(key, struct.pack(">Q", int(at) // 30), "sha1").digest()
    offset = digest[-1] & 0x0F
    number = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{number:06d}"


@dataclass
class Persona:
    email: str
    key: bytes
    referral_ids: list[int]
    cookies: dict[str, str] = field(default_factory=dict)


def prepare(args: argparse.Namespace, count: int) -> list[Persona]:
    """Dataset, then ``count`` referents with a passphrase, a TOTP device and their charters."""
    dataset.prepare_database(reset=False)
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from cases.models import Referral
    from cmer.accounts.models import User

    call_command("migrate", verbosity=0)
    dataset.ensure_data(
        argparse.Namespace(
            referrals=args.referrals, users=args.users, communes=args.communes, reset=False
        )
    )
    password = make_password(PASSPHRASE)
    personas = []
    for index in range(count):
        user = User.objects.get(email=dataset.email("referent", 0, index))
        user.password = password
        user.save(update_fields=["password"])
        TOTPDevice.objects.filter(user=user).delete()
        key = secrets.token_bytes(20)
        TOTPDevice.objects.create(user=user, name="bench", key=key.hex(), confirmed=True)
        try:
            from conventions.actions import do_acknowledge_charters
            from conventions.gates import pending_charters_for

            do_acknowledge_charters(user, pending_charters_for(user))
        except ImportError:
            pass
        ids = list(
            Referral.objects.filter(commune__memberships__user=user)
            .exclude(submitted_at=None)
            # An archived referral opens only with a stated reason (a redirect, not a read).
            .exclude(status=Referral.Status.ARCHIVED)
            .order_by("?")
            .values_list("pk", flat=True)[:200]
        )
        personas.append(Persona(user.email, key, ids))
    return personas


# ---------------------------------------------------------------- a minimal http client


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k.lower() == name), "")


async def http(
    port: int, persona: Persona, method: str, path: str, form: dict[str, str] | None = None
) -> Response:
    """One request, as Caddy would forward it (sync workers close every connection)."""
    body = urllib.parse.urlencode(form).encode() if form is not None else b""
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: localhost",
        "X-Forwarded-Proto: https",
        "X-Forwarded-For: 192.0.2.10",
        "Connection: close",
        "Referer: https://localhost/",
    ]
    if persona.cookies:
        lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in persona.cookies.items()))
    if form is not None:
        lines += [
            "Origin: https://localhost",
            "Content-Type: application/x-www-form-urlencoded",
            f"Content-Length: {len(body)}",
        ]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, content = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(h.split(": ", 1)) for h in header_lines if ": " in h]
    for name, value in headers:
        if name.lower() == "set-cookie":
            cookie = value.split(";", 1)[0]
            key, _, val = cookie.partition("=")
            if val:
                persona.cookies[key] = val
            else:
                persona.cookies.pop(key, None)
    return Response(int(status_line.split()[1]), headers, content)


def csrf_of(page: bytes) -> str:
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if not match:
        raise RuntimeError("no CSRF token")
    return match.group(1).decode()


async def login(port: int, persona: Persona) -> None:
    page = await http(port, persona, "GET", "/comptes/connexion/")
    form = {
        "username": persona.email,
        "password": PASSPHRASE,
        "csrfmiddlewaretoken": csrf_of(page.body),
    }
    answer = await http(port, persona, "POST", "/comptes/connexion/", form)
    if answer.status != 302:
        raise RuntimeError(f"{persona.email}: login answered {answer.status}")
    page = await http(port, persona, "GET", "/comptes/verification/")
    code = totp(persona.key, time.time())
    form = {"token": code, "csrfmiddlewaretoken": csrf_of(page.body)}
    answer = await http(port, persona, "POST", "/comptes/verification/", form)
    if answer.status != 302:
        raise RuntimeError(f"{persona.email}: second factor answered {answer.status}")
    home = await http(port, persona, "GET", "/")
    if home.status != 200:
        raise RuntimeError(f"{persona.email}: home after 2FA answered {home.status}")


# ---------------------------------------------------------------- load and CPU


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gunicorn_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *map(int, children)]


def backend_pids(db_name: str) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [db_name],
        )
        return [row[0] for row in cursor.fetchall()]


async def user_loop(port: int, persona: Persona, until: float, samples: list) -> None:
    turn = 0
    while time.monotonic() < until:
        referral = persona.referral_ids[turn % len(persona.referral_ids)]
        for kind, path in (
            ("list", "/signalements/"),
            ("detail", f"/signalements/{referral}/"),
            ("home", "/"),
        ):
            started = time.perf_counter()
            try:
                status = (await http(port, persona, "GET", path)).status
            except OSError:
                status = 0
            samples.append((kind, time.perf_counter() - started, status))
        turn += 1


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def run_level(port: int, personas: list[Persona], seconds: float) -> list:
    samples: list = []
    until = time.monotonic() + seconds
    await asyncio.gather(*(user_loop(port, p, until, samples) for p in personas))
    return samples


def report(level: int, samples: list, elapsed: float, cpu: dict[str, float]) -> str:
    ok = [s for s in samples if s[2] == 200]
    errors = len(samples) - len(ok)
    rows = []
    for kind in ("list", "detail", "home", "all"):
        times = [s[1] * 1000 for s in ok if kind in {"all", s[0]}]
        if times:
            rows.append(
                f"| {level} | {kind} | {len(times)} | {statistics.median(times):.0f} | "
                f"{percentile(times, 95):.0f} | {percentile(times, 99):.0f} | "
                + (f"{errors} | {len(samples) / elapsed:.1f} | " if kind == "all" else "| | ")
                + (
                    f"{cpu['gunicorn']:.1f} s / {cpu['postgres']:.1f} s / {cpu['client']:.1f} s |"
                    if kind == "all"
                    else "|"
                )
            )
    failed = Counter((kind, status) for kind, _t, status in samples if status != 200)
    if failed:
        rows.append(f"<!-- errors at {level} users: {dict(failed)} -->")
    return "\n".join(rows)


def profile_views(personas: list[Persona]) -> None:
    """cProfile of the list and detail views in this process (same settings as the server)."""
    import cProfile
    import pstats

    from bench.common import signed_in_client
    from cmer.accounts.models import User

    persona = personas[0]
    client = signed_in_client(User.objects.get(email=persona.email))
    for label, path in (
        ("list", "/signalements/"),
        ("detail", f"/signalements/{persona.referral_ids[0]}/"),
    ):
        for _ in range(3):
            client.get(path, secure=True)  # warm caches
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(20):
            if client.get(path, secure=True).status_code != 200:
                raise RuntimeError(f"{path} did not answer 200 in-process")
        profiler.disable()
        print(f"\n### profile: {label} view, 20 requests, top 25 by own time")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        print(f"### profile: {label} view, our own code by cumulative time")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(
            r"/(cases|cmer|conventions|meetings|training)/", 15
        )


def main() -> None:
    args = parse_args()
    levels = [int(n) for n in args.levels.split(",")]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the start")
    static_root = args.static_root
    if not static_root:
        static_root = str(ROOT / "var" / "bench-static")
        subprocess.run(
            ["sh", "deploy/build-static.sh"],
            cwd=ROOT,
            env={**os.environ, "STATIC_ROOT": static_root, "PYTHON": sys.executable},
            check=True,
        )
    # The same manifest for this process (the profile renders pages too).
    os.environ["STATIC_ROOT"] = static_root
    personas = prepare(args, max(levels))
    from django.conf import settings

    db_name = settings.DATABASES["default"]["NAME"]
    cmd = json.loads(
        next(
            line[4:]
            for line in (ROOT / "Dockerfile").read_text().splitlines()
            if line.startswith("CMD ")
        )
    )
    port = 18000 + os.getpid() % 1000
    server_env = {
        **os.environ,
        "STATIC_ROOT": static_root,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "DATABASE_CONN_MAX_AGE": args.conn_max_age,
    }
    server_env.pop("DJANGO_SETTINGS_MODULE", None)
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), *cmd[1:]],
        cwd=ROOT,
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(3)
        for _ in range(60):
            try:
                asyncio.run(http(port, Persona("", b"", []), "GET", "/healthz?live"))
                break
            except OSError:
                time.sleep(0.5)

        async def log_everyone_in() -> None:
            await asyncio.wait_for(asyncio.gather(*(login(port, p) for p in personas)), 300)

        asyncio.run(log_everyone_in())
        print(
            f"{len(personas)} users logged in (password + TOTP); "
            f"DATABASE_CONN_MAX_AGE={args.conn_max_age}\n"
        )
        print(
            "| users | page | requests | p50 ms | p95 ms | p99 ms | errors | req/s | "
            "CPU s gunicorn / postgres / client |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for level in levels:
            # Per process: a worker recycled or a backend closed during the level loses its
            # share (an undercount), never a negative figure.
            before = {
                pid: cpu_seconds(pid) for pid in gunicorn_pids(server.pid) + backend_pids(db_name)
            }
            client_before = time.process_time()
            started = time.monotonic()
            samples = asyncio.run(run_level(port, personas[:level], args.seconds))
            elapsed = time.monotonic() - started

            def used(pids: list[int], before: dict[int, float] = before) -> float:
                return sum(max(0.0, cpu_seconds(pid) - before.get(pid, 0.0)) for pid in pids)

            cpu = {
                "gunicorn": used(gunicorn_pids(server.pid)),
                "postgres": used(backend_pids(db_name)),
                "client": time.process_time() - client_before,
            }
            print(report(level, samples, elapsed, cpu), flush=True)
            served = max(1, sum(1 for s in samples if s[2] == 200))
            print(
                f"<!-- CPU per request at {level} users: gunicorn "
                f"{cpu['gunicorn'] / served * 1000:.1f} ms, PostgreSQL backends "
                f"{cpu['postgres'] / served * 1000:.1f} ms -->",
                flush=True,
            )
        print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    finally:
        server.terminate()
        server.wait(timeout=30)
    if args.profile:
        profile_views(personas)


if __name__ == "__main__":
    main()
