"""Audit trail benchmark (PostgreSQL): chained appends with 8 concurrent writers (one entry per
transaction, and ten per transaction like a request that submits a referral), added time of an
audited save() and of a recorded read, verify_audit throughput, DPO search for one referral.

"Chained" means in the chain: writers append to the pending table and seal after their commits
(cmer/audit/sealing.py); the figure is the entries written divided by the time from the start
until the last of them is chained (what the writers' own sealing left is drained and timed).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cmer_audit_bench \\
        .venv/bin/python bench/audit_bench.py --entries 1000000 --writers 8 --seconds 20

The writers run for ``--seconds`` in each mode; the table is then filled up to ``--entries`` with
correctly chained rows by COPY (``audit_fill.py``: same ``chain`` code, verified like the rest)
for the verification and search figures. The database is dropped and re-created (its name must
contain "bench").
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmer.settings")


def setup() -> None:
    import django

    django.setup()
    from django.conf import settings

    # As in production: DEBUG's cursor wrapper logs every query (a third more CPU per entry).
    settings.DEBUG = False


def recreate_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    if "bench" not in name:
        raise SystemExit("refusing: the database name must contain 'bench'")
    admin = psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True)
    admin.execute(f"DROP DATABASE IF EXISTS {name}")
    admin.execute(f"CREATE DATABASE {name}")
    admin.close()


def writer(args: tuple[int, float, int, int, int]) -> tuple[int, float]:
    """One process: chained entries for ``seconds``, ``per_transaction`` in each transaction."""
    index, seconds, per_transaction, commune_id, references = args
    setup()
    from django.db import connection, transaction

    from cmer.accounts.models import Commune
    from cmer.audit.core import record_event
    from cmer.audit.models import Event

    written = 0
    start = time.perf_counter()
    deadline = start + seconds
    targets = [Commune(pk=commune_id, name=f"TAR-2026-{n:05d}") for n in range(references)]

    def one() -> None:
        nonlocal written
        target = targets[(index * 7919 + written) % references]
        record_event(Event.ACCESS, target=target, commune=commune_id, data={"what": "detail"})
        written += 1

    while time.perf_counter() < deadline:
        if per_transaction == 1:
            one()  # autocommit: how a page records a read (one statement, its own transaction)
            continue
        with transaction.atomic():
            for _ in range(per_transaction):
                one()
    elapsed = time.perf_counter() - start
    connection.close()
    return written, elapsed


def forks() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT position, prev_hash, lag(entry_hash) OVER w AS previous,"
            " lag(position) OVER w AS previous_position FROM audit_auditentry"
            " WINDOW w AS (ORDER BY position)) t WHERE previous IS NOT NULL"
            " AND (prev_hash <> previous OR position <> previous_position + 1)"
        )
        return cursor.fetchone()[0]


def appends(args: argparse.Namespace, commune_id: int, per_transaction: int) -> int:
    from django.db import connection

    connection.close()
    jobs = [
        (i, args.seconds, per_transaction, commune_id, args.references) for i in range(args.writers)
    ]
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(args.writers) as pool:
        results = pool.map(writer, jobs)
    from cmer.audit import sealing

    left = sealing.pending_count()
    drain_started = time.perf_counter()
    sealing.seal_pending(drain=True)
    drain = time.perf_counter() - drain_started
    elapsed = time.perf_counter() - started
    written = sum(count for count, _ in results)
    slowest = max(seconds for _, seconds in results)
    print(
        f"chained entries/s, {args.writers} writers, {per_transaction} per transaction: "
        f"{written / (slowest + drain):,.0f} ({written:,} written in {slowest:.1f} s, "
        f"{left:,} still pending then, chained in {drain:.2f} s more; wall {elapsed:.1f} s "
        f"with start-up), forks: {forks()}, pending after: {sealing.pending_count()}"
    )
    return written


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--references", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=20.0, help="per append mode")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("set DATABASE_URL to a PostgreSQL database whose name contains 'bench'")
    recreate_database(url)
    setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    call_command("migrate", verbosity=0)
    from auditlog.context import disable_auditlog

    from cmer.accounts.models import Commune, Department, Membership, Role, User
    from cmer.audit.access import entries_visible_to
    from cmer.audit.core import record_access
    from cmer.audit.verification import verify_chain

    department = Department.objects.create(code="13", name="Bouches-du-Rhône")
    commune = Commune.objects.create(
        insee_code="13108", name="Tarascon", department=department, reference_prefix="TAR"
    )
    dpo = User.objects.create_user("dpo@bench.test", "bench-passphrase-2026")
    Membership.objects.create(
        user=dpo, role=Role.DPO, department=department, status="confirmed", decision_reason="bench"
    )
    connection.close()

    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    # 1. Chained appends, N writer processes, 1 then 10 entries per transaction.
    written = appends(args, commune.pk, 1)
    written += appends(args, commune.pk, 10)

    # 2. Fill up to --entries by COPY (chained by the same code), then verify_audit throughput.
    from bench.audit_fill import fill

    if args.entries > written:
        from cmer.audit import sealing

        sealing.seal_pending(drain=True)
        started = time.perf_counter()
        fill(args.entries - written, commune_id=commune.pk, actor=dpo, references=args.references)
        elapsed = time.perf_counter() - started
        print(f"filled {args.entries - written:,} entries by COPY in {elapsed:.0f} s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE audit_auditentry")
        # The fill leaves ~1 GB of WAL for the checkpointer to flush: without this, its writes
        # compete with the commits timed below.
        cursor.execute("CHECKPOINT")
    for _ in range(2):
        started = time.perf_counter()
        report = verify_chain()
        elapsed = time.perf_counter() - started
        print(
            f"verify: {report.checked:,} entries in {elapsed:.2f} s = "
            f"{report.checked / elapsed:,.0f} entries/s (ok={report.ok})"
        )

    # 3. Added time of an audited save() and of a recorded read (in a transaction, as in actions).
    spread: dict[str, str] = {}

    def timed(fn, rounds: int = 400, label: str = "") -> float:
        """Median ms of ``fn`` in its own transaction, commit and after-commit sealing included
        (a seal runs at most every AUDIT_SEAL_INTERVAL: it shows in the mean and p95)."""
        samples = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            with transaction.atomic():
                fn()
            samples.append(time.perf_counter() - t0)
        samples.sort()
        if label:
            spread[label] = (
                f"mean {statistics.fmean(samples) * 1000:.2f} ms, "
                f"p95 {samples[int(len(samples) * 0.95)] * 1000:.2f} ms"
            )
        return statistics.median(samples) * 1000

    def save_commune() -> None:
        commune.name = "Tarascon" if commune.name != "Tarascon" else "Tarascon-sur-Rhône"
        commune.save()

    # Alternated in rounds of 50 so that both see the same machine.
    audited_rounds, plain_rounds = [], []
    for _ in range(8):
        audited_rounds.append(timed(save_commune, rounds=50, label="audited"))
        with disable_auditlog():
            plain_rounds.append(timed(save_commune, rounds=50, label="plain"))
    audited = statistics.median(audited_rounds)
    plain = statistics.median(plain_rounds)
    print(
        f"audited save(): {audited:.2f} ms vs {plain:.2f} ms unaudited = +{audited - plain:.2f} ms"
        f" (median; audited {spread['audited']}; unaudited {spread['plain']})"
    )
    read = timed(lambda: record_access(None, commune, actor=dpo, what="detail"), label="read")
    nothing = timed(lambda: None)
    print(f"recording a read: +{read - nothing:.2f} ms (median, own transaction; {spread['read']})")

    def two_reads() -> None:
        record_access(None, commune, actor=dpo, what="detail")
        record_access(None, commune, actor=dpo, what="pdf")

    second = timed(two_reads) - read
    print(f"a further entry in the same transaction: +{second:.2f} ms")

    # 4. DPO search: one referral among all entries, first page, scoped to the department.
    samples = []
    for n in range(0, args.references, max(1, args.references // 50)):
        t0 = time.perf_counter()
        rows = list(
            entries_visible_to(dpo)
            .filter(object_repr=f"TAR-2026-{n:05d}")
            .select_related("content_type")
            .order_by("-timestamp", "-id")[:51]
        )
        samples.append(time.perf_counter() - t0)
    print(
        f"DPO search for one referral: median {statistics.median(samples) * 1000:.1f} ms, "
        f"max {max(samples) * 1000:.1f} ms ({len(rows)} rows on the page)"
    )
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
