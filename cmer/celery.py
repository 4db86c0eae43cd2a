"""Celery app. Without REDIS_URL, tasks run eagerly in-process (CELERY_TASK_ALWAYS_EAGER)."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmer.settings")

app = Celery("cmer")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# cmer/ itself is not an installed app: name its task module explicitly.
app.conf.imports = ("cmer.tasks",)


@setup_logging.connect
def use_django_logging(**kwargs: object) -> None:
    """Worker and beat log through settings.LOGGING (UTC times with offset, like web) instead of
    Celery's own format; --loglevel is then replaced by LOG_LEVEL."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
