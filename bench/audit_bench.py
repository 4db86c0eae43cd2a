"""Audit trail benchmark (PostgreSQL), with its floors measured in the same run (issue 18).

Absolute figures differ by 30-50 % between machines, and by as much from one minute to the next
on a shared one; each figure is therefore timed next to its floor, and the goals are ratios:

- **chained appends**: 8 writer processes record reads through ``record_event`` (one entry per
  transaction, as a page records a read, then ten per transaction, as a request that submits a
  referral), against the **plain floor**: the same 8 processes INSERTing the same rows (same
  columns, same values, same prepared server-side statement through Django's cursor wrapper)
  into an unprotected copy of the pending table (no trigger, no chain, no seal). "Chained" counts
  an entry once it is in the chain: what the writers' own sealing left pending when they stop is
  drained and its time added. Plain and chained alternate (``--rounds``) so that both see the
  same machine. Goal: chained ≥ 0.7 × plain. Latency per write (one entry, or one transaction
  of ten, commit included): median and p95.
- **verification**: ``verify_chain`` over the whole table against the **hashing floor**: the
  same ``COPY`` stream read by the same process and each line hashed with hashlib, nothing else.
  Alternated too. Goal: verify ≥ 0.6 × bare hashing. Medians and worst of the rounds.
- audited ``save()`` against the same save unaudited (alternated rounds of 50): added median
  and p95; goal ≤ 2 ms.
- the DPO's search by reference among all entries (``about.about_reference``: named, pointing
  objects, listed by a list page): median and max; goal ≤ 50 ms.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cmer_audit_bench \\
        .venv/bin/python bench/audit_bench.py --entries 1000000 --seconds 10 --rounds 2

The database is dropped and re-created (its name must contain "bench"). After the appends the
chain is filled up to ``--entries`` by COPY with rows chained by the audit core's own code
(``audit_fill.py``; every 50th a list page naming 20 referrals). The last lines printed are the
rows of bench/RESULTS.md's table.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmer.settings")

PLAIN_TABLE = "bench_plain_entries"
COMMAND = "bench/audit_bench.py"


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


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


def writer(args: tuple[str, int, float, int, int, int]) -> tuple[int, float, list[float]]:
    """One process for ``seconds``: ``chained`` (``record_event``) or ``plain`` (the same row,
    a plain INSERT into the unprotected table); ``per_transaction`` entries per transaction.
    Returns (entries, seconds, latency of each write or transaction)."""
    mode, index, seconds, per_transaction, commune_id, references = args
    setup()
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction

    from cmer.accounts.models import Commune
    from cmer.audit import chain, writing
    from cmer.audit.core import record_event
    from cmer.audit.models import AuditEntry, Event

    targets = [Commune(pk=commune_id, name=f"TAR-2026-{n:05d}") for n in range(references)]
    content_type_id = ContentType.objects.get_for_model(Commune).pk
    # The time is the column's default, as for the pending table (the chained INSERT does not
    # send it either); both return the id and the database's time.
    columns = (
        "event, action, content_type_id, object_pk, object_id, object_repr, "
        "commune_id, changes_text, additional_data"
    )
    plain_sql = (
        f"INSERT INTO {PLAIN_TABLE} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "RETURNING id, timestamp"
    )
    written = 0

    def chained() -> None:
        target = targets[(index * 7919 + written) % references]
        record_event(Event.ACCESS, target=target, commune=commune_id, data={"what": "detail"})

    def plain() -> None:
        target = targets[(index * 7919 + written) % references]
        params = [
            str(Event.ACCESS),
            int(AuditEntry.Action.ACCESS),
            content_type_id,
            str(target.pk),
            target.pk,
            target.name,
            commune_id,
            "",
            chain.canonical_json({"what": "detail"}),
        ]
        with writing._cursor(connection) as cursor:
            cursor.execute(plain_sql, params)
            cursor.fetchone()

    one = chained if mode == "chained" else plain
    latencies: list[float] = []
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        if per_transaction == 1:
            one()  # autocommit: its own transaction
            written += 1
        else:
            with transaction.atomic():
                for _ in range(per_transaction):
                    one()
                    written += 1
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    connection.close()
    return written, elapsed, latencies


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


def run_writers(
    args: argparse.Namespace, mode: str, commune_id: int, per_transaction: int
) -> dict[str, Any]:
    from django.db import connection

    from cmer.audit import sealing

    connection.close()
    jobs = [
        (mode, i, args.seconds, per_transaction, commune_id, args.references)
        for i in range(args.writers)
    ]
    with multiprocessing.get_context("fork").Pool(args.writers) as pool:
        results = pool.map(writer, jobs)
    written = sum(count for count, _, _ in results)
    slowest = max(seconds for _, seconds, _ in results)
    latencies = [x for _, _, samples in results for x in samples]
    left, drain = 0, 0.0
    if mode == "chained":
        left = sealing.pending_count()
        started = time.perf_counter()
        sealing.seal_pending(drain=True)
        drain = time.perf_counter() - started
    rate = written / (slowest + drain)
    print(
        f"  {mode:7s} {per_transaction:2d}/tx: {rate:7,.0f} entries/s ({written:,} in "
        f"{slowest:.1f} s{f', {left:,} pending then drained in {drain:.2f} s' if left else ''}); "
        f"latency median {statistics.median(latencies) * 1000:.2f} ms, "
        f"p95 {percentile(latencies, 0.95) * 1000:.2f} ms",
        flush=True,
    )
    return {
        "rate": rate,
        "written": written,
        "p50": statistics.median(latencies) * 1000,
        "p95": percentile(latencies, 0.95) * 1000,
    }


def appends(args: argparse.Namespace, commune_id: int) -> tuple[dict[str, Any], int]:
    """Plain and chained alternated, ``--rounds`` each, for 1 and 10 entries per transaction."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {PLAIN_TABLE}")
        # The pending table's columns, defaults and primary key; no trigger, no foreign key.
        cursor.execute(
            f"CREATE TABLE {PLAIN_TABLE} (LIKE audit_pending INCLUDING DEFAULTS INCLUDING "
            "INDEXES INCLUDING IDENTITY)"
        )
    figures: dict[str, Any] = {}
    written = 0
    for per_transaction in (1, 10):
        plain, chained = [], []
        for _ in range(args.rounds):
            plain.append(run_writers(args, "plain", commune_id, per_transaction))
            chained.append(run_writers(args, "chained", commune_id, per_transaction))
            written += chained[-1]["written"]
        forked = forks()
        ratios = [c["rate"] / p["rate"] for c, p in zip(chained, plain, strict=True)]
        figures[per_transaction] = {
            "plain": statistics.median(p["rate"] for p in plain),
            "chained": statistics.median(c["rate"] for c in chained),
            "ratio": statistics.median(ratios),
            "ratios": ratios,
            "chained_p50": statistics.median(c["p50"] for c in chained),
            "chained_p95": statistics.median(c["p95"] for c in chained),
            "plain_p50": statistics.median(p["p50"] for p in plain),
            "plain_p95": statistics.median(p["p95"] for p in plain),
            "forks": forked,
        }
        print(
            f"{per_transaction}/tx: chained / plain = {figures[per_transaction]['ratio']:.2f} "
            f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)}), forks {forked}",
            flush=True,
        )
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {PLAIN_TABLE}")
    return figures, written


def bare_hashing() -> tuple[int, float]:
    """The floor of any verifier: the same COPY stream, each line hashed with hashlib alone."""
    from django.db import connection, transaction

    from cmer.audit import sealing, verification

    sha256 = hashlib.sha256
    count = 0
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sealing.ISO_DATES)
        with cursor.cursor.copy(verification.copy_select(0)) as copy:
            rest = b""
            for block in copy:
                lines = (rest + bytes(block)).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    sha256(line).digest()
                count += len(lines)
    return count, time.perf_counter() - started


def verify_rounds(rounds: int) -> dict[str, Any]:
    """``verify_chain`` against bare hashing, alternated: wall time (the goal) and this
    process's CPU time (``time.process_time``, which the machine's load does not inflate: the
    server's part of the COPY is not in it, the same for both)."""
    from cmer.audit.verification import verify_chain

    bare, verify, bare_cpu, verify_cpu = [], [], [], []
    for _ in range(rounds):
        cpu = time.process_time()
        count, seconds = bare_hashing()
        bare.append(count / seconds)
        bare_cpu.append((time.process_time() - cpu) / count * 1e6)
        cpu = time.process_time()
        started = time.perf_counter()
        report = verify_chain()
        seconds = time.perf_counter() - started
        verify_cpu.append((time.process_time() - cpu) / report.checked * 1e6)
        verify.append(report.checked / seconds)
        print(
            f"  bare hashing {bare[-1]:,.0f} lines/s; verify_chain {verify[-1]:,.0f} entries/s "
            f"({report.checked:,}, ok={report.ok}) = {verify[-1] / bare[-1]:.2f}; CPU "
            f"{bare_cpu[-1]:.2f} vs {verify_cpu[-1]:.2f} µs per entry = "
            f"{bare_cpu[-1] / verify_cpu[-1]:.2f}",
            flush=True,
        )
    ratios = [v / b for v, b in zip(verify, bare, strict=True)]
    cpu_ratios = [b / v for v, b in zip(verify_cpu, bare_cpu, strict=True)]
    return {
        "bare": statistics.median(bare),
        "verify": statistics.median(verify),
        "verify_worst": min(verify),
        "ratio": statistics.median(ratios),
        "ratio_worst": min(ratios),
        "cpu_ratio": statistics.median(cpu_ratios),
        "bare_cpu": statistics.median(bare_cpu),
        "verify_cpu": statistics.median(verify_cpu),
        "entries": report.checked,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--references", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per writer segment")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of floor and figure")
    parser.add_argument("--verify-rounds", type=int, default=3)
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
    from cmer.audit import about
    from cmer.audit.access import entries_visible_to
    from cmer.audit.core import record_access

    department = Department.objects.create(code="13", name="Bouches-du-Rhône")
    commune = Commune.objects.create(
        insee_code="13108", name="Tarascon", department=department, reference_prefix="TAR"
    )
    dpo = User.objects.create_user("dpo@bench.test", "bench-passphrase-2026")
    Membership.objects.create(
        user=dpo, role=Role.DPO, department=department, status="confirmed", decision_reason="bench"
    )
    connection.close()
    load_start = os.getloadavg()
    started_at = datetime.datetime.now(datetime.UTC)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in load_start)}", flush=True)

    # 1. Appends against the plain floor.
    append_figures, written = appends(args, commune.pk)

    # 2. Fill up to --entries by COPY (chained by the audit core's code), then verification
    #    against bare hashing of the same stream.
    from bench.audit_fill import fill
    from cmer.audit import sealing

    sealing.seal_pending(drain=True)
    if args.entries > written:
        started = time.perf_counter()
        fill(args.entries - written, commune_id=commune.pk, actor=dpo, references=args.references)
        print(
            f"filled {args.entries - written:,} entries by COPY "
            f"in {time.perf_counter() - started:.0f} s"
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE audit_auditentry")
        # The fill leaves ~1 GB of WAL for the checkpointer to flush: without this, its writes
        # compete with what is timed below.
        cursor.execute("CHECKPOINT")
    verify_figures = verify_rounds(args.verify_rounds)

    # 3. Added time of an audited save() and of a recorded read (own transaction, commit and
    #    after-commit sealing included: a seal runs at most every AUDIT_SEAL_INTERVAL).
    def timed(fn, rounds: int) -> list[float]:
        samples = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            with transaction.atomic():
                fn()
            samples.append((time.perf_counter() - t0) * 1000)
        return samples

    def save_commune() -> None:
        commune.name = "Tarascon" if commune.name != "Tarascon" else "Tarascon-sur-Rhône"
        commune.save()

    audited, plain = [], []
    for _ in range(8):  # alternated in rounds of 50 so that both see the same machine
        audited += timed(save_commune, 50)
        with disable_auditlog():
            plain += timed(save_commune, 50)
    save_added = statistics.median(audited) - statistics.median(plain)
    save_added_p95 = percentile(audited, 0.95) - percentile(plain, 0.95)
    print(
        f"audited save(): median {statistics.median(audited):.2f} ms vs "
        f"{statistics.median(plain):.2f} ms = +{save_added:.2f} ms; p95 "
        f"{percentile(audited, 0.95):.2f} vs {percentile(plain, 0.95):.2f} ms"
    )
    reads = timed(lambda: record_access(None, commune, actor=dpo, what="detail"), 400)
    nothing = timed(lambda: None, 400)
    read_added = statistics.median(reads) - statistics.median(nothing)
    print(f"recording a read: +{read_added:.2f} ms (p95 {percentile(reads, 0.95):.2f} ms)")

    # 4. The DPO's search by reference: one referral among all entries, first page.
    samples = []
    rows: list[Any] = []
    for n in range(0, args.references, max(1, args.references // 50)):
        t0 = time.perf_counter()
        rows = list(
            entries_visible_to(dpo)
            .filter(about.about_reference(f"TAR-2026-{n:05d}"))
            .order_by("-timestamp", "-id")[:51]
        )
        samples.append((time.perf_counter() - t0) * 1000)
    search_median, search_max = statistics.median(samples), max(samples)
    print(
        f"DPO search by reference: median {search_median:.1f} ms, max {search_max:.1f} ms "
        f"({len(rows)} rows on the last page)"
    )
    load_end = os.getloadavg()
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in load_end)}")

    # 5. The rows of bench/RESULTS.md's table.
    day = started_at.strftime("%Y-%m-%d %H:%M UTC")
    command = (
        f"`{COMMAND} --entries {args.entries} --seconds {args.seconds:g} --rounds {args.rounds}`"
    )
    one, ten, v = append_figures[1], append_figures[10], verify_figures
    table = [
        (
            "audit: chained appends / plain INSERTs, 8 writers, 1 per transaction",
            "≥ 0.7×",
            f"{one['ratio']:.2f}× ({one['chained']:,.0f} vs {one['plain']:,.0f}/s; latency "
            f"p50 {one['chained_p50']:.1f} / p95 {one['chained_p95']:.1f} ms vs "
            f"{one['plain_p50']:.1f} / {one['plain_p95']:.1f} ms; forks {one['forks']})",
        ),
        (
            "audit: chained appends / plain INSERTs, 8 writers, 10 per transaction",
            "≥ 0.7×",
            f"{ten['ratio']:.2f}× ({ten['chained']:,.0f} vs {ten['plain']:,.0f}/s; transaction "
            f"p50 {ten['chained_p50']:.1f} / p95 {ten['chained_p95']:.1f} ms vs "
            f"{ten['plain_p50']:.1f} / {ten['plain_p95']:.1f} ms; forks {ten['forks']})",
        ),
        (
            f"audit: verify_chain / bare hashing of the same COPY, {v['entries']:,} entries",
            "≥ 0.6×",
            f"{v['ratio']:.2f}× (worst {v['ratio_worst']:.2f}×; {v['verify']:,.0f} vs "
            f"{v['bare']:,.0f}/s; CPU {v['cpu_ratio']:.2f}×: {v['verify_cpu']:.2f} vs "
            f"{v['bare_cpu']:.2f} µs per entry)",
        ),
        (
            "audit: added time of an audited save()",
            "≤ 2 ms",
            f"+{save_added:.2f} ms median, +{save_added_p95:.2f} ms at p95",
        ),
        (
            f"audit: DPO search by reference among {v['entries']:,} entries",
            "≤ 50 ms",
            f"{search_median:.1f} ms median, {search_max:.1f} ms max",
        ),
    ]
    print(
        "\nload average: start "
        + "/".join(f"{x:.1f}" for x in load_start)
        + ", end "
        + "/".join(f"{x:.1f}" for x in load_end)
    )
    for figure, goal, measured in table:
        print(f"| {figure} | {goal} | {measured} | {command} | {day} |")


if __name__ == "__main__":
    main()
