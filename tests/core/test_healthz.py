"""/healthz answers from the heartbeats the processes write, never from the broker (issue 13)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from cmer.outbox.models import Heartbeat, QueuedTask


@pytest.fixture
def broker_configured(settings, monkeypatch):
    """As in production (REDIS_URL set), with every road to Redis cut: the view must not use it."""
    import redis
    from celery.app.control import Inspect

    from cmer.celery import app

    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    def forbidden(*args, **kwargs):
        raise AssertionError("/healthz must not talk to the broker")

    monkeypatch.setattr(redis.Redis, "execute_command", forbidden)
    monkeypatch.setattr(Inspect, "_request", forbidden)
    monkeypatch.setattr(app, "connection_for_read", forbidden)
    monkeypatch.setattr(app, "connection_for_write", forbidden)


def beat_at(kind: str, seconds_ago: float) -> None:
    Heartbeat.objects.update_or_create(
        name=kind, defaults={"seen_at": timezone.now() - timedelta(seconds=seconds_ago)}
    )


@pytest.mark.django_db
def test_fresh_heartbeats_answer_200_in_three_queries(
    client, broker_configured, django_assert_max_num_queries
):
    beat_at("worker", 20)
    beat_at("beat", 5)
    with django_assert_max_num_queries(3):  # heartbeats, outbox, audit trail
        response = client.get("/healthz")
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "ok"
    worker = data["checks"]["worker"]
    assert worker["status"] == "ok" and worker["state"] == "ok"
    assert 20 <= worker["age_seconds"] <= 22
    assert data["checks"]["beat"]["status"] == "ok"
    assert data["checks"]["database"]["status"] == "ok"
    assert data["checks"]["outbox"] == {"status": "ok", "state": "empty"}
    assert data["checks"]["audit"] == {"status": "ok", "state": "ok", "pending": 0}


@pytest.mark.django_db
def test_a_stopped_worker_is_degraded(client, broker_configured):
    """Finding: with the worker stopped /healthz answered 200 "worker": "none", "status": "ok"."""
    beat_at("worker", 121)
    beat_at("beat", 5)
    response = client.get("/healthz")
    assert response.status_code == 503
    data = response.json()
    assert data["status"] == "degraded"
    assert data["checks"]["worker"]["state"] == "silent"
    assert data["checks"]["worker"]["age_seconds"] >= 121
    assert data["checks"]["beat"]["status"] == "ok"


@pytest.mark.django_db
def test_a_stopped_beat_is_degraded(client, broker_configured):
    """Finding: beat was not reported at all."""
    beat_at("worker", 1)
    beat_at("beat", 300)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["beat"]["state"] == "silent"


@pytest.mark.django_db
def test_a_process_never_seen_is_degraded(client, broker_configured):
    beat_at("beat", 1)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == {"status": "degraded", "state": "never seen"}


@pytest.mark.django_db
def test_just_under_two_minutes_is_still_ok(client, broker_configured):
    beat_at("worker", 115)
    beat_at("beat", 115)
    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_an_outbox_backlog_is_degraded(client, broker_configured):
    """Tasks the broker has not taken for 5 minutes: the outbox cannot deliver."""
    beat_at("worker", 1)
    beat_at("beat", 1)
    QueuedTask.objects.create(task_name="x", created_at=timezone.now() - timedelta(minutes=4))
    assert client.get("/healthz").status_code == 200
    QueuedTask.objects.create(task_name="x", created_at=timezone.now() - timedelta(minutes=6))
    QueuedTask.objects.create(
        task_name="x",
        created_at=timezone.now() - timedelta(hours=2),
        sent_at=timezone.now(),
    )
    response = client.get("/healthz")
    assert response.status_code == 503
    outbox = response.json()["checks"]["outbox"]
    assert outbox["state"] == "backlog" and 355 <= outbox["oldest_unsent_seconds"] <= 365


@pytest.mark.django_db
def test_eager_mode_has_no_worker_to_watch(client, settings):
    settings.REDIS_URL = ""
    response = client.get("/healthz")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["worker"]["state"] == "eager (in-process)"
    assert set(checks) == {"worker", "beat", "outbox", "audit", "database"}


@pytest.mark.django_db
def test_database_down_is_a_fast_503(client, broker_configured, monkeypatch):
    from django.db import OperationalError
    from django.db.models.query import QuerySet

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(QuerySet, "__iter__", down)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {
        "status": "degraded",
        "state": "error",
        "error": "OperationalError",
    }


@pytest.mark.django_db
def test_healthz_answers_within_50_ms(client, broker_configured):
    beat_at("worker", 1)
    beat_at("beat", 1)
    client.get("/healthz")  # URL resolver, imports
    timings = []
    for _ in range(20):
        start = time.perf_counter()
        assert client.get("/healthz").status_code == 200
        timings.append(time.perf_counter() - start)
    timings.sort()
    assert timings[len(timings) // 2] < 0.050, timings


@pytest.mark.django_db
def test_live_answers_from_the_process_alone(client, broker_configured, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz?live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_healthz_needs_no_login_and_only_get(client):
    assert client.post("/healthz").status_code == 405
    assert client.get("/healthz").status_code in {200, 503}
