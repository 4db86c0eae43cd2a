from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from cmer.accounts.models import Role


def cmer(request: HttpRequest) -> dict[str, Any]:
    roles: set[Role] = getattr(request, "roles", set())
    return {
        "current_commune": getattr(request, "commune", None),
        "user_communes": getattr(request, "user_communes", []),
        "current_roles": sorted((Role(r).label for r in roles), key=str),
        "role_codes": {str(r) for r in roles},
    }
