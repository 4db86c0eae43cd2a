"""Template context: the charters still to read, named on every page (base.html)."""

from __future__ import annotations

from typing import Any

from cmer.accounts.requests import CmerRequest

from .gates import blocked_scopes


def charter_notice(request: CmerRequest) -> dict[str, Any]:
    """``charter_pending``: True when some scope's content is held back until its charter is
    read (one query, shared with the gate of the view through the user's memo)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or request.path.startswith("/conventions/charte"):
        return {"charter_pending": False}
    return {"charter_pending": bool(blocked_scopes(user, request))}
