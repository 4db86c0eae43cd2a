"""Benchmark of training imports and attestations (issue 6; the confirmation in the worker,
issue 13).

    .venv/bin/python bench/training_import.py [--rows 10000] [--attendees 300]

Runs on a throwaway SQLite database (or DATABASE_URL if set) and a temporary private storage.
Generates a 10,000-row CSV and two XLSX — as openpyxl writes it (inline strings, no dimension)
and as Excel writes it (shared strings, ``tests/training/xlsx_builder.py``) —, times parse and
store (the upload request), preview and confirm (the confirm request, which only queues, and the
worker's run) separately, then a re-import of the same file, and builds the attestation zip of
a 300-person session. Each step: wall time and this process's CPU time (the machine is shared:
compare CPU). Peak memory: Python allocations (tracemalloc) per step, and the max RSS.
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="cmer-bench-training-"))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{WORK / 'bench.sqlite3'}")
os.environ.setdefault("PRIVATE_STORAGE_ROOT", str(WORK / "private"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmer.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

SERVICES = ["Voirie", "Police municipale", "Éducation", "Sports", "CCAS", "État civil"]


def rows(count: int) -> list[list[str]]:
    return [
        [
            f"Nom{i:05d}",
            f"Prénom{i}",
            SERVICES[i % len(SERVICES)],
            f"agent{i}@tarascon.test",
            "oui" if i % 7 else "non",
        ]
        for i in range(count)
    ]


HEADER = ["Nom", "Prénom", "Service", "Courriel", "Présent"]


def make_csv(count: int) -> bytes:
    lines = [";".join(HEADER)] + [";".join(r) for r in rows(count)]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def make_excel_xlsx(count: int) -> bytes:
    from tests.training.xlsx_builder import excel_like_xlsx

    return excel_like_xlsx({"Émargement": [HEADER, *rows(count)]})


def make_xlsx(count: int) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Émargement")
    sheet.append(HEADER)
    for row in rows(count):
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


TRACE = False


def measure(label: str, func):  # type: ignore[no-untyped-def]
    """Wall time; with --trace-memory, Python's peak allocations too (tracemalloc slows Python
    down about threefold, so timings are taken without it)."""
    if TRACE:
        tracemalloc.start()
    start = time.perf_counter()
    cpu = time.process_time()
    result = func()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    extra = f"process max RSS {rss:5.0f} MB"
    if TRACE:
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        extra = f"peak Python allocations {peak / 1e6:6.1f} MB"
    print(f"{label:<48} {elapsed:7.2f} s (CPU {cpu:5.2f} s)   {extra}")
    return result, elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--attendees", type=int, default=300)
    parser.add_argument("--trace-memory", action="store_true")
    args = parser.parse_args()
    global TRACE
    TRACE = args.trace_memory

    call_command("migrate", verbosity=0)
    from cmer import queue
    from cmer.accounts.models import Commune, Department, User
    from training import actions
    from training.models import Attendance, Trainee, TrainingSession
    from training.parsing import parse_attendance
    from training.tasks import confirm_attendance_import

    department, _ = Department.objects.get_or_create(code="13", defaults={"name": "BdR"})
    commune, _ = Commune.objects.get_or_create(
        insee_code="13108",
        defaults={"name": "Tarascon", "department": department, "reference_prefix": "TAR"},
    )
    user, _ = User.objects.get_or_create(email="bench@cmer.test")
    day = datetime.date(2026, 3, 12)

    def new_session(title: str) -> TrainingSession:
        return TrainingSession.objects.create(
            commune=commune, title=title, date=day, status="held", created_by=user
        )

    print(f"database: {django.db.connection.vendor}; rows: {args.rows:,}; load {os.getloadavg()}")
    makers = (("csv", make_csv), ("xlsx", make_xlsx), ("xlsx", make_excel_xlsx))
    for fmt, maker in makers:
        data = maker(args.rows)
        print(f"-- {fmt.upper()} file of {len(data) / 1e6:.2f} MB ({maker.__name__})")
        session = new_session(f"bench {fmt}")
        parsed, t_parse = measure(
            f"{fmt}: parse {args.rows:,} rows",
            lambda data=data, fmt=fmt: parse_attendance(data, f"f.{fmt}", day),
        )
        staged, t_stage = measure(
            f"{fmt}: store file + parsed rows (preview)",
            lambda session=session, data=data, parsed=parsed, fmt=fmt: actions.do_stage_import(
                session, data=data, filename=f"f.{fmt}", parsed=parsed, acting_user=user
            ),
        )
        print(f"{fmt}: upload request (parse + store) {t_parse + t_stage:.2f} s")
        _plan, t_plan = measure(
            f"{fmt}: preview plan (match registry)",
            lambda staged=staged: actions.plan_import(staged),
        )
        # The request only marks the import "en cours" and queues the task (issue 13); the
        # worker's run is timed apart. The outbox's send is held back (eager Celery would run
        # the task inside the request's commit): the row stays unsent in this throwaway base.
        real_send, queue._send = queue._send, lambda queued_id: True
        try:
            _queued, _t_request = measure(
                f"{fmt}: confirm request (mark + queue, what the user waits for)",
                lambda staged=staged: actions.do_request_confirm_import(staged, acting_user=user),
            )
        finally:
            queue._send = real_send
        _result, t_confirm = measure(
            f"{fmt}: worker applies the import (atomic, task confirm_attendance_import)",
            lambda staged=staged: confirm_attendance_import.apply(
                args=[staged.pk], task_id=f"bench-{staged.pk}"
            ),
        )
        print(
            f"{fmt}: total upload→imported {t_parse + t_stage + t_plan + t_confirm:.2f} s; "
            f"attendances {Attendance.objects.filter(session=session).count():,}"
        )
        # Re-import of the same file: updates nothing, creates nothing.
        parsed2 = parse_attendance(data, f"f.{fmt}", day)
        staged2 = actions.do_stage_import(
            session, data=data, filename=f"f.{fmt}", parsed=parsed2, acting_user=user
        )
        result, _t = measure(
            f"{fmt}: re-import of the same file (worker run)",
            lambda staged2=staged2: actions.do_confirm_import(staged2, acting_user=user),
        )
        if result["unchanged"] != len(parsed.rows):
            raise SystemExit(f"re-import changed something: {result}")
    print(f"trainees in registry: {Trainee.objects.count():,} (both files: same people)")

    print(f"-- attestations for a {args.attendees}-person session")
    session = new_session("bench attestations")
    trainees = list(Trainee.objects.order_by("pk")[: args.attendees])
    for trainee in trainees:
        Attendance.objects.create(session=session, trainee=trainee, status="present")
    from training.models import AttestationBundle

    bundle = AttestationBundle.objects.create(session=session, requested_by=user)
    measure(
        f"zip of {args.attendees} attestations (1 PDF + {args.attendees} split)",
        lambda: actions.build_bundle(bundle.pk),
    )
    bundle.refresh_from_db()
    print(f"zip size {bundle.file.size / 1e6:.2f} MB, state {bundle.state}")
    one = Attendance.objects.filter(session=session).select_related("trainee")[:1]
    measure("single attestation PDF", lambda: actions.render_attestations(session, list(one)))
    print(f"load average at the end: {os.getloadavg()}")
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS: {peak_rss:.0f} MB")


if __name__ == "__main__":
    main()
