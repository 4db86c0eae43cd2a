"""The DPO's home dashboard (issue 16): the trail's last verification and checkpoint, the age
of the oldest entry not chained yet (``health.trail_health``, shown by the home page already),
and accesses per person over the last 30 days in the DPO's departments — the busiest readers
first, to spot an abnormal consultation. Three statements; none for anyone but a DPO."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max
from django.utils import timezone

from cmer import permissions
from cmer.accounts.models import Role

from .models import AuditCheckpoint, AuditEntry, AuditVerification, Event

WINDOW_DAYS = 30
READERS_SHOWN = 10


@dataclass
class DpoDashboard:
    last_verification: AuditVerification | None = None
    last_checkpoint: AuditCheckpoint | None = None
    readers: list[dict[str, Any]] = field(default_factory=list)
    window_days: int = WINDOW_DAYS


def dpo_dashboard(user: Any) -> DpoDashboard | None:
    department_ids = [
        did for did, roles in permissions.role_map(user).by_department.items() if Role.DPO in roles
    ]
    if not department_ids:
        return None
    since = timezone.now() - datetime.timedelta(days=WINDOW_DAYS)
    readers = list(
        AuditEntry.objects.filter(
            event__in=[Event.ACCESS, Event.ARCHIVE_READ, Event.EXPORT],
            timestamp__gte=since,
            commune__department_id__in=department_ids,
        )
        .order_by()
        .values("actor_email")
        .annotate(reads=Count("id"), last=Max("timestamp"))
        .order_by("-reads", "actor_email")[:READERS_SHOWN]
    )
    return DpoDashboard(
        last_verification=AuditVerification.objects.order_by("-finished_at", "-pk").first(),
        last_checkpoint=AuditCheckpoint.objects.order_by("-created_at", "-pk").first(),
        readers=readers,
    )
