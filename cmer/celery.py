"""Celery app. Without REDIS_URL, tasks run eagerly in-process (CELERY_TASK_ALWAYS_EAGER)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmer.settings")

app = Celery("cmer")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# cmer/ itself is not an installed app: name its task module explicitly.
app.conf.imports = ("cmer.tasks",)
