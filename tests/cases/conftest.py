from __future__ import annotations

import pytest

from cmer.permissions import ALLOWED


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    return settings.PRIVATE_STORAGE_ROOT


@pytest.fixture
def protocol(monkeypatch):
    """Controls the conventions gate: in force unless a test says otherwise."""

    class Gate:
        decision = ALLOWED

    gate = Gate()
    monkeypatch.setattr(
        "conventions.gates.protocol_in_force", lambda commune, on=None, **kwargs: gate.decision
    )
    return gate
