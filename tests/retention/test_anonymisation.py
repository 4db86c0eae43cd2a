"""Anonymisation is complete (every encrypted field, by type; the files; the blind index) and
keeps what statistics read; the run's trace and its certificate."""

from __future__ import annotations

import datetime
import subprocess

import pytest
import time_machine
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import DatabaseError, models

from cases import actions
from cases.models import Referral
from cases.retention import FilesNotRemoved
from cmer.audit.models import AuditEntry, Event
from cmer.crypto import EncryptedTextField
from cmer.retention import certificate, runner
from meetings.models import AgendaItem, Decision

from .helpers import at, closed, full_referral

pytestmark = pytest.mark.django_db

STATISTICS_FIELDS = (
    "reference",
    "year",
    "number",
    "commune_id",
    "author_id",
    "status",
    "urgency",
    "age_group",
    "age_bracket",
    "source",
    "close_reason",
    "created_at",
    "submitted_at",
    "closed_at",
    "archived_at",
)


def rows_pointing_to(referral: Referral) -> list[tuple[type[models.Model], models.Model]]:
    """Every row of every model with a foreign key to Referral that points to this one."""
    found = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, models.ForeignKey) and field.related_model is Referral:
                for row in model._base_manager.filter(**{field.name: referral}):
                    found.append((model, row))
    return found


def encrypted_values(row: models.Model) -> dict[str, str]:
    return {
        f.name: getattr(row, f.name)
        for f in row._meta.concrete_fields
        if isinstance(f, EncryptedTextField) and getattr(row, f.name)
    }


def test_anonymisation_removes_every_encrypted_field_the_files_and_the_index(
    world, private_storage, protocol
):
    # Memberships start today: the whole story happens after it.
    referral = full_referral(world, at(2027, 3, 15))
    keep = closed(world, at(2028, 3, 15))
    stored = [private_storage / "attachments" / a.stored_name for a in referral.attachments.all()]
    assert len(stored) == 2 and all(path.exists() for path in stored)
    before_rows = rows_pointing_to(referral)
    assert any(encrypted_values(row) for _model, row in before_rows)
    before = Referral.objects.filter(pk=referral.pk).values(*STATISTICS_FIELDS).get()
    categories = set(referral.categories.values_list("pk", flat=True))
    assert categories
    item = AgendaItem.objects.get(referral=referral)
    from meetings.pseudonym import label

    meeting_label = label(referral, item.meeting.local_day)
    assert meeting_label.startswith(f"{referral.reference} — J. D.")

    with time_machine.travel(at(2030, 4, 1), tick=False):
        outcome = runner.apply()
    assert outcome.run.results["archive"]["items"] == [referral.reference]
    assert outcome.run.results["archive"]["files"] == 2
    # Two attachments, the access reason of the revoked grant.
    assert outcome.run.results["archive"]["records"] == 3

    referral.refresh_from_db()
    assert referral.anonymised_at is not None
    assert encrypted_values(referral) == {}
    assert referral.name_index == referral.name_year_index == ""
    assert referral.facts_date is None and referral.author_service == ""
    for model, row in rows_pointing_to(referral):
        assert encrypted_values(row) == {}, model
    # Attachments, access reasons and grants are gone; their files are gone from the disk.
    assert not referral.attachments.exists()
    assert not any(path.exists() for path in stored)
    # The statistics read the same values.
    assert Referral.objects.filter(pk=referral.pk).values(*STATISTICS_FIELDS).get() == before
    assert set(referral.categories.values_list("pk", flat=True)) == categories
    # The minutes keep the pseudonym line and lose the link.
    item.refresh_from_db()
    assert item.referral_id is None and item.title == meeting_label
    assert Decision.objects.get(agenda_item=item).timeline_entry_id is None
    # Search by the old name finds nothing; the other referral about Jeanne Dupont still is.
    found = actions.search_person(
        [world.tarascon.pk], surname="Dupont", first_names="Jeanne", birth_year=2008
    )
    assert list(found) == [keep]


def test_the_run_leaves_one_audit_entry_with_counts_only(world):
    referral = closed(world, at(2026, 3, 15))
    with time_machine.travel(at(2029, 4, 1), tick=False):
        outcome = runner.apply()
    entries = AuditEntry.objects.filter(event=Event.RETENTION)
    assert entries.count() == 1
    entry = entries.get()
    assert entry.additional_data["counts"]["archive"] == 1
    assert entry.additional_data["run"] == outcome.run.pk
    text = str(entry.additional_data) + entry.object_repr + str(entry.changes)
    assert referral.reference not in text and "Dupont" not in text


def test_the_certificate_verifies_and_names_nobody(world, tmp_path):
    referral = closed(world, at(2026, 3, 15))
    with time_machine.travel(at(2029, 4, 1), tick=False):
        run = runner.apply().run
    pdf = bytes(run.pdf)
    verdict = certificate.verify(pdf)
    assert verdict.ok and verdict.run_id == run.pk and verdict.matches_stored is True
    path = tmp_path / "certificat.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout
    assert referral.reference in text and "Certificat de destruction" in text
    for name in ("Dupont", "Jeanne", "Gymnase", "2008"):
        assert name not in text and name not in run.text
    assert name.encode() not in pdf
    call_command("verify_retention_certificate", str(path))
    # Altered (one count changed, seal kept): refused.
    forged = certificate.signed_file(run).replace("rule=archive count=1", "rule=archive count=0")
    assert not certificate.verify(forged.encode()).ok
    (tmp_path / "forged.txt").write_text(forged)
    with pytest.raises(CommandError, match="seal does NOT match"):
        call_command("verify_retention_certificate", str(tmp_path / "forged.txt"))
    # Another installation's key: refused.
    from django.test import override_settings

    with override_settings(AUDIT_CHECKPOINT_KEY="another-installation-key-0123456789abcdef"):
        assert certificate.verify(pdf).message == "bad_seal"
    assert certificate.verify(b"%PDF-1.4 nothing").message == "not_a_certificate"


def test_a_trail_that_cannot_chain_refuses_even_a_dry_run(world, monkeypatch):
    referral = closed(world, at(2026, 3, 15))

    def broken(*args, **kwargs):
        raise DatabaseError("seal refused")

    monkeypatch.setattr("cmer.audit.sealing.seal_pending", broken)
    for dry_run in (True, False):
        with (
            time_machine.travel(at(2029, 4, 1), tick=False),
            pytest.raises(runner.RetentionRefused, match="rien n'a été modifié"),
        ):
            runner.apply(dry_run=dry_run)
    with (
        time_machine.travel(at(2029, 4, 1), tick=False),
        pytest.raises(CommandError, match="journal d'audit"),
    ):
        call_command("apply_retention", "--dry-run")
    referral.refresh_from_db()
    assert referral.anonymised_at is None
    from cmer.retention.models import RetentionRun

    assert not RetentionRun.objects.exists()


def test_the_command_lists_by_rule_and_count(world, capsys):
    referral = closed(world, at(2026, 3, 15))
    with time_machine.travel(at(2029, 4, 1), tick=False):
        call_command("apply_retention", "--dry-run", "--list")
    out = capsys.readouterr().out
    assert "archive           1 would go" in out and referral.reference in out
    assert "draft             0 would go" in out
    with time_machine.travel(at(2029, 4, 1), tick=False):
        call_command("apply_retention")
    assert "archive           1 removed" in capsys.readouterr().out
    referral.refresh_from_db()
    assert referral.anonymised_at is not None
    assert datetime.date(2029, 4, 1) == referral.anonymised_at.date()


def test_a_file_that_stays_rolls_its_batch_back_and_the_run_says_so(world, monkeypatch, protocol):
    referral = full_referral(world, at(2027, 3, 15))
    monkeypatch.setattr("cases.files.delete_stored", lambda name: None)
    with time_machine.travel(at(2030, 4, 1), tick=False), pytest.raises(FilesNotRemoved):
        runner.apply()
    referral.refresh_from_db()
    assert referral.anonymised_at is None and referral.surname == "Dupont"
    assert referral.attachments.count() == 2
    from cmer.retention.models import RetentionRun

    failed = RetentionRun.objects.get()
    assert failed.status == RetentionRun.Status.FAILED and failed.error == "FilesNotRemoved"
    entry = AuditEntry.objects.get(event=Event.RETENTION)
    assert entry.additional_data["status"] == "failed"
    # Once the disk behaves, the next run does it.
    monkeypatch.undo()
    with time_machine.travel(at(2030, 4, 2), tick=False):
        assert runner.apply().run.results["archive"]["items"] == [referral.reference]


def test_the_dpo_reads_the_run_in_the_trail(world, as_user):
    closed(world, at(2026, 3, 15))
    with time_machine.travel(at(2029, 4, 1), tick=False):
        runner.apply()
    html = as_user(world.dpo).get("/audit/", {"event": "retention"}).content.decode()
    assert "application des durées de conservation" in html
    assert "Signalements clos : fin de l&#x27;archive intermédiaire : 1" in html


def test_the_daily_job_is_scheduled_and_runs(world, settings):
    from cmer.retention.tasks import apply_retention

    schedule = settings.CELERY_BEAT_SCHEDULE["retention-apply"]
    assert schedule["task"] == apply_retention.name == "cmer.retention.apply"
    closed(world, at(2026, 3, 15))
    with time_machine.travel(at(2029, 4, 1), tick=False):
        run_id = apply_retention.delay().get()
    from cmer.retention.models import RetentionRun

    run = RetentionRun.objects.get(pk=run_id)
    assert run.trigger == RetentionRun.Trigger.SCHEDULE and run.total == 1


def test_entries_left_pending_refuse_the_run(world, monkeypatch):
    """Sealing answers but leaves older entries unchained (a stuck lock, a refusing function)."""
    referral = closed(world, at(2026, 3, 15))
    monkeypatch.setattr("cmer.audit.sealing.seal_pending", lambda *args, **kwargs: 0)
    from cmer.audit.core import record_event

    with time_machine.travel(at(2029, 3, 31), tick=False):
        record_event(Event.LOGIN, actor=world.dpo)
    with (
        time_machine.travel(at(2029, 4, 1), tick=False),
        pytest.raises(runner.RetentionRefused, match="garde des entrées en attente"),
    ):
        runner.apply(dry_run=True)
    referral.refresh_from_db()
    assert referral.anonymised_at is None
