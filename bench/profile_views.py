"""Where the list and detail views spend their CPU (issue 13's leftover, issue 18): pyinstrument
over many requests in this process, on cases_list_bench.py's dataset, DEBUG off.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cmer_bench \\
        .venv/bin/python bench/profile_views.py [--requests 200] [--html DIR] [--cpu] [--sql]
        [--pages account,home,list,detail]

Profiles the Commune 00 referent's list page and the detail page of one of its referrals
(an audited read), back-to-back, after a warm-up. Prints pyinstrument's call tree (frames of
at least 2 % of the time) and the time per request; ``--html`` also writes the HTML reports.

``--cpu`` profiles nothing: it prints the CPU time of this process per request
(``time.process_time``, the Python side only, PostgreSQL apart) and the statements per
request, for each page. On a loaded machine compare two checkouts by running this mode from
each in turn, interleaved, on the same database: CPU time moves far less with the load than
wall time does.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.argv.append("--debug-off")  # production settings: set before the dataset module loads
from cases_list_bench import REFERENT_EMAIL, ensure_data, parse_args  # noqa: E402

sys.argv.remove("--debug-off")

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from pyinstrument import Profiler  # noqa: E402

from bench.common import signed_in_client  # noqa: E402
from cases.models import Referral  # noqa: E402
from cmer.accounts.models import User  # noqa: E402
from conventions.actions import do_acknowledge_charters  # noqa: E402
from conventions.gates import pending_charters_for  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--html", type=Path, default=None)
    parser.add_argument("--cpu", action="store_true", help="CPU per request, no profiler")
    parser.add_argument(
        "--pages", default="list,detail", help="among account, home, list, detail (comma-separated)"
    )
    parser.add_argument("--sql", action="store_true", help="print each page's statements")
    args, _rest = parser.parse_known_args()
    call_command("migrate", verbosity=0)
    ensure_data(_defaults())
    referent = User.objects.get(email=REFERENT_EMAIL)
    # The charter gate would answer every page with a redirect (as bench/load_bench.py does).
    do_acknowledge_charters(referent, pending_charters_for(referent))
    referral = (
        Referral.objects.filter(commune__insee_code="99000", status="in_assessment")
        .order_by("pk")
        .first()
    )
    client = signed_in_client(referent)
    paths = {
        "account": "/comptes/compte/",
        "home": "/",
        "list": "/signalements/",
        "detail": f"/signalements/{referral.pk}/",
    }
    for label in args.pages.split(","):
        path = paths[label]
        for _ in range(10):
            if client.get(path).status_code != 200:
                sys.exit(f"GET {path} did not answer 200")
        if args.sql:
            _sql(client, label, path)
            continue
        if args.cpu:
            _cpu(client, label, path, args.requests)
            continue
        profiler = Profiler(interval=0.0005)
        start = time.perf_counter()
        profiler.start()
        for _ in range(args.requests):
            client.get(path)
        profiler.stop()
        per_request = (time.perf_counter() - start) / args.requests * 1000
        print(f"\n=== {label} ({path}): {per_request:.2f} ms per request (profiled) ===")
        print(
            profiler.output_text(unicode=True, color=False, show_all=False, time="percent_of_total")
        )
        if args.html:
            args.html.mkdir(parents=True, exist_ok=True)
            (args.html / f"{label}.html").write_text(profiler.output_html())


def _cpu(client: Client, label: str, path: str, requests: int) -> None:
    with CaptureQueriesContext(connection) as queries:
        client.get(path)
    statements = len(queries.captured_queries)  # before the next request resets the log
    backend = _backend_pid()
    wall = time.perf_counter()
    cpu = time.process_time()
    database = _backend_cpu(backend)
    for _ in range(requests):
        client.get(path)
    cpu = (time.process_time() - cpu) / requests * 1000
    wall = (time.perf_counter() - wall) / requests * 1000
    database = (_backend_cpu(backend) - database) / requests * 1000
    print(
        f"{label}: {cpu:.1f} ms CPU per request, {wall:.1f} ms wall, "
        f"{statements} statements, PostgreSQL backend {database:.2f} ms CPU per request "
        f"({requests} requests, load {os.getloadavg()[0]:.1f})"
    )


def _backend_pid() -> int | None:
    """The PostgreSQL backend serving this process (the test client keeps one connection)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def _backend_cpu(pid: int | None) -> float:
    """User + system CPU seconds of that backend (/proc: the server runs on this machine)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sql(client: Client, label: str, path: str) -> None:
    with CaptureQueriesContext(connection) as queries:
        client.get(path)
    print(f"\n=== {label} ({path}): {len(queries.captured_queries)} statements ===")
    for number, query in enumerate(queries.captured_queries, 1):
        print(f"{number:2}. [{query['time']} s] {query['sql'][:400]}")


def _defaults() -> argparse.Namespace:
    saved = sys.argv
    sys.argv = [saved[0]]
    try:
        return parse_args()
    finally:
        sys.argv = saved


if __name__ == "__main__":
    main()
