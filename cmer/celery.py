"""Celery app. Without REDIS_URL, tasks run eagerly in-process (CELERY_TASK_ALWAYS_EAGER).

Reliability (settings "Celery"): no result backend, acks after the task with redelivery of a
killed worker's task within the visibility timeout, time limits below it, idempotent effects
(cmer.outbox.effects), heartbeats of the worker and beat for /healthz (cmer.heartbeat).
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import setup_logging

from cmer.heartbeat import WorkerHeartbeat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmer.settings")

app = Celery("cmer")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# cmer/ itself is not an installed app: name its task module explicitly.
app.conf.imports = ("cmer.tasks",)
app.steps["consumer"].add(WorkerHeartbeat)


@setup_logging.connect
def use_django_logging(**kwargs: object) -> None:
    """Worker and beat log through settings.LOGGING (UTC times with offset, like web) instead of
    Celery's own format; --loglevel is then replaced by LOG_LEVEL."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
