"""Recompute the audit chain; name the first altered, inserted or removed entry; exit 1 on a break.

    manage.py verify_audit [--checkpoints FILE] [--no-record]

``--checkpoints`` takes checkpoint lines the DPO downloaded and kept outside the system: they prove
the chain was not rewritten (every hash recomputed) since they were issued.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from cmer.audit import verification


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain and signed checkpoints."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--checkpoints", help="file of checkpoint lines kept by the DPO")
        parser.add_argument("--chunk-size", type=int, default=5_000)
        parser.add_argument(
            "--no-record", action="store_true", help="do not store the result for the DPO page"
        )
        parser.add_argument("--database", default="default")

    def handle(self, *args: Any, **options: Any) -> None:
        lines: list[str] = []
        if options["checkpoints"]:
            with open(options["checkpoints"], encoding="utf-8") as handle:
                lines = handle.readlines()
        report = verification.verify_chain(
            options["database"], chunk_size=options["chunk_size"], checkpoint_lines=lines
        )
        if not options["no_record"]:
            verification.record(report, options["database"])
        # verify_chain returns a finished report; record() reads it the same way.
        elapsed = ((report.finished_at or timezone.now()) - report.started_at).total_seconds()
        if report.ok:
            self.stdout.write(
                f"OK: {report.checked} entries verified in {elapsed:.2f} s; "
                f"head {report.head_position} {report.head_hash}"
                + (f"; {report.pending} recorded since, not chained yet" if report.pending else "")
            )
            return
        self.stderr.write(
            f"BROKEN ({report.problem}) at position {report.problem_position}: {report.message}"
        )
        sys.exit(1)
