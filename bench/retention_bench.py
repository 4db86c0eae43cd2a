"""Benchmark of the retention run (issue 15): 100,000 referrals, 10,000 of them due.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cmer_retention_bench \\
        .venv/bin/python bench/retention_bench.py [--referrals 100000 --due 10000] [--reset]

PostgreSQL only. Creates the database if it is missing (``--reset`` drops it first; only a
database whose name contains "bench"), migrates, then fills it with real ciphertext in every
encrypted column (Fernet tokens, one per distinct value): 10 communes, referrals with two
timeline entries each, a transmission for one in five, one attachment file for one in ten of
the due ones. Of the due ones: 90 % closed and archived more than three years ago, 5 % past the
person's 25th birthday, 5 % drafts untouched for 40 days. The rest is recent.

Measures ``runner.apply()`` as the daily job runs it (audit trail chained first, the plan with
the age rule decrypting every birth date, anonymisation in batches, the certificate of 10,000
references rendered and sealed, the one audit entry): total time, the time of each phase, and
the number of SQL statements (counted by a connection wrapper), per due referral. Goal: batches,
not one query per row; at most 60 s. Then runs it again (nothing more to do) and checks the
counts and that no due referral keeps a name.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cmer_retention_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmer.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "Y21lci1iZW5jaC1vbmx5LWZpZWxkLWtleS0wMDAwMDA=")
os.environ.setdefault("BLIND_INDEX_KEY", "cmer-bench-only-blind-index-key-0000000")
os.environ.setdefault("AUDIT_CHECKPOINT_KEY", "cmer-bench-only-audit-checkpoint-key-000")
os.environ.setdefault("PRIVATE_STORAGE_ROOT", str(ROOT / "var" / "retention-bench-files"))

import dj_database_url  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--referrals", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--reset", action="store_true")
    return parser.parse_args()


def prepare_database(reset: bool) -> bool:
    """Create (or recreate) the database; True when it is new."""
    import psycopg
    from psycopg import sql

    config = dj_database_url.parse(os.environ["DATABASE_URL"])
    name = config["NAME"]
    if "bench" not in name:
        sys.exit("refusing: the database name must contain 'bench'")
    admin_url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and reset:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = None
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    return False


def fill(total: int, due: int) -> None:
    """Generate the referrals with COPY (minutes, not hours), real ciphertext included."""
    from django.db import connection
    from django.utils import timezone

    from cases import files
    from cases.actions import person_indexes
    from cases.models import Referral, WeakSignalCategory
    from cmer.accounts.models import Commune, Department, User
    from cmer.crypto import encrypt_text

    department = Department.objects.create(code="99", name="Bench")
    communes = [
        Commune.objects.create(
            department=department,
            name=f"Commune {i}",
            insee_code=f"99{i:03d}",
            reference_prefix="B" + "ABCDEFGHIJ"[i],
        )
        for i in range(10)
    ]
    author = User.objects.create(email="agent@bench.test", first_name="A", last_name="B")
    category = WeakSignalCategory.objects.first()
    cipher: dict[str, str] = {}

    def enc(value: str) -> str:
        if not value:
            return ""
        if value not in cipher:
            cipher[value] = encrypt_text(value)
        return cipher[value]

    now = timezone.now()
    old = now - datetime.timedelta(days=3 * 365 + 60)
    archived_due = int(due * 0.9)
    aged_due = int(due * 0.05)
    drafts_due = due - archived_due - aged_due
    names = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"]
    rows = []
    for i in range(total):
        commune = communes[i % 10]
        surname, first = names[i % 8], names[(i // 8) % 8]
        birth = datetime.date(2008 + i % 6, 1 + i % 12, 1 + i % 28)
        status, archived_at, closed_at, created = "in_assessment", None, None, now
        if i < archived_due:
            status, archived_at, closed_at, created = "archived", old, old, old
        elif i < archived_due + aged_due:
            birth = datetime.date(1995, 1 + i % 12, 1 + i % 28)  # 25 long ago
            status, created = "followed_up", now - datetime.timedelta(days=400)
        elif i < due:
            status, created = "draft", now - datetime.timedelta(days=40)
        year = created.year
        name_index, name_year_index = person_indexes(surname, first, birth.year)
        reference = "" if status == "draft" else f"{commune.reference_prefix}-{year}-{i:06d}"
        rows.append(
            (
                commune.pk,
                author.pk,
                status,
                None if status == "draft" else year,
                None if status == "draft" else i,
                reference,
                enc(surname),
                enc(first),
                enc(birth.isoformat()),
                "",
                enc("Tarascon"),
                enc("1 rue de la Paix"),
                "minor",
                enc("Propos justifiant la violence, à plusieurs reprises, devant témoins."),
                enc("Gymnase"),
                "association",
                "Sports",
                "normal",
                name_index,
                name_year_index,
                created,
                created,
                None if status == "draft" else created,
                closed_at,
                "no_further_action" if closed_at else "",
                archived_at,
            )
        )
    columns = (
        "commune_id, author_id, status, year, number, reference, surname, first_names, "
        "birth_date, approximate_age, residence_commune, address, age_group, facts, facts_place, "
        "source, author_service, urgency, name_index, name_year_index, created_at, updated_at, "
        "submitted_at, closed_at, close_reason, archived_at"
    )
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY cases_referral ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute("SELECT id, status FROM cases_referral ORDER BY id")
        ids = cursor.fetchall()
        note = enc("Note de suivi avec des éléments sur la personne.")
        with cursor.copy(
            "COPY cases_timelineentry (referral_id, kind, author_id, created_at, text, reason, "
            "from_status, to_status) FROM STDIN"
        ) as copy:
            for pk, _status in ids:
                copy.write_row((pk, "status", author.pk, now, "", "", "draft", "submitted"))
                copy.write_row((pk, "note", author.pk, now, note, "", "", ""))
        with cursor.copy(
            "COPY cases_transmission (referral_id, transmitted_by_id, transmitted_at, "
            "shared_items, reason) FROM STDIN"
        ) as copy:
            for pk, status in ids[::5]:
                if status != "draft":
                    copy.write_row((pk, author.pk, now, '["facts"]', enc("Signes graves.")))
        with cursor.copy(
            "COPY cases_referral_categories (referral_id, weaksignalcategory_id) FROM STDIN"
        ) as copy:
            for pk, _status in ids:
                copy.write_row((pk, category.pk))
        display = enc("rapport.pdf")
        with cursor.copy(
            "COPY cases_attachment (referral_id, stored_name, display_name, content_type, size, "
            "sha256, uploaded_by_id, uploaded_at) FROM STDIN"
        ) as copy:
            for pk, _status in ids[:due:10]:
                name = files.write_encrypted(b"%PDF-1.4 bench")
                copy.write_row((pk, name, display, "application/pdf", 14, "0" * 64, author.pk, now))
        cursor.execute("ANALYZE")
    print(
        f"filled: {Referral.objects.count()} referrals "
        f"({archived_due} archived long ago, {aged_due} past 25, {drafts_due} old drafts)"
    )


def main() -> None:
    args = parse_args()
    new = prepare_database(args.reset)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from cases.models import Referral

    if new or not Referral.objects.exists():
        started = time.perf_counter()
        fill(args.referrals, args.due)
        print(f"fill: {time.perf_counter() - started:.1f} s")

    from cmer.retention import certificate, runner

    statements = {"n": 0}

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        statements["n"] += 1
        return execute(sql, params, many, context)

    phases: dict[str, float] = {}
    original_render = certificate.render
    original_plan = runner.plan

    def timed(name, function):  # type: ignore[no-untyped-def]
        def wrapper(*a, **k):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return function(*a, **k)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - started

        return wrapper

    runner.plan = timed("plan (incl. decrypting birth dates)", original_plan)
    certificate.render = timed("certificate PDF", original_render)
    with connection.execute_wrapper(count):
        started = time.perf_counter()
        outcome = runner.apply()
        elapsed = time.perf_counter() - started
    run = outcome.run
    done = run.total
    print(f"run 1: {elapsed:.1f} s, {statements['n']} statements, {done} items removed")
    for name, seconds in phases.items():
        print(f"  {name}: {seconds:.1f} s")
    print(
        f"  per item: {1000 * elapsed / max(done, 1):.2f} ms, "
        f"{statements['n'] / max(done, 1):.3f} statements"
    )
    print(f"  counts: { {rule: data['count'] for rule, data in run.results.items()} }")
    verified = certificate.verify(bytes(run.pdf)).ok
    print(f"  certificate: {len(run.pdf) // 1024} KiB, verifies: {verified}")
    statements["n"] = 0
    with connection.execute_wrapper(count):
        started = time.perf_counter()
        again = runner.apply().run
        second = time.perf_counter() - started
    print(f"run 2: {second:.1f} s, {statements['n']} statements, {again.total} items removed")
    kept = Referral.objects.filter(anonymised_at__isnull=False).exclude(surname="").count()
    print(f"anonymised referrals still holding a surname: {kept}")
    print(f"goal <= 60 s: {'met' if elapsed <= 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
