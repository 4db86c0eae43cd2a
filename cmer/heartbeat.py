"""Heartbeats of the worker and of beat: the state /healthz reads, and the containers' checks.

Each process writes its own sign of life every CMER_HEARTBEAT_SECONDS, in two places:

- a ``cmer.outbox.Heartbeat`` row ("worker" / "beat"), read by /healthz with one query (no
  broker round trip: the old ``inspect().ping()`` held a web worker for a second per call);
- a local file, whose age the container healthcheck reads without Django, database or Redis:
  ``python -m cmer.healthcheck worker`` exits 1 when it is older than the stale limit.

The worker writes from a step of its *consumer*, on the consumer's event-loop timer: the step is
stopped while the consumer is disconnected from Redis and the timer does not fire while the
event loop is stuck, so a dead consumer goes silent even though its process lives. A watchdog
thread then ends that process (``CMER_WORKER_WATCHDOG_SECONDS``, default 300) so that the
supervisor (compose ``restart:``) starts a fresh one; its unacknowledged task comes back after
the visibility timeout. Beat writes from its scheduler loop (``HeartbeatScheduler``).
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from celery import bootsteps
from celery.beat import PersistentScheduler

logger = logging.getLogger(__name__)

KINDS = ("worker", "beat")


def heartbeat_file(kind: str) -> Path:
    directory = os.environ.get("CMER_HEARTBEAT_DIR") or tempfile.gettempdir()
    return Path(directory) / f"cmer-{kind}.heartbeat"


def record(kind: str) -> bool:
    """Write ``kind``'s heartbeat (file, then database row). Never raises: returns success."""
    from django.db import close_old_connections, connection
    from django.utils import timezone

    from cmer.outbox.models import Heartbeat

    try:
        heartbeat_file(kind).touch()
    except OSError:
        logger.warning("Heartbeat file of %s not writable", kind)
    close_old_connections()
    try:
        now = timezone.now()
        hostname = socket.gethostname()[:200]
        if not Heartbeat.objects.filter(name=kind).update(seen_at=now, hostname=hostname):
            Heartbeat.objects.update_or_create(
                name=kind, defaults={"seen_at": now, "hostname": hostname}
            )
    except Exception as exc:  # database down: /healthz says so by itself
        logger.warning("Heartbeat of %s not recorded: %s", kind, type(exc).__name__)
        return False
    finally:
        # A long-lived process must not keep a connection a database restart broke, nor hand an
        # open one to the pool processes it forks later.
        connection.close()
    return True


def file_age(kind: str) -> float | None:
    try:
        return time.time() - heartbeat_file(kind).stat().st_mtime
    except OSError:
        return None


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Consumer step: heartbeat every CMER_HEARTBEAT_SECONDS while the consumer is connected."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        from django.conf import settings

        super().__init__(parent, **kwargs)
        self.interval = float(settings.CMER_HEARTBEAT_SECONDS)
        self.tref: Any = None
        Watchdog.ensure_started()

    def start(self, parent: Any) -> None:
        self._beat()
        self.tref = parent.timer.call_repeatedly(self.interval, self._beat)

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    shutdown = stop

    def _beat(self) -> None:
        Watchdog.last_beat = time.monotonic()
        record("worker")


class Watchdog:
    """Ends a worker whose consumer, or a beat whose scheduler loop, has been silent for too long
    (CMER_WORKER_WATCHDOG_SECONDS, default 300, 0 = never), so that the supervisor restarts it.
    One process is either a worker or beat: the state is the process's own."""

    last_beat = time.monotonic()
    _thread: threading.Thread | None = None

    @classmethod
    def limit(cls) -> float:
        return float(os.environ.get("CMER_WORKER_WATCHDOG_SECONDS") or 300)

    @classmethod
    def ensure_started(cls) -> None:
        if cls._thread is not None or cls.limit() <= 0:
            return
        cls.last_beat = time.monotonic()
        cls._thread = threading.Thread(target=cls._run, name="cmer-watchdog", daemon=True)
        cls._thread.start()

    @classmethod
    def _run(cls) -> None:
        limit = cls.limit()
        while True:
            time.sleep(min(15.0, limit / 4))
            silent = time.monotonic() - cls.last_beat
            if silent > limit:
                logger.critical(
                    "Celery loop silent for %.0f s: exiting so that the supervisor restarts it",
                    silent,
                )
                for handler in logging.getLogger().handlers:
                    handler.flush()
                os._exit(70)


class HeartbeatScheduler(PersistentScheduler):
    """Beat's scheduler, plus a heartbeat every CMER_HEARTBEAT_SECONDS from its own loop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from django.conf import settings

        self.heartbeat_interval = float(settings.CMER_HEARTBEAT_SECONDS)
        self._last_heartbeat = float("-inf")
        super().__init__(*args, **kwargs)
        Watchdog.ensure_started()

    def tick(self, *args: Any, **kwargs: Any) -> float:
        now = time.monotonic()
        Watchdog.last_beat = now
        if now - self._last_heartbeat >= self.heartbeat_interval:
            self._last_heartbeat = now
            record("beat")
        delay = super().tick(*args, **kwargs)
        return min(delay, max(0.0, self._last_heartbeat + self.heartbeat_interval - now))
