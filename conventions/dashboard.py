"""Charter acknowledgements for the DPO's home dashboard (issue 16): per scope of the DPO's
departments, the version in force and how many people acknowledged it. One statement; none
for anyone but a DPO."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from cmer import permissions
from cmer.accounts.models import Role

from .models import CharterVersion


def charter_acknowledgements(user: Any) -> list[dict[str, Any]] | None:
    department_ids = [
        did for did, roles in permissions.role_map(user).by_department.items() if Role.DPO in roles
    ]
    if not department_ids:
        return None
    versions = (
        CharterVersion.objects.filter(
            Q(commune__department_id__in=department_ids) | Q(department_id__in=department_ids)
        )
        .select_related("commune", "department")
        # django-stubs refuses a name declared on the model, Django only a field's (models.py).
        .annotate(acknowledged=Count("acknowledgements"))  # type: ignore[no-redef]
        .order_by("version")
    )
    current: dict[tuple[str, int | None], CharterVersion] = {}
    for version in versions:  # ascending: the last one of each scope is the one in force
        key = ("c", version.commune_id) if version.commune_id else ("d", version.department_id)
        current[key] = version
    return sorted(
        (
            {"scope": str(v.scope), "version": v.version, "acknowledged": v.acknowledged}
            for v in current.values()
        ),
        key=lambda row: row["scope"],
    )
