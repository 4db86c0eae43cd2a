"""``manage.py check``: an administrator account holding a content role is reported.

``Membership.save`` refuses such a membership and the permission core ignores it; one can still
exist from before the rule, or written around the application (SQL). The check names the
membership ids only (no personal data in the output)."""

from __future__ import annotations

from typing import Any

from django.core.checks import Warning, register
from django.db import DatabaseError

CHECK_ID = "cmer.accounts.W001"


@register("cmer")
def administrators_hold_no_content_role(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    from .models import Membership

    try:
        ids = list(
            Membership.objects.forbidden_for_administrators()
            .order_by("pk")
            .values_list("pk", flat=True)[:50]
        )
    except (DatabaseError, RuntimeError):
        # Before migrate, no database reachable, or database access blocked (the Celery worker's
        # start-up checks under pytest): nothing to inspect, and never a crash at start-up.
        return []
    if not ids:
        return []
    return [
        Warning(
            "An administrator (staff or superuser) account holds a content role; the permission "
            "core ignores it. Set its end date in the admin, or remove the account's staff and "
            "superuser flags.",
            hint=f"Memberships: {', '.join(str(pk) for pk in ids)}",
            id=CHECK_ID,
        )
    ]
