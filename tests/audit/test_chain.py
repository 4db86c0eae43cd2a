"""The chain: every write path is chained, verification names the first break, checkpoints prove
that nothing was rewritten, retention purges whole months and leaves a verifiable rest."""

from __future__ import annotations

import datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from cmer.accounts.models import Commune
from cmer.audit import chain, verification
from cmer.audit.models import (
    AuditCheckpoint,
    AuditEntry,
    AuditVerification,
    ChainedEntry,
    Event,
)
from tests.audit.helpers import chain_rows, forge_row, make_entries, recorded_at, tampering

pytestmark = pytest.mark.django_db


def _chain() -> list[tuple[int, str, str]]:
    return chain_rows()


def test_every_write_path_is_chained(world):
    commune = Commune.objects.create(
        insee_code="13004", name="Arles", department=world.department, reference_prefix="ARL"
    )  # django-auditlog's log_create
    make_entries(2, actor=world.referent)  # record_event
    rows = _chain()
    assert [p for p, _, _ in rows] == list(range(1, len(rows) + 1))
    previous = chain.GENESIS_HASH
    for _, prev_hash, entry_hash in rows:
        assert prev_hash == previous
        previous = entry_hash
    assert AuditEntry.objects.filter(object_pk=str(commune.pk), event=Event.CHANGE).exists()
    assert verification.verify_chain().ok


def test_hash_covers_the_stored_canonical_text(world):
    entry = make_entries(1, actor=world.dpo)[0]
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert stored.entry_hash == chain.entry_hash(stored.canonical_values())
    text = chain.canonical_text(stored.canonical_values())
    assert text.startswith(f"cmer-audit-v3\t{stored.position}\t{stored.prev_hash}\t{stored.pk}\t")
    assert text.split("\t")[4] == chain.format_time(stored.timestamp)
    stamp = datetime.datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=datetime.UTC)
    assert chain.format_time(stamp) == "2026-01-02 03:04:05.12"
    assert chain.format_time(stamp.replace(microsecond=0)) == "2026-01-02 03:04:05"
    assert chain.format_time("2026-01-02 03:04:05.000100") == "2026-01-02 03:04:05.0001"
    # JSON is stored as the canonical text itself (sorted keys, no spaces): never re-serialised.
    assert chain.canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"\\u00e9"],"b":1}'


def test_timestamps_follow_positions(world):
    make_entries(5)
    times = list(AuditEntry.objects.order_by("position").values_list("timestamp", flat=True))
    assert times == sorted(times)


def test_verify_detects_an_edited_row(world):
    target = make_entries(4)[1].position
    with tampering() as cursor:
        cursor.execute(
            "UPDATE audit_auditentry SET object_repr = 'TAR-2026-9999' WHERE position = %s",
            [target],
        )
    report = verification.verify_chain()
    assert (report.ok, report.problem, report.problem_position) == (False, "altered", target)


def test_verify_detects_a_deleted_row(world):
    target = make_entries(4)[2].position
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE position = %s", [target])
    report = verification.verify_chain()
    assert (report.ok, report.problem, report.problem_position) == (False, "removed", target)
    assert f"{target}–{target}" in report.message


def test_verify_detects_an_inserted_row(world):
    head = make_entries(3)[-1].position
    forge_row()  # inserting needs no trigger to be lifted: the chain is what catches it
    report = verification.verify_chain()
    assert (report.ok, report.problem, report.problem_position) == (False, "inserted", head + 1)


def test_verify_detects_a_rewrite_with_recomputed_hashes_thanks_to_checkpoints(world):
    make_entries(4)
    verification.make_checkpoint()
    make_entries(1)
    entries = list(ChainedEntry.objects.order_by("position"))
    previous = entries[0].entry_hash
    with tampering() as cursor:
        for entry in entries[1:]:
            if entry.position == entries[1].position:
                entry.object_repr = "rewritten"
            entry.prev_hash = previous
            entry.entry_hash = chain.entry_hash(entry.canonical_values())
            cursor.execute(
                "UPDATE audit_auditentry SET object_repr = %s, prev_hash = %s, entry_hash = %s "
                "WHERE position = %s",
                [entry.object_repr, entry.prev_hash, entry.entry_hash, entry.position],
            )
            previous = entry.entry_hash
    report = verification.verify_chain()
    assert (report.ok, report.problem) == (False, "rewritten")
    assert report.problem_position == entries[-2].position  # the sealed head


def test_verify_detects_a_cut_end_thanks_to_checkpoints(world):
    last = make_entries(4)[-1].position
    verification.make_checkpoint()
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE position >= %s", [last])
    report = verification.verify_chain()
    assert (report.ok, report.problem, report.problem_position) == (False, "removed", last)


def test_a_checkpoint_with_a_bad_mac_is_reported(world, settings):
    make_entries(2)
    verification.make_checkpoint()
    settings.AUDIT_CHECKPOINT_KEY = "another key"
    report = verification.verify_chain()
    assert (report.ok, report.problem) == (False, "bad_checkpoint")


def test_verify_command_exit_code_and_recorded_result(world, capsys):
    make_entries(3)
    call_command("verify_audit")
    assert f"OK: {ChainedEntry.objects.count()} entries" in capsys.readouterr().out
    assert AuditVerification.objects.first().ok
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditentry SET actor_email = 'x@y.z' WHERE position = 2")
    with pytest.raises(SystemExit) as exit_info:
        call_command("verify_audit")
    assert exit_info.value.code == 1
    assert "altered" in capsys.readouterr().err
    last = AuditVerification.objects.first()
    assert (last.ok, last.problem, last.problem_position) == (False, "altered", 2)


def test_checkpoint_lines_kept_outside_are_checked(world, tmp_path, capsys):
    head = make_entries(2)[-1].position
    call_command("audit_checkpoint")
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"cmer-audit-v1-checkpoint kind=manual position={head} ")
    kept = tmp_path / "kept.txt"
    kept.write_text(line + "\n")
    call_command("verify_audit", "--checkpoints", str(kept), "--no-record")
    kept.write_text(line.replace(f"position={head}", f"position={head - 1}") + "\n")
    with pytest.raises(SystemExit):
        call_command("verify_audit", "--checkpoints", str(kept), "--no-record")


def test_daily_task_verifies_and_seals(world):
    from cmer.audit.tasks import daily_checkpoint

    make_entries(2)
    pk = daily_checkpoint.delay().get()
    checkpoint = AuditCheckpoint.objects.get(pk=pk)
    assert checkpoint.kind == AuditCheckpoint.Kind.DAILY
    assert checkpoint.mac_is_valid()
    assert AuditVerification.objects.first().ok
    from django.conf import settings

    assert settings.CELERY_BEAT_SCHEDULE["audit-daily-checkpoint"]["task"] == daily_checkpoint.name


def test_beat_seals_what_the_writers_left_pending(world):
    from django.conf import settings

    from cmer.audit.models import PendingEntry
    from cmer.audit.tasks import seal_pending

    entry = make_entries(1)[0]
    from cmer.audit.core import record_event

    record_event(Event.ACCESS, data={"what": "left pending"})  # its commit never comes here
    assert PendingEntry.objects.count() >= 1
    assert seal_pending.delay().get() >= 1
    assert not PendingEntry.objects.exists()
    assert ChainedEntry.objects.filter(position=entry.position + 1).exists()
    assert settings.CELERY_BEAT_SCHEDULE["audit-seal-pending"]["task"] == seal_pending.name
    assert verification.verify_chain().ok


FEB_2025 = datetime.datetime(2025, 2, 1, tzinfo=datetime.UTC)


def test_purge_removes_whole_months_and_leaves_a_verifiable_chain(db, capsys):
    with recorded_at(datetime.datetime(2025, 1, 15, 10, tzinfo=datetime.UTC)):
        make_entries(3)
    with recorded_at(datetime.datetime(2025, 3, 2, 10, tzinfo=datetime.UTC)):
        make_entries(2)
    kept_before = AuditEntry.objects.filter(timestamp__gte=FEB_2025).count()
    call_command("purge_audit", "--before", "2025-02")
    assert "boundary checkpoint" in capsys.readouterr().out.lower()
    assert not AuditEntry.objects.filter(timestamp__lt=FEB_2025).exists()
    assert AuditEntry.objects.count() == kept_before
    boundary = AuditCheckpoint.objects.get(kind=AuditCheckpoint.Kind.BOUNDARY)
    assert boundary.mac_is_valid()
    make_entries(1)  # the chain goes on
    assert verification.verify_chain().ok
    first = ChainedEntry.objects.order_by("position").first()
    assert (first.prev_hash, first.position) == (boundary.head_hash, boundary.head_position + 1)


def test_purge_refuses_recent_months_and_bad_input(world):
    make_entries(1)
    with pytest.raises(CommandError, match="younger"):
        call_command("purge_audit", "--before", timezone.localdate().strftime("%Y-%m"))
    with pytest.raises(CommandError, match="YYYY-MM"):
        call_command("purge_audit", "--before", "2025-13")


def test_purge_refuses_a_broken_chain(db):
    with recorded_at(datetime.datetime(2025, 1, 15, 10, tzinfo=datetime.UTC)):
        make_entries(3)
    make_entries(1)
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditentry SET object_repr = 'x' WHERE position = 1")
    with pytest.raises(CommandError, match="does not verify"):
        call_command("purge_audit", "--before", "2025-02")
    assert AuditEntry.objects.filter(position=1).exists()


def test_auditlogflush_cannot_delete_the_trail(world):
    from cmer.audit.models import AppendOnlyError

    make_entries(1)
    with pytest.raises(AppendOnlyError):
        call_command("auditlogflush", "--yes")
    assert AuditEntry.objects.count() >= 1


# A fixed entry and its SHA-256, computed once independently (printf … | sha256sum): any silent
# change of the canonical format (order, escaping, time or address form, the id) fails here.
KNOWN_ENTRY = {
    "position": 41,
    "prev_hash": "a" * 64,
    "id": 1234,
    "timestamp": datetime.datetime(2026, 11, 30, 9, 15, 0, 250000, tzinfo=datetime.UTC),
    "event": "access",
    "action": 3,
    "content_type_id": 17,
    "object_pk": "52",
    "object_id": 52,
    "object_repr": "TAR-2026-0001",
    "actor_id": 8,
    "actor_email": "dpo@pref13.test",
    "remote_addr": "192.0.2.7",
    "remote_port": None,
    "cid": None,
    "commune_id": 3,
    "changes_text": "",
    "changes": None,
    "additional_data": '{"what":"detail"}',
    "serialized_data": None,
}
KNOWN_TEXT = (
    "cmer-audit-v3\t41\t" + "a" * 64 + "\t1234\t2026-11-30 09:15:00.25\taccess\t3\t17\t52\t52\t"
    'TAR-2026-0001\t8\tdpo@pref13.test\t192.0.2.7\t\\N\t\\N\t3\t\t\\N\t{"what":"detail"}\t\\N'
)
KNOWN_SHA256 = "3322a7e7b6519c1e7a86cb9cbc3494663565b3274ae50f6a3672a32a59adcc61"


def test_known_answer_of_the_canonical_text():
    values = [KNOWN_ENTRY[name] for name in chain.CANONICAL_COLUMNS]
    assert chain.canonical_text(values) == KNOWN_TEXT
    assert chain.entry_hash(values) == KNOWN_SHA256
    # The id is covered: the same entry under another id has another hash.
    other = [1235 if name == "id" else KNOWN_ENTRY[name] for name in chain.CANONICAL_COLUMNS]
    assert chain.entry_hash(other) != KNOWN_SHA256


@pytest.mark.postgres_only
def test_known_answer_of_the_database_sealer(db):
    """The sealing function's SQL (PostgreSQL) builds the very same text for the fixed entry."""
    from django.db import connection

    from cmer.audit import protection

    if connection.vendor != "postgresql":
        pytest.skip("the sealing function is PostgreSQL's")
    e = KNOWN_ENTRY
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL DateStyle = 'ISO, YMD'")
        cursor.execute(
            "SELECT encode(sha256(convert_to(%s || chr(9) || %s || chr(9) || %s || chr(9) || %s "  # noqa: S608
            f"|| chr(9) || {protection.content_text_sql('p')}, 'UTF8')), 'hex') FROM ("
            "SELECT %s::timestamptz AS timestamp, %s::varchar AS event, %s::smallint AS action, "
            "%s::int AS content_type_id, %s::varchar AS object_pk, %s::bigint AS object_id, "
            "%s::text AS object_repr, %s::bigint AS actor_id, %s::varchar AS actor_email, "
            "%s::inet AS remote_addr, %s::int AS remote_port, %s::varchar AS cid, "
            "%s::bigint AS commune_id, %s::text AS changes_text, %s::text AS changes, "
            "%s::text AS additional_data, %s::text AS serialized_data) p",
            [chain.VERSION, *(str(e[name]) for name in ("position", "prev_hash", "id"))]
            + [e[name] for name in chain.CANONICAL_COLUMNS[3:]],
        )
        assert cursor.fetchone()[0] == KNOWN_SHA256
