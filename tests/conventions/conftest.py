from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_storage(tmp_path, settings):
    """Each test stores signed PDFs in its own temporary private directory."""
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
