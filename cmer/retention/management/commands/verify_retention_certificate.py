"""Check a destruction certificate (its PDF, or the text embedded in it) against the
installation's checkpoint key. Exit 1 if it does not verify.

    manage.py verify_retention_certificate certificat-conservation-17.pdf
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cmer.retention import certificate

MESSAGES = {
    "too_large": "the file is too large to be a certificate",
    "not_a_certificate": "not a CMER destruction certificate (PDF or certificat.txt)",
    "no_seal": "the certificate has no seal",
    "bad_seal": "the seal does NOT match: the certificate was altered or comes from another key",
}


class Command(BaseCommand):
    help = "Verify a retention (destruction) certificate's seal."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        verdict = certificate.verify(data)
        if not verdict.ok:
            raise CommandError(MESSAGES.get(verdict.message, verdict.message))
        stored = {
            True: "identical to the run stored here",
            False: "DIFFERENT from the run stored here under that number",
            None: "no run of that number stored here",
        }[verdict.matches_stored]
        self.stdout.write(
            f"OK: certificate of run {verdict.run_id} ({verdict.fields.get('started', '?')}), "
            f"seal valid; {stored}."
        )
        if verdict.matches_stored is False:
            raise CommandError("the stored run differs from this certificate")
