"""What the middleware stack guarantees on a request, written down for the type checker.

Django types ``request.user`` as ``User | AnonymousUser`` and knows nothing of the attributes our
middleware adds. Views behind the login (every view not marked ``login_not_required``:
``LoginRequiredMiddleware``) take an ``AuthenticatedRequest``; code that may also run for an
anonymous visitor keeps ``HttpRequest`` and narrows ``request.user.is_authenticated`` itself.
Annotations only: nothing here changes a request at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from cmer.accounts.models import Commune, Role, User


class CmerRequest(HttpRequest):
    """A request past ``CurrentCommuneMiddleware``: ``commune`` and ``roles`` are always set
    (``None`` and empty for a visitor); ``user_communes`` once the second factor is passed."""

    commune: Commune | None
    roles: set[Role]
    user_communes: list[Commune]
    # Once asked during the request: conventions.gates.blocked_scopes' answer, kept for reuse.
    _cmer_blocked_scopes: object


class AuthenticatedRequest(CmerRequest):
    """A request of a signed-in person (the login is required by default)."""

    user: User
