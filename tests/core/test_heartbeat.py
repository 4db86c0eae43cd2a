"""Heartbeats of worker and beat, the container checks, and the Celery limits (issue 13)."""

from __future__ import annotations

import time

import pytest
from django.conf import settings as django_settings

from cmer import healthcheck, heartbeat
from cmer.outbox.models import Heartbeat


@pytest.fixture
def heartbeat_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CMER_HEARTBEAT_DIR", str(tmp_path))
    return tmp_path


@pytest.mark.django_db(transaction=True)
def test_record_writes_the_row_and_the_file(heartbeat_dir):
    assert heartbeat.record("worker")
    row = Heartbeat.objects.get(name="worker")
    first = row.seen_at
    assert (heartbeat_dir / "cmer-worker.heartbeat").exists()
    time.sleep(0.01)
    assert heartbeat.record("worker")
    assert Heartbeat.objects.get(name="worker").seen_at > first
    assert Heartbeat.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_database_error_never_stops_the_process(heartbeat_dir, monkeypatch):
    from django.db import OperationalError
    from django.db.models.query import QuerySet

    def down(*args, **kwargs):
        raise OperationalError("gone")

    monkeypatch.setattr(QuerySet, "update", down)
    assert heartbeat.record("beat") is False
    assert (heartbeat_dir / "cmer-beat.heartbeat").exists()


def test_container_check_reads_the_file_age(heartbeat_dir, capsys):
    import os

    assert healthcheck.main(["worker"]) == 1  # never written
    path = heartbeat_dir / "cmer-worker.heartbeat"
    path.touch()
    assert healthcheck.main(["worker", "90"]) == 0
    old = time.time() - 200
    os.utime(path, (old, old))
    assert healthcheck.main(["worker", "90"]) == 1
    assert "200 s" in capsys.readouterr().out
    assert healthcheck.main(["nonsense"]) == 2


@pytest.mark.django_db(transaction=True)
def test_beat_scheduler_writes_its_heartbeat_from_its_loop(heartbeat_dir, tmp_path, monkeypatch):
    from cmer.celery import app

    monkeypatch.setenv("CMER_WORKER_WATCHDOG_SECONDS", "0")  # no thread in the test process
    monkeypatch.setattr(heartbeat.Watchdog, "last_beat", 0.0)

    scheduler = heartbeat.HeartbeatScheduler(
        app=app, schedule_filename=str(tmp_path / "schedule"), lazy=True
    )
    scheduler.setup_schedule()
    delay = scheduler.tick()
    assert Heartbeat.objects.filter(name="beat").exists()
    assert 0 < delay <= django_settings.CMER_HEARTBEAT_SECONDS
    assert heartbeat.Watchdog.last_beat > 0  # each tick feeds the watchdog
    assert heartbeat.Watchdog._thread is None
    scheduler.close()


@pytest.mark.django_db(transaction=True)
def test_worker_step_beats_on_start_and_stops_with_the_consumer(heartbeat_dir, monkeypatch):
    monkeypatch.setenv("CMER_WORKER_WATCHDOG_SECONDS", "0")  # no thread in the test process

    class Timer:
        def __init__(self):
            self.calls = []

        def call_repeatedly(self, interval, fun):
            self.calls.append((interval, fun))
            return type("Ref", (), {"cancel": lambda self: setattr(self, "cancelled", True)})()

    consumer = type("Consumer", (), {"timer": Timer()})()
    step = heartbeat.WorkerHeartbeat(consumer)
    step.start(consumer)
    assert Heartbeat.objects.filter(name="worker").exists()
    assert consumer.timer.calls[0][0] == django_settings.CMER_HEARTBEAT_SECONDS
    tref = step.tref
    step.stop(consumer)
    assert tref.cancelled and step.tref is None


def test_watchdog_ends_a_process_whose_consumer_went_silent(monkeypatch):
    exits = []
    monkeypatch.setenv("CMER_WORKER_WATCHDOG_SECONDS", "4")
    monkeypatch.setattr(heartbeat.os, "_exit", lambda code: exits.append(code) or _stop())
    monkeypatch.setattr(heartbeat.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(heartbeat.Watchdog, "last_beat", time.monotonic() - 5)

    class Stop(Exception):
        pass

    def _stop():
        raise Stop

    with pytest.raises(Stop):
        heartbeat.Watchdog._run()
    assert exits == [70]


def test_celery_limits_redeliver_a_killed_workers_task_within_ten_minutes():
    """Finding: a worker killed as a whole left its task unacked for an hour (3,600 s)."""
    from cmer.celery import app

    options = app.conf.broker_transport_options
    sweep = options["unacked_restore_interval"] * options["unacked_restore_throttle"]
    assert options["visibility_timeout"] + sweep <= 600
    assert app.conf.task_soft_time_limit < app.conf.task_time_limit
    assert app.conf.task_time_limit < options["visibility_timeout"]
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert app.conf.worker_prefetch_multiplier == 1


def test_no_result_backend():
    """Finding: the Redis result backend retried 20 x 1 s inside the request (19 s)."""
    from cmer.celery import app

    assert app.conf.result_backend is None
    assert app.conf.task_ignore_result
    assert all(
        task.ignore_result for name, task in app.tasks.items() if not name.startswith("celery.")
    )


def test_publishing_gives_up_within_two_seconds():
    from cmer.celery import app
    from cmer.queue import RETRY_POLICY

    options = app.conf.broker_transport_options
    attempts = 1 + RETRY_POLICY["max_retries"]
    worst = attempts * max(options["socket_connect_timeout"], options["socket_timeout"])
    assert worst + RETRY_POLICY["interval_start"] <= 2


def test_the_worker_runs_the_heartbeat_step():
    from cmer.celery import app

    assert heartbeat.WorkerHeartbeat in app.steps["consumer"]
    assert app.conf.beat_scheduler == "cmer.heartbeat:HeartbeatScheduler"


def test_every_task_retries_and_holds_messages_below_the_visibility_timeout():
    """A retry countdown or a run longer than the visibility timeout would get the message
    handed to a second worker while the first still holds it."""
    from cmer.celery import app

    app.loader.import_default_modules()
    visibility = app.conf.broker_transport_options["visibility_timeout"]
    checked: list[str] = []
    for name, task in app.tasks.items():
        if name.startswith("celery.") or not task.acks_late:
            continue
        if getattr(task, "autoretry_for", ()):
            if getattr(task, "retry_backoff", False):
                assert task.retry_backoff_max < visibility, name
            assert task.default_retry_delay < visibility, name
            checked.append(name)
        limit = task.time_limit or app.conf.task_time_limit
        assert limit < visibility, name
    assert "cases.tasks.notify_referents" in checked
    assert "training.build_attestation_bundle" in checked
