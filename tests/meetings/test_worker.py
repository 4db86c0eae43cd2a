"""The minutes PDF, the invitations and the reminders through a real Celery worker on Redis and
PostgreSQL (CI's second run): invitations with their .ics and one reminder sent by the worker,
once, without case detail; the PDF built after commit; the approval commits within 2 s with
the broker unreachable and the PDF follows once it is back; a worker killed mid-render leaves
the PDF pending, and the stale job has it built by the next worker, once."""

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

    def start(**extra_env: str) -> subprocess.Popen:
        env = {
            **os.environ,
            "REDIS_URL": REDIS_URL,
            "DATABASE_URL": database_url,
            "PRIVATE_STORAGE_ROOT": str(settings.PRIVATE_STORAGE_ROOT),
            **extra_env,
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


def test_invitations_and_a_reminder_are_sent_by_a_real_worker_once(world, start_worker, tmp_path):
    from cases.models import Referral
    from meetings.models import ActionItem, Invitation
    from tests.cases.helpers import file_referral

    outbox = tmp_path / "mail"
    outbox.mkdir()
    start_worker(
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(outbox),
    )
    referral = file_referral(world.agent, world.tarascon)
    meeting = plan(world)  # commits: the outbox sends the task, the worker sends the e-mails
    actions.do_add_referral_item(meeting, reference=referral.reference, acting_user=world.referent)
    assert wait_for(
        lambda: not Invitation.objects.filter(meeting=meeting, notified_sequence__lt=0).exists()
    )
    meeting = hold(meeting, world.referent)
    action = actions.do_add_action_item(
        meeting,
        what="Rencontrer la famille",
        owner=world.member,
        due_on=timezone.localdate() + datetime.timedelta(days=1),
        acting_user=world.referent,
    )
    assert tasks.plan_action_reminders() == 1
    assert wait_for(
        lambda: ActionItem.objects.filter(pk=action.pk, reminder_sent_at__isnull=False).exists()
    )
    assert tasks.plan_action_reminders() == 0  # once
    time.sleep(1)
    import email
    from email.header import decode_header, make_header

    raw = b"\n".join(path.read_bytes() for path in outbox.iterdir())
    parsed = [email.message_from_bytes(part.lstrip()) for part in raw.split(b"\n" + b"-" * 79)]
    parsed = [m for m in parsed if m["Subject"]]
    subjects = [str(make_header(decode_header(m["Subject"]))) for m in parsed]
    ours = [
        (m, subject)
        for m, subject in zip(parsed, subjects, strict=True)
        if "réunion" in subject or "action" in subject
    ]
    invitations = [m for m, subject in ours if "Invitation" in subject]
    assert sorted(m["To"] for m in invitations) == sorted(
        [world.referent.email, world.member.email, world.liaison.email]
    )
    assert all(any(p.get_content_type() == "text/calendar" for p in m.walk()) for m in invitations)
    reminders = [m for m, subject in ours if "action" in subject]
    assert [m["To"] for m in reminders] == [world.member.email]  # once, to the owner
    identity = Referral.objects.get(pk=referral.pk)
    for m, subject in ours:
        text = subject + "".join(
            p.get_payload(decode=True).decode(p.get_content_charset() or "utf-8")
            for p in m.walk()
            if not p.is_multipart()
        )
        assert "Bonjour" in text
        for secret in (referral.reference, identity.surname, identity.first_names, "famille"):
            assert secret not in text
