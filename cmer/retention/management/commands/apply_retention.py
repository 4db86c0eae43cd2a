"""Apply the retention rules now (the daily beat job does the same).

    manage.py apply_retention [--dry-run]

lists, by rule, how many items go (and which references); without ``--dry-run`` removes them,
records one audit entry and writes the signed destruction certificate (the DPO downloads it from
the retention page). Running it twice changes nothing more.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cmer.retention import runner
from cmer.retention.models import RetentionRun
from cmer.retention.rules import APPLIED_RULES, LABELS


class Command(BaseCommand):
    help = "Apply the retention rules (CNIL AU-038); --dry-run lists what would go."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="change nothing, list only")
        parser.add_argument("--list", action="store_true", help="print every reference too")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            outcome = runner.apply(dry_run=options["dry_run"], trigger=RetentionRun.Trigger.COMMAND)
        except runner.RetentionRefused as exc:
            raise CommandError(str(exc)) from exc
        due = outcome.plan
        verb = "would go" if options["dry_run"] else "removed"
        self.stdout.write(
            f"Retention on {due.until:%Y-%m-%d} (age rule {'on' if due.age_rule else 'off'})"
        )
        results = outcome.run.results if outcome.run else {}
        for rule in APPLIED_RULES:
            items = due.items[rule]
            done = results.get(rule.value, {}).get("count", len(items))
            self.stdout.write(f"  {rule.value:<11} {done:>7} {verb}  ({LABELS[rule]})")
            if options["list"] and items:
                self.stdout.write("      " + ", ".join(item.label for item in items))
        self.stdout.write(f"  {'held':<11} {len(due.held):>7} skipped under a legal hold")
        if options["list"] and due.held:
            self.stdout.write("      " + ", ".join(item.label for item in due.held))
        if outcome.run is not None:
            self.stdout.write(
                f"Run {outcome.run.pk}: certificate sealed (mac={outcome.run.mac[:16]}…)."
            )
