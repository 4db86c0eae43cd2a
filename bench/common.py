"""What every benchmark shares. Import after ``django.setup()``."""

from __future__ import annotations

from typing import Any

from django.test import Client


def signed_in_client(user: Any, *, host: str = "localhost") -> Client:
    """A test client whose session passed the second factor: ``tests.conftest.login``, the one
    definition of "signed in" that tests and benchmarks share."""
    from tests.conftest import login

    return login(Client(HTTP_HOST=host), user)
