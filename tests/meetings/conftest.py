from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "private", "base_url": None},
        },
    }
    return settings.PRIVATE_STORAGE_ROOT
