"""django-auditlog's ``auditlogflush`` would delete the trail: refused (see purge_audit)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Disabled: the audit trail is append-only. Use purge_audit for retention."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("args", nargs="*")
        parser.add_argument("-y", "--yes", action="store_true")
        parser.add_argument("-b", "--before-date")

    def handle(self, *args: Any, **options: Any) -> None:
        raise CommandError(
            "auditlogflush is disabled: the audit trail is append-only. "
            "Retention is applied by `manage.py purge_audit --before YYYY-MM` (owner role)."
        )
