"""Seal the current head of the audit chain (HMAC with AUDIT_CHECKPOINT_KEY) and print the line
the DPO keeps outside the system. The daily Celery beat task does the same."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from cmer.audit import verification
from cmer.audit.models import AuditCheckpoint


class Command(BaseCommand):
    help = "Create a signed checkpoint of the audit chain's head."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default="default")

    def handle(self, *args: Any, **options: Any) -> None:
        checkpoint = verification.make_checkpoint(AuditCheckpoint.Kind.MANUAL, options["database"])
        self.stdout.write(checkpoint.line())
