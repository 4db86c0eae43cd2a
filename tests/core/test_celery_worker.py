"""One real Celery task through a real worker on Redis (CI runs it with REDIS_URL set)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL", "")

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(not REDIS_URL, reason="needs REDIS_URL (CI's PostgreSQL run sets it)"),
]


@pytest.fixture
def worker(tmp_path):
    env = {**os.environ, "REDIS_URL": REDIS_URL}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "cmer",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def test_real_task_runs_on_a_real_worker(worker):
    from cmer.celery import app
    from cmer.tasks import ping

    assert app.conf.broker_url.startswith("redis://")
    assert not app.conf.task_always_eager
    result = ping.apply_async()
    assert result.get(timeout=60) == "pong"
    deadline = time.monotonic() + 30
    replies = {}
    while time.monotonic() < deadline and not replies:
        replies = app.control.inspect(timeout=1.0).ping() or {}
    assert replies, "the worker does not answer the control ping"
