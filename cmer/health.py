"""What /healthz reports: a list of named checks, each answering from state already stored.

No check talks to the broker or waits on a process: the worker and beat write their own
heartbeats (cmer.heartbeat), and every check here is one indexed query at most, so a healthy
call takes a few milliseconds and never holds a web worker. A check returns a ``Check``; the
report is ``degraded`` (HTTP 503) as soon as one of them is not ok. Add a check by appending a
function to ``CHECKS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone


@dataclass
class Check:
    ok: bool
    state: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"status": "ok" if self.ok else "degraded", "state": self.state, **self.details}


# Unsent outbox rows are re-sent every minute: one older than this means the broker is down.
OUTBOX_STALE = timedelta(minutes=5)


def check_processes() -> dict[str, Check]:
    """Worker and beat: degraded when silent for more than CMER_HEARTBEAT_STALE_SECONDS."""
    from cmer.outbox.models import Heartbeat

    if not settings.REDIS_URL:
        eager = Check(True, "eager (in-process)")
        return {"worker": eager, "beat": Check(True, "not needed (eager)")}
    now = timezone.now()
    stale = settings.CMER_HEARTBEAT_STALE_SECONDS
    seen = dict(Heartbeat.objects.values_list("name", "seen_at"))
    checks = {}
    for kind in ("worker", "beat"):
        last = seen.get(kind)
        if last is None:
            checks[kind] = Check(False, "never seen")
            continue
        age = max(0, round((now - last).total_seconds()))
        checks[kind] = Check(age <= stale, "ok" if age <= stale else "silent", {"age_seconds": age})
    return checks


def check_outbox() -> dict[str, Check]:
    """Tasks the broker has not taken: degraded when the oldest waits longer than OUTBOX_STALE."""
    from cmer.outbox.models import QueuedTask

    oldest = (
        QueuedTask.objects.filter(sent_at__isnull=True)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if oldest is None:
        return {"outbox": Check(True, "empty")}
    age = max(0, round((timezone.now() - oldest).total_seconds()))
    ok = age <= OUTBOX_STALE.total_seconds()
    return {"outbox": Check(ok, "ok" if ok else "backlog", {"oldest_unsent_seconds": age})}


def check_audit() -> dict[str, Check]:
    """The audit trail (cmer.audit.health, one query): degraded on a failed verification or an
    entry left unchained past AUDIT_PENDING_ALERT_SECONDS."""
    from cmer.audit.health import trail_health

    trail = trail_health()
    details: dict[str, Any] = {"pending": trail.pending_count}
    if trail.oldest_pending_age is not None:
        details["oldest_pending_seconds"] = round(trail.oldest_pending_age)
    return {"audit": Check(trail.ok, trail.state, details)}


# Each returns named checks. The first query also proves the database answers.
CHECKS: list[Callable[[], dict[str, Check]]] = [check_processes, check_outbox, check_audit]


def report() -> tuple[bool, dict[str, Any]]:
    """Run every check. A database error stops the report there: nothing else can be known."""
    results: dict[str, Check] = {}
    try:
        for check in CHECKS:
            results.update(check())
    except Exception as exc:  # database unreachable or broken: fast 503, never a 500
        results["database"] = Check(False, "error", {"error": type(exc).__name__})
    else:
        results["database"] = Check(True, "ok")
    healthy = all(check.ok for check in results.values())
    return healthy, {
        "status": "ok" if healthy else "degraded",
        "checks": {name: check.as_json() for name, check in results.items()},
    }
