"""Loud failures: a verification never raises, a failed one is never signed and alerts (e-mail to
the DPOs, /healthz 503, the DPO's home and integrity page in red); entries left unchained past
AUDIT_PENDING_ALERT_SECONDS are an alert too."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.db import DatabaseError, connection
from django.urls import reverse
from django.utils import timezone

from cmer.audit import health, sealing, tasks, verification
from cmer.audit.core import record_event
from cmer.audit.models import AuditCheckpoint, AuditVerification, Event
from tests.audit.helpers import make_entries, recorded_at, seal, tampering

pytestmark = pytest.mark.django_db


def _break_the_chain() -> int:
    target = make_entries(3)[1].position
    with tampering() as cursor:
        cursor.execute(
            "UPDATE audit_auditentry SET object_repr = 'TAR-2026-9999' WHERE position = %s",
            [target],
        )
    return target


def test_a_failed_verification_is_not_signed_and_alerts_the_dpos(world, client, as_user):
    target = _break_the_chain()
    checkpoints = AuditCheckpoint.objects.count()
    assert tasks.daily_checkpoint() is None
    assert AuditCheckpoint.objects.count() == checkpoints  # nothing signed
    last = AuditVerification.objects.first()
    assert (last.ok, last.problem, last.problem_position) == (False, "altered", target)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [world.dpo.email]
    assert str(target) in mail.outbox[0].body
    assert "TAR-2026-9999" not in mail.outbox[0].body
    # /healthz says so, and so do the DPO's home and integrity page, in red.
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["audit"]["state"] == "verification_failed"
    dpo = as_user(world.dpo)
    home = dpo.get("/").content.decode()
    assert 'data-testid="trail-alert"' in home
    page = dpo.get(reverse("audit:integrity")).content.decode()
    assert 'data-testid="trail-alert"' in page
    assert f"L&#x27;entrée n° {target} a été modifiée" in page
    # Nobody else's home shows it.
    assert 'data-testid="trail-alert"' not in as_user(world.referent).get("/").content.decode()


def test_a_clean_verification_is_signed(world, client):
    make_entries(2)
    pk = tasks.daily_checkpoint()
    assert AuditCheckpoint.objects.get(pk=pk).kind == AuditCheckpoint.Kind.DAILY
    assert AuditVerification.objects.first().ok
    assert health.trail_health().ok
    response = client.get("/healthz")
    assert response.json()["checks"]["audit"]["state"] == "ok"


def test_entries_left_unchained_too_long_are_an_alert(world, client, as_user, settings):
    settings.AUDIT_PENDING_ALERT_SECONDS = 120
    seal()
    with recorded_at(timezone.now() - datetime.timedelta(minutes=3)):
        record_event(Event.ACCESS, actor=world.dpo, data={"what": "old"})
    state = health.trail_health()
    assert state.pending_too_old and state.oldest_pending_age > 120
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["audit"]["state"] == "pending_too_old"
    page = as_user(world.dpo).get(reverse("audit:integrity")).content.decode()
    assert 'data-testid="pending-stale"' in page
    assert 'data-testid="pending-age"' in page
    seal()
    assert health.trail_health().ok
    assert client.get("/healthz").json()["checks"]["audit"]["state"] == "ok"


def test_verification_reports_a_failing_seal_instead_of_raising(world, monkeypatch):
    make_entries(2)

    def refused(*args, **kwargs):
        raise DatabaseError("permission denied for function cmer_audit_seal")

    monkeypatch.setattr(sealing, "seal_pending", refused)
    report = verification.verify_chain()
    assert not report.ok
    assert report.problem == "seal_failed"
    assert report.problem_position == report.head_position + 1


def test_verification_reports_an_unreadable_row_with_its_position(world, monkeypatch):
    make_entries(3)
    real = verification._lines

    def breaks_after_first(*args, **kwargs):
        stream = real(*args, **kwargs)
        yield next(stream)
        stream.close()  # as a failure inside the real stream would: its COPY is ended
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    monkeypatch.setattr(verification, "_lines", breaks_after_first)
    report = verification.verify_chain()
    assert (report.ok, report.problem) == (False, "unreadable")
    assert report.problem_position == 2  # the chain starts at 1: entry 1 read, entry 2 not
    assert report.checked == 1


def test_a_pending_entry_reusing_a_chained_id_is_reported_not_raised(world):
    """The review's blocked seal, made by the owner (the application role cannot: see
    test_protection): verification names it instead of raising."""
    chained = make_entries(1)[0]
    with recorded_at(timezone.now()), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_pending (id, event, action, content_type_id, object_pk, "
            "object_repr, changes_text, timestamp) SELECT id, event, action, content_type_id, "
            "object_pk, 'clash', changes_text, timestamp FROM audit_auditentry WHERE id = %s",
            [chained.pk],
        )
        report = verification.verify_chain()
    assert not report.ok
    assert (report.problem, report.problem_position) == ("duplicate_id", chained.position)
