"""The audit trail's state in one place: for /healthz, the DPO's home and integrity page, alerts.

``trail_health()`` costs one small query (the pending table holds seconds of entries; the
latest verification by its ordering index), so /healthz (``cmer.health``) calls it on every
probe. The trail is
*failing* when the latest verification found a problem, or when an entry has waited longer than
``AUDIT_PENDING_ALERT_SECONDS`` (default 300) to be chained (sealing stopped: beat down, the
sealing function refused, the chain lock held).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from functools import cached_property

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .models import AuditVerification, PendingEntry

logger = logging.getLogger(__name__)

OK = "ok"
VERIFICATION_FAILED = "verification_failed"
PENDING_TOO_OLD = "pending_too_old"
UNKNOWN = "unknown"


def pending_alert_seconds() -> int:
    return int(getattr(settings, "AUDIT_PENDING_ALERT_SECONDS", 300))


@dataclass(frozen=True)
class TrailHealth:
    """What is known of the trail now. ``problems`` lists the codes above (empty when ok)."""

    pending_count: int
    oldest_pending_at: datetime.datetime | None
    oldest_pending_age: float | None  # seconds
    pending_alert_after: int  # seconds
    verification_id: int | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def verification_failed(self) -> bool:
        return VERIFICATION_FAILED in self.problems

    @property
    def pending_too_old(self) -> bool:
        return PENDING_TOO_OLD in self.problems

    @property
    def state(self) -> str:
        """One word for /healthz: ``ok`` or the first problem."""
        return self.problems[0] if self.problems else OK

    @cached_property
    def verification(self) -> AuditVerification | None:
        """The latest verification (pages only: /healthz needs no more than the one query)."""
        if self.verification_id is None:
            return None
        return AuditVerification.objects.filter(pk=self.verification_id).first()


def trail_health(using: str = DEFAULT_DB_ALIAS) -> TrailHealth:
    """The trail's state in one query; a database error is ``unknown`` (a problem), never an
    exception."""
    alert_after = pending_alert_seconds()
    pending = PendingEntry._meta.db_table
    verifications = AuditVerification._meta.db_table
    latest = f"FROM {verifications} ORDER BY finished_at DESC, id DESC LIMIT 1"
    try:
        with connections[using].cursor() as cursor:
            # Scalar subqueries: one row even when both tables are empty.
            cursor.execute(
                f"SELECT (SELECT COUNT(*) FROM {pending}), "  # noqa: S608 (our table names)
                f"(SELECT MIN(timestamp) FROM {pending}), (SELECT id {latest}), "
                f"(SELECT CASE WHEN ok THEN 0 ELSE 1 END {latest})"
            )
            count, oldest, verification_id, failed = cursor.fetchone()
    except Exception:
        logger.exception("audit: the trail's state could not be read")
        return TrailHealth(0, None, None, alert_after, None, (UNKNOWN,))
    if isinstance(oldest, str):  # SQLite: naive UTC text
        parsed = parse_datetime(oldest)
        if parsed is None:
            raise ValueError(f"audit: unreadable timestamp {oldest!r}")
        oldest = parsed.replace(tzinfo=datetime.UTC)
    state = {"count": count, "oldest": oldest, "verification_id": verification_id}
    state["verification_failed"] = failed
    oldest = state["oldest"]
    age = (timezone.now() - oldest).total_seconds() if oldest is not None else None
    problems = []
    if state["verification_failed"]:
        problems.append(VERIFICATION_FAILED)
    if age is not None and age > alert_after:
        problems.append(PENDING_TOO_OLD)
    return TrailHealth(
        state["count"], oldest, age, alert_after, state["verification_id"], tuple(problems)
    )


def problem_label(problem: str, position: int | None) -> str:
    """A verification problem in plain French, for the DPO (the stored message is technical)."""
    from django.utils.translation import gettext as _

    from .verification import Problem

    labels = {
        Problem.ALTERED: _("L'entrée n° %(position)s a été modifiée après son enregistrement."),
        Problem.INSERTED: _("L'entrée n° %(position)s a été insérée hors de la chaîne."),
        Problem.REMOVED: _("Des entrées manquent à partir du n° %(position)s (suppression)."),
        Problem.REWRITTEN: _(
            "La chaîne diffère d'un point de contrôle signé au n° %(position)s : elle a été "
            "réécrite."
        ),
        Problem.FORGED_CHECKPOINT: _("Un point de contrôle porte un sceau invalide."),
        Problem.FORK: _("La chaîne bifurque au n° %(position)s (deux entrées à la même place)."),
        Problem.DUPLICATE_ID: _(
            "Une entrée en attente réutilise l'identifiant de l'entrée n° %(position)s : elle ne "
            "pourra jamais être chaînée."
        ),
        Problem.SEAL_FAILED: _(
            "Le chaînage des entrées en attente a échoué après le n° %(position)s."
        ),
        Problem.UNREADABLE: _("L'entrée n° %(position)s n'a pas pu être lue."),
    }
    label = labels.get(problem, _("Anomalie au n° %(position)s."))
    return label % {"position": position if position is not None else "—"}
