from __future__ import annotations

import pytest

from cmer.permissions import ALLOWED


@pytest.fixture(autouse=True)
def private_storage(tmp_path, settings):
    """Attachments, signed PDFs and training files in this test's own directory."""
    location = tmp_path / "private"
    location.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": location, "base_url": None},
        },
    }
    settings.PRIVATE_STORAGE_ROOT = location
    settings.MEDIA_ROOT = location
    return location


@pytest.fixture
def protocol(monkeypatch):
    monkeypatch.setattr("conventions.gates.protocol_in_force", lambda commune, on=None: ALLOWED)
