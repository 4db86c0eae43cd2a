"""Where the list and detail views spend their CPU (issue 13's leftover, issue 18): pyinstrument
over many requests in this process, on cases_list_bench.py's dataset, DEBUG off.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cmer_bench \\
        .venv/bin/python bench/profile_views.py [--requests 200] [--html DIR]

Profiles the Commune 00 referent's list page and the detail page of one of its referrals
(an audited read), back-to-back, after a warm-up. Prints pyinstrument's call tree (frames of
at least 2 % of the time) and the time per request; ``--html`` also writes the HTML reports.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.argv.append("--debug-off")  # production settings: set before the dataset module loads
from cases_list_bench import REFERENT_EMAIL, ensure_data, parse_args  # noqa: E402

sys.argv.remove("--debug-off")

from django.core.management import call_command  # noqa: E402
from pyinstrument import Profiler  # noqa: E402

from bench.common import signed_in_client  # noqa: E402
from cases.models import Referral  # noqa: E402
from cmer.accounts.models import User  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--html", type=Path, default=None)
    args, _rest = parser.parse_known_args()
    call_command("migrate", verbosity=0)
    ensure_data(_defaults())
    referent = User.objects.get(email=REFERENT_EMAIL)
    referral = (
        Referral.objects.filter(commune__insee_code="99000", status="in_assessment")
        .order_by("pk")
        .first()
    )
    client = signed_in_client(referent)
    for label, path in (("list", "/signalements/"), ("detail", f"/signalements/{referral.pk}/")):
        for _ in range(10):
            if client.get(path).status_code != 200:
                sys.exit(f"GET {path} did not answer 200")
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


def _defaults() -> argparse.Namespace:
    saved = sys.argv
    sys.argv = [saved[0]]
    try:
        return parse_args()
    finally:
        sys.argv = saved


if __name__ == "__main__":
    main()
