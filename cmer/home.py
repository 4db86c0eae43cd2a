"""What the apps add to the home page of a signed-in user, so that the core's home view imports
no app: each app registers a provider from its ``AppConfig.ready()``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_PROVIDERS: dict[str, Callable[[Any], Any]] = {}


def register_home_context(name: str, provider: Callable[[Any], Any]) -> None:
    """``provider(user)`` gives the home template's variable ``name`` (one query at most)."""
    if name in _PROVIDERS and _PROVIDERS[name] is not provider:
        raise ValueError(f"home context {name!r} is already provided")
    _PROVIDERS[name] = provider


def home_context(user: Any) -> dict[str, Any]:
    return {name: provider(user) for name, provider in _PROVIDERS.items()}
