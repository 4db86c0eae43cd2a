"""A worker really killed (SIGKILL) while it builds an attestation zip: the message comes back
to a second worker, whose run finds the first one's lease over and builds the zip (issue 13).

Needs REDIS_URL and PostgreSQL (the workers share the test database): CI's second run.
"""

from __future__ import annotations

import signal

from django.urls import reverse

from tests.conftest import step_up
from tests.core.test_celery_worker import needs_worker, processes, wait_for  # noqa: F401
from training.models import AttestationBundle

from .factories import AttendanceFactory, TraineeFactory, TrainingSessionFactory


@needs_worker
def test_a_bundle_whose_worker_was_killed_is_built_by_the_next(
    world,
    as_user,
    processes,  # noqa: F811 - the fixture imported above
    _private_storage,
):
    session = TrainingSessionFactory(commune=world.tarascon, created_by=world.coordinator)
    for _ in range(40):  # a few seconds of rendering: time to kill the worker mid-build
        AttendanceFactory(session=session, trainee=TraineeFactory(department=world.department))
    # Shortened for the test (6 s visibility, 5 s limit): the lease is then 5.5 s.
    short = {
        "CELERY_VISIBILITY_TIMEOUT": "6",
        "CELERY_TASK_TIME_LIMIT": "5",
        "PRIVATE_STORAGE_ROOT": str(_private_storage),
    }
    first = processes.start("worker", "first.log", **short)
    client = step_up(as_user(world.coordinator))  # asking for the zip needs a fresh code
    response = client.post(reverse("training:bundle_request", args=[session.pk]))
    bundle = AttestationBundle.objects.get()
    assert response["Location"] == reverse("training:bundle_status", args=[bundle.pk])

    wait_for(
        lambda: AttestationBundle.objects.filter(pk=bundle.pk, started_at__isnull=False).exists(),
        60,
        "the first worker to start the build",
    )
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    bundle.refresh_from_db()
    assert bundle.state == AttestationBundle.State.PENDING and bundle.attempts == 1

    processes.start("worker", "second.log", **short)
    wait_for(
        lambda: AttestationBundle.objects.filter(pk=bundle.pk).exclude(state="pending").exists(),
        90,
        "the redelivered build",
    )
    bundle.refresh_from_db()
    assert bundle.state == AttestationBundle.State.READY, processes.log("second.log")[-2000:]
    assert bundle.attempts == 2 and bundle.count == 40
    download = client.get(reverse("training:bundle_download", args=[bundle.pk]))
    assert download.status_code == 200
    assert download.content[:2] == b"PK"
    download.close()
