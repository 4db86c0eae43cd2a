"""One spelling per account for everything that counts login attempts.

django-axes keys its failure counter on the username it is given; the user lookup ignores case
(``UserManager.get_by_natural_key``). Without one normalisation shared by both, each spelling of
an address (``THROWAWAY@…``, `` throwaway@… ``) got its own five tries against the same account.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from django.conf import settings
from django.http import HttpRequest


def normalise_login(value: str | None) -> str:
    """The form of a login identifier that counters and lookups use: NFKC (as Django's username
    field does), surrounding whitespace removed, lower case (as addresses are stored)."""
    return unicodedata.normalize("NFKC", value or "").strip().lower()


def axes_username(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str:
    """AXES_USERNAME_CALLABLE: the normalised identifier, from the credentials given to
    ``authenticate()`` or, when axes has none, from the posted form."""
    field = settings.AXES_USERNAME_FORM_FIELD
    raw = None
    if credentials:
        raw = credentials.get(field) or credentials.get("email")
    if raw is None and request is not None:
        data = getattr(request, "data", None) or getattr(request, "POST", {})
        raw = data.get(field)
    return normalise_login(raw)
