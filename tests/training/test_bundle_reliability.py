"""Attestation zips never stay "en préparation" for ever (issue 13, point 6).

Finding: a worker killed as a whole left its task unacked for an hour and the bundle stayed
"en préparation". Now a run holds the bundle for a lease shorter than the visibility timeout, a
forgotten bundle is queued again, and one pending too long is failed and can be asked again.
"""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from cmer.outbox.models import QueuedTask
from training import actions
from training.models import AttestationBundle
from training.tasks import build_attestation_bundle, sweep_stale_bundles

from .factories import AttendanceFactory, TraineeFactory, TrainingSessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bundle(world):
    session = TrainingSessionFactory(commune=world.tarascon, created_by=world.coordinator)
    for _ in range(2):
        AttendanceFactory(session=session, trainee=TraineeFactory(department=world.department))
    return AttestationBundle.objects.create(
        session=session, requested_by=world.coordinator, count=2
    )


def ago(**kwargs) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(**kwargs)


def test_the_lease_outlasts_any_run_and_ends_before_a_redelivery():
    lease = actions.BUNDLE_LEASE.total_seconds()
    assert settings.CELERY_TASK_TIME_LIMIT < lease < settings.CELERY_VISIBILITY_TIMEOUT


def test_a_duplicate_message_during_a_live_run_builds_nothing(bundle, monkeypatch):
    AttestationBundle.objects.filter(pk=bundle.pk).update(started_at=ago(seconds=30), attempts=1)
    built = []
    monkeypatch.setattr(actions, "build_bundle", lambda pk: built.append(pk))
    build_attestation_bundle.apply(args=[bundle.pk])
    bundle.refresh_from_db()
    assert built == [] and bundle.attempts == 1
    assert bundle.state == AttestationBundle.State.PENDING


def test_the_redelivered_message_of_a_killed_worker_builds_the_zip(bundle):
    """The killed run started past the lease: the message that comes back builds it."""
    started = timezone.now() - actions.BUNDLE_LEASE - datetime.timedelta(seconds=1)
    AttestationBundle.objects.filter(pk=bundle.pk).update(started_at=started, attempts=1)
    build_attestation_bundle.apply(args=[bundle.pk])
    bundle.refresh_from_db()
    assert bundle.state == AttestationBundle.State.READY
    assert bundle.attempts == 2 and bundle.file


def test_runs_that_keep_dying_end_in_failure(bundle):
    AttestationBundle.objects.filter(pk=bundle.pk).update(
        started_at=ago(hours=1), attempts=actions.BUNDLE_MAX_ATTEMPTS
    )
    build_attestation_bundle.apply(args=[bundle.pk])
    bundle.refresh_from_db()
    assert bundle.state == AttestationBundle.State.FAILED and not bundle.file


def test_a_retry_after_an_io_error_frees_the_lease(bundle, monkeypatch):
    calls = []

    def flaky(pk):
        calls.append(pk)
        if len(calls) == 1:
            raise OSError("disk full")
        return real(pk)

    real = actions.build_bundle
    monkeypatch.setattr(actions, "build_bundle", flaky)
    build_attestation_bundle.apply(args=[bundle.pk], throw=False)  # eager: the retry runs at once
    bundle.refresh_from_db()
    assert len(calls) == 2
    assert bundle.state == AttestationBundle.State.READY and bundle.attempts == 2


def test_an_unexpected_error_fails_the_bundle(bundle, monkeypatch):
    def broken(pk):
        raise ValueError("bad template")

    monkeypatch.setattr(actions, "build_bundle", broken)
    with pytest.raises(ValueError):
        build_attestation_bundle.apply(args=[bundle.pk], throw=True)
    bundle.refresh_from_db()
    assert bundle.state == AttestationBundle.State.FAILED


def test_the_sweep_queues_a_forgotten_bundle_again_once(
    bundle, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(actions, "build_bundle", lambda pk: None)  # the queued run: a no-op
    AttestationBundle.objects.filter(pk=bundle.pk).update(requested_at=ago(minutes=20))
    with django_capture_on_commit_callbacks(execute=False):
        assert sweep_stale_bundles.apply().get() == [0, 1]
        # Not again at the next sweep: the bundle was touched just now.
        assert sweep_stale_bundles.apply().get() == [0, 0]
    queued = QueuedTask.objects.get()
    assert (queued.task_name, queued.args) == ("training.build_attestation_bundle", [bundle.pk])
    bundle.refresh_from_db()
    assert bundle.state == AttestationBundle.State.PENDING
    # The lease is already over: the queued message may run at once.
    assert actions.start_bundle_run(bundle.pk)


def test_the_sweep_fails_a_bundle_pending_for_an_hour(bundle, world):
    AttestationBundle.objects.filter(pk=bundle.pk).update(requested_at=ago(minutes=61))
    ready = AttestationBundle.objects.create(
        session=bundle.session,
        requested_by=world.coordinator,
        state=AttestationBundle.State.READY,
        requested_at=ago(days=3),
    )
    assert actions.sweep_stale_bundles() == (1, 0)
    bundle.refresh_from_db()
    ready.refresh_from_db()
    assert bundle.state == AttestationBundle.State.FAILED and bundle.finished_at
    assert ready.state == AttestationBundle.State.READY


def test_a_fresh_bundle_is_left_alone(bundle):
    assert actions.sweep_stale_bundles() == (0, 0)
    assert not QueuedTask.objects.exists()


def test_a_failed_bundle_says_so_and_offers_a_new_request(bundle, world, as_user):
    AttestationBundle.objects.filter(pk=bundle.pk).update(state=AttestationBundle.State.FAILED)
    from training.models import TrainingSession

    TrainingSession.objects.filter(pk=bundle.session_id).update(status="held")
    client = as_user(world.coordinator)
    page = client.get(reverse("training:bundle_status", args=[bundle.pk])).content.decode()
    assert "a échoué" in page
    assert reverse("training:bundle_request", args=[bundle.session_id]) in page
    assert "data-poll-state" not in page
    detail = client.get(reverse("training:detail", args=[bundle.session_id])).content.decode()
    assert reverse("training:bundle_status", args=[bundle.pk]) in detail


def test_the_status_page_is_get_only(bundle, world, as_user):
    client = as_user(world.coordinator)
    assert client.post(reverse("training:bundle_status", args=[bundle.pk])).status_code == 405
    assert client.get(reverse("training:bundle_status", args=[bundle.pk + 999])).status_code == 404


def test_tasks_queued_by_name_are_registered():
    from cmer.celery import app
    from training import actions, tasks  # noqa: F401 - registers the tasks

    for name in (actions.CONFIRM_IMPORT_TASK, actions.BUILD_BUNDLE_TASK):
        assert name in app.tasks, name
