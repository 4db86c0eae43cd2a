"""Retention of the audit trail: delete whole months, under the owner role only.

    manage.py purge_audit --before 2026-01 [--dry-run]

deletes every entry recorded before 1 January 2026 (local time), after verifying the chain, and
leaves a signed boundary checkpoint so that the remaining chain still verifies. Run it with the
owner's DATABASE_URL (the ``migrate`` service in docker-compose.yml): the application role cannot
lift the triggers, and has no DELETE privilege on the table anyway. Months younger than
settings.AUDIT_MIN_RETENTION_MONTHS (default 6, the CNIL's lower bound) are refused.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.utils import timezone

from cmer.audit import verification


class Command(BaseCommand):
    help = "Delete audit entries of whole months before YYYY-MM (owner role only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--before", required=True, help="YYYY-MM: first month kept")
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--database", default="default")

    def handle(self, *args: Any, **options: Any) -> None:
        match = re.fullmatch(r"(\d{4})-(\d{2})", options["before"])
        if not match or not 1 <= int(match[2]) <= 12:
            raise CommandError("--before takes a month: YYYY-MM")
        year, month = int(match[1]), int(match[2])
        boundary = verification.month_start(year, month)
        today = timezone.localdate()
        keep = getattr(settings, "AUDIT_MIN_RETENTION_MONTHS", 6)
        months_back = (today.year - year) * 12 + (today.month - month)
        if months_back < keep:
            raise CommandError(
                f"refused: entries younger than {keep} months are kept "
                f"(AUDIT_MIN_RETENTION_MONTHS); the latest allowed boundary is {keep} months ago"
            )
        try:
            deleted, checkpoint = verification.purge_before(
                boundary, options["database"], dry_run=options["dry_run"]
            )
        except verification.PurgeRefused as exc:
            raise CommandError(f"refused: {exc}") from exc
        except DatabaseError as exc:
            raise CommandError(
                "the database refused the purge: run it as the owner of the audit table "
                f"(the migrate role), never as the application role ({exc})"
            ) from exc
        if options["dry_run"]:
            self.stdout.write(f"{deleted} entries would be deleted (before {boundary:%Y-%m-%d})")
            return
        self.stdout.write(f"{deleted} entries deleted (before {boundary:%Y-%m-%d}).")
        if checkpoint is not None:
            self.stdout.write(f"Boundary checkpoint: {checkpoint.line()}")
