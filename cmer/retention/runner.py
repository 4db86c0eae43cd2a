"""The retention run: what is due today under each rule, applied in batches, traced, certified.

``plan(until)`` lists what the rules remove on or before a day (the dry run, the DPO's upcoming
expiries); ``apply()`` removes what is due today: forgotten drafts deleted, referrals anonymised
(``cases.retention``), training records (``training.retention``) and convention documents
(``conventions.retention``) deleted — each app registers its rules (``registry``) — in batches
of ``BATCH`` (a few statements per batch, never one per row), each batch its own transaction;
held referrals are skipped. Then, in one
transaction, the run is finished with its signed certificate (``certificate``) and **one** audit
entry (``Event.RETENTION``: counts per rule, no reference, no name).

Before anything, the audit trail must be able to chain what is pending: a run (even a dry one)
on a trail whose pending entries cannot be chained is refused, nothing changed. Runs never
overlap (an advisory lock on PostgreSQL). Running twice changes nothing more: what was removed
is no longer due (drafts gone, ``anonymised_at`` set, records gone).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cmer.audit import sealing
from cmer.audit.core import record_event
from cmer.audit.models import Event, PendingEntry

from . import certificate, policy, registry
from .models import RetentionRun
from .registry import DueItem, Scope
from .rules import APPLIED_RULES, Rule

logger = logging.getLogger(__name__)

BATCH = 500
# Key of the PostgreSQL advisory lock that keeps two runs apart ("CMER" + 2).
RUN_LOCK_KEY = 0x434D4552_0002


class RetentionRefused(Exception):
    """The run cannot start; the message says why, in the user's language. Nothing changed."""


@dataclass
class Plan:
    until: datetime.date
    age_rule: bool
    items: dict[Rule, list[DueItem]] = field(default_factory=dict)
    held: list[DueItem] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {rule.value: len(self.items.get(rule, [])) for rule in APPLIED_RULES}

    @property
    def total(self) -> int:
        return sum(self.counts().values())


def plan(
    until: datetime.date,
    *,
    commune_ids: list[int] | None = None,
    department_ids: list[int] | None = None,
    today: datetime.date | None = None,
) -> Plan:
    """Everything due on or before ``until`` (optionally in these communes and departments),
    by rule; referrals under a legal hold apart."""
    today = today or timezone.localdate()
    age_rule = policy.age_rule_enabled()
    result = Plan(until, age_rule, {rule: [] for rule in APPLIED_RULES})
    scope = Scope(until, today, age_rule, commune_ids, department_ids)
    for item in registry.due_items(scope):
        (result.held if item.held else result.items[item.rule]).append(item)
    return result


def check_trail(using: str = DEFAULT_DB_ALIAS) -> None:
    """The trail must be able to record this run: chain what is pending first. Refused if the
    chaining fails or leaves entries recorded before now unchained."""
    started = timezone.now()
    try:
        sealing.seal_pending(using, drain=True)
    except DatabaseError as exc:
        logger.exception("retention: pending audit entries cannot be chained")
        raise RetentionRefused(
            _(
                "Le journal d'audit a des entrées en attente qu'il ne parvient pas à chaîner "
                "(%(error)s) : rien n'a été modifié. Faites vérifier l'intégrité du journal, "
                "puis relancez."
            )
            % {"error": type(exc).__name__}
        ) from exc
    if PendingEntry.objects.using(using).filter(timestamp__lt=started).exists():
        raise RetentionRefused(
            _(
                "Le journal d'audit garde des entrées en attente qu'il ne parvient pas à "
                "chaîner : rien n'a été modifié. Faites vérifier l'intégrité du journal, puis "
                "relancez."
            )
        )


@contextlib.contextmanager
def run_lock(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """One run at a time (PostgreSQL advisory lock, held by this session until released)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [RUN_LOCK_KEY])
        if not cursor.fetchone()[0]:
            raise RetentionRefused(_("Une application des durées de conservation est en cours."))
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [RUN_LOCK_KEY])


def _batches(items: list[DueItem]) -> Iterator[list[int]]:
    for start in range(0, len(items), BATCH):
        yield [item.pk for item in items[start : start + BATCH]]


@dataclass
class Outcome:
    plan: Plan
    run: RetentionRun | None


def apply(*, dry_run: bool = False, trigger: str = RetentionRun.Trigger.COMMAND) -> Outcome:
    """Apply the rules to what is due today (``dry_run``: only say what would go)."""
    with run_lock():
        check_trail()
        today = timezone.localdate()
        due = plan(today, today=today)
        if dry_run:
            return Outcome(due, None)
        run = RetentionRun.objects.create(
            trigger=trigger,
            results={
                rule.value: {"count": 0, "records": 0, "files": 0, "items": []}
                for rule in APPLIED_RULES
            },
        )
        try:
            for rule in APPLIED_RULES:
                for ids in _batches(due.items[rule]):
                    removed = registry.applier(rule)(ids, today)
                    result = run.results[rule.value]
                    result["count"] += len(removed.labels)
                    result["items"] += removed.labels
                    result["records"] += removed.records
                    result["files"] += removed.files
                    # Progress kept as it goes: a run that dies shows what it did.
                    RetentionRun.objects.filter(pk=run.pk).update(results=run.results)
        except Exception as exc:
            RetentionRun.objects.filter(pk=run.pk).update(
                status=RetentionRun.Status.FAILED,
                finished_at=timezone.now(),
                error=type(exc).__name__[:200],
            )
            _record(run, failed=True)
            raise
        run.held = [item.label for item in due.held]
        _finish(run, due.age_rule)
    return Outcome(due, run)


def _record(run: RetentionRun, *, failed: bool = False) -> None:
    counts = {rule: data.get("count", 0) for rule, data in (run.results or {}).items()}
    files = sum(data.get("files", 0) for data in (run.results or {}).values())
    data = {"run": run.pk, "counts": counts, "held": len(run.held or []), "files": files}
    if failed:
        data["status"] = RetentionRun.Status.FAILED
    record_event(Event.RETENTION, target=run, data=data)


def _finish(run: RetentionRun, age_rule: bool) -> None:
    """Seal the certificate, render its PDF, record the one audit entry: together."""
    run.finished_at = timezone.now()
    run.status = RetentionRun.Status.DONE
    run.text = certificate.certificate_text(run, age_rule=age_rule)
    run.mac = certificate.sign(run.text)
    run.pdf = certificate.render(run)
    with transaction.atomic():
        run.save()
        _record(run)
