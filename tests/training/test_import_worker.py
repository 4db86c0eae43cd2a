"""The attendance import confirmed through a real Celery worker (issue 13): the request only
queues it; the worker applies 10,000 rows, once; a worker killed mid-import leaves nothing and
the redelivered message applies it.

Needs REDIS_URL and PostgreSQL (the worker shares the test database): CI's second run.
"""

from __future__ import annotations

import signal
import time

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.core.test_celery_worker import needs_worker, processes, wait_for  # noqa: F401
from training.models import Attendance, AttendanceImport, Trainee

from .factories import TrainingSessionFactory


def big_csv(rows: int) -> bytes:
    lines = ["Nom;Prénom;Service;Courriel;Présent"]
    lines += [f"Nom{i};Prénom{i};Service {i % 12};p{i}@tarascon.test;oui" for i in range(rows)]
    return ("\r\n".join(lines) + "\r\n").encode()


def stage(client, session, rows):
    response = client.post(
        reverse("training:import_upload", args=[session.pk]),
        {"file": SimpleUploadedFile("grand.csv", big_csv(rows))},
    )
    assert response.status_code == 302
    return AttendanceImport.objects.latest("pk")


def locked_by_a_run(import_id: int) -> bool:
    """Whether another connection holds the import's row lock (a run inside its transaction)."""
    from django.db import DatabaseError, transaction

    try:
        with transaction.atomic():
            AttendanceImport.objects.select_for_update(nowait=True).filter(pk=import_id).exists()
    except DatabaseError:
        return True
    return False


@needs_worker
def test_the_worker_applies_a_confirmed_import_and_the_request_does_not(
    world,
    as_user,
    processes,  # noqa: F811 - the fixture imported above
    _private_storage,
):
    session = TrainingSessionFactory(commune=world.tarascon, created_by=world.coordinator)
    client = as_user(world.coordinator)
    staged = stage(client, session, 10_000)
    started = time.monotonic()
    response = client.post(reverse("training:import_confirm", args=[staged.pk]))
    elapsed = time.monotonic() - started
    assert response["Location"] == reverse("training:import_status", args=[staged.pk])
    assert elapsed < 2.0, f"the request took {elapsed:.1f} s"
    processes.start("worker", "worker.log", PRIVATE_STORAGE_ROOT=str(_private_storage))
    wait_for(
        lambda: AttendanceImport.objects.filter(pk=staged.pk, state="confirmed").exists(),
        120,
        "the worker to apply the import",
    )
    assert Attendance.objects.filter(session=session).count() == 10_000
    page = client.get(reverse("training:import_status", args=[staged.pk])).content.decode()
    assert "10 000 présences ajoutées" in page or "10000 présences ajoutées" in page


@needs_worker
def test_a_worker_killed_mid_import_leaves_nothing_and_the_next_one_applies_it(
    world,
    as_user,
    processes,  # noqa: F811
    _private_storage,
):
    session = TrainingSessionFactory(commune=world.tarascon, created_by=world.coordinator)
    client = as_user(world.coordinator)
    staged = stage(client, session, 20_000)
    short = {"CELERY_VISIBILITY_TIMEOUT": "6", "CELERY_TASK_TIME_LIMIT": "5"}
    first = processes.start(
        "worker", "first.log", PRIVATE_STORAGE_ROOT=str(_private_storage), **short
    )
    client.post(reverse("training:import_confirm", args=[staged.pk]))
    # Kill it while it works: the run holds the import row's lock for its whole transaction.
    wait_for(lambda: locked_by_a_run(staged.pk), 60, "the first worker to start the import")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    # All or nothing: the killed run's transaction left no row behind.
    wait_for(lambda: not locked_by_a_run(staged.pk), 30, "PostgreSQL to end the killed run")
    staged.refresh_from_db()
    assert staged.state == AttendanceImport.State.CONFIRMING
    assert not Attendance.objects.filter(session=session).exists()
    assert not Trainee.objects.exists()
    processes.start("worker", "second.log", PRIVATE_STORAGE_ROOT=str(_private_storage), **short)
    wait_for(
        lambda: AttendanceImport.objects.filter(pk=staged.pk, state="confirmed").exists(),
        120,
        "the redelivered import",
    )
    assert Attendance.objects.filter(session=session).count() == 20_000
    assert Trainee.objects.count() == 20_000
