from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    """Uploaded files and attestation zips go to a temporary private directory."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "private", "base_url": None},
        },
    }
    settings.MEDIA_ROOT = tmp_path / "private"
    return tmp_path / "private"
