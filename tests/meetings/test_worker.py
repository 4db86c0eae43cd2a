"""The minutes PDF through a real Celery worker on Redis and PostgreSQL (CI's second run):
built after commit; the approval commits within 2 s with the broker unreachable and the PDF
follows once it is back; a worker killed mid-render leaves the PDF pending, and the stale job
has it built by the next worker, once."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from meetings import actions, tasks
from meetings.models import AgendaItem, MinutesDocument
from tests.meetings.helpers import all_present, hold, plan

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL", "")

pytestmark = [
    pytest.mark.worker,
    pytest.mark.postgres_only,
    pytest.mark.skipif(not REDIS_URL, reason="needs REDIS_URL (CI's PostgreSQL run sets it)"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def start_worker(transactional_db, settings, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the worker process shares the test database: PostgreSQL only")
    db = connection.settings_dict
    database_url = (
        f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    processes = []

    def start() -> subprocess.Popen:
        env = {
            **os.environ,
            "REDIS_URL": REDIS_URL,
            "DATABASE_URL": database_url,
            "PRIVATE_STORAGE_ROOT": str(settings.PRIVATE_STORAGE_ROOT),
        }
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        log = (tmp_path / f"worker{len(processes)}.log").open("wb")
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
        processes.append((process, log))
        return process

    yield start
    for process, log in processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        log.close()


def wait_for(condition, seconds: float = 90) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def reviewed(world, items: int = 1):
    meeting = plan(world)
    for i in range(items):
        actions.do_add_topic(meeting, title=f"Sujet {i}", acting_user=world.referent)
    meeting = hold(meeting, world.referent)
    for item in AgendaItem.objects.filter(meeting=meeting):
        actions.do_save_notes(
            item, notes="Point de situation détaillé. " * 60, acting_user=world.referent
        )
    all_present(meeting, world.referent)
    actions.do_send_for_review(
        meeting, review_until=timezone.localdate(), acting_user=world.referent
    )
    return meeting


def state(document_id: int) -> str:
    return MinutesDocument.objects.get(pk=document_id).state


def test_the_pdf_is_built_by_a_real_worker(world, start_worker):
    from cmer.celery import app

    assert not app.conf.task_always_eager and app.conf.broker_url.startswith("redis://")
    start_worker()
    meeting = reviewed(world)
    document = actions.do_approve_minutes(meeting, acting_user=world.referent)
    assert wait_for(lambda: state(document.pk) == MinutesDocument.State.READY)


def test_approval_with_the_broker_unreachable_then_back(world, start_worker):
    from cmer.celery import app

    meeting = reviewed(world)
    real = app.conf.broker_url

    def reconnect(url: str) -> None:
        # Drop the pooled connections so that the next publish connects to ``url``.
        import kombu.pools

        app.conf.broker_url = url
        app.pool.force_close_all()
        kombu.pools.reset()
        app._pool = None
        app.amqp._producer_pool = None

    reconnect("redis://127.0.0.1:1/9")  # nothing listens there: the broker is down
    try:
        started = time.monotonic()
        document = actions.do_approve_minutes(meeting, acting_user=world.referent)
        assert time.monotonic() - started < 2
    finally:
        reconnect(real)
    from cmer.outbox.models import QueuedTask

    queued = QueuedTask.objects.get(task_name="meetings.build_minutes_pdf")
    assert queued.sent_at is None and state(document.pk) == MinutesDocument.State.PENDING
    start_worker()
    from cmer.queue import resend_unsent

    assert resend_unsent(older_than=datetime.timedelta(0)) == 1
    assert wait_for(lambda: state(document.pk) == MinutesDocument.State.READY)


def test_a_worker_killed_mid_render_leaves_it_pending_and_the_next_one_builds_it(
    world, start_worker
):
    meeting = reviewed(world, items=60)  # long enough to be caught mid-render
    first = start_worker()
    document = actions.do_approve_minutes(meeting, acting_user=world.referent)
    assert wait_for(lambda: MinutesDocument.objects.get(pk=document.pk).attempts >= 1)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    if state(document.pk) != MinutesDocument.State.PENDING:
        pytest.skip("the render finished before the worker could be killed")
    start_worker()
    assert tasks.requeue_stale_documents(older_than_seconds=0) == 1
    assert wait_for(lambda: state(document.pk) == MinutesDocument.State.READY, 180)
    assert MinutesDocument.objects.filter(meeting=meeting).count() == 1
