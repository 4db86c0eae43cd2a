"""The database refuses UPDATE, DELETE (both engines) and TRUNCATE (PostgreSQL) on the audit
tables; the application role cannot lift the triggers; the ORM refuses before the database."""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from cmer.audit import protection
from cmer.audit.core import record_event
from cmer.audit.models import (
    AppendOnlyError,
    AuditCheckpoint,
    AuditEntry,
    ChainedEntry,
    Event,
    PendingEntry,
)
from tests.audit.helpers import chain_rows, make_entries, run_writers, seal, tampering

pytestmark = pytest.mark.django_db


def _refused(sql: str, params=(), match: str = "append-only") -> None:
    with (
        pytest.raises(DatabaseError, match=match),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        if connection.vendor == "postgresql":
            # Otherwise TRUNCATE stops earlier, on the test transaction's pending FK checks.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(sql, params)


def test_triggers_are_installed_by_the_migrations():
    assert protection.is_installed(connection, "audit_auditentry")
    assert protection.is_installed(connection, "audit_auditcheckpoint")
    assert protection.is_installed(connection, "audit_pending")


def test_a_pending_entry_can_leave_only_into_the_chain_unchanged(world):
    """The application may delete from the pending table (the sealer's move), but the database
    lets a row go only once the chain holds the same entry, column for column."""
    entry = record_event(Event.ACCESS, data={"what": "pending"})
    assert PendingEntry.objects.filter(pk=entry.pk).exists()
    only_into_chain = "only into the chain"
    _refused("UPDATE audit_pending SET object_repr = 'x' WHERE id = %s", [entry.pk])
    _refused("DELETE FROM audit_pending WHERE id = %s", [entry.pk], match=only_into_chain)
    # A copy in the chain that differs in one column is not enough.
    with tampering() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditentry (id, position, prev_hash, entry_hash, timestamp, "
            "event, action, content_type_id, object_pk, object_repr, changes_text) "
            "SELECT id, 999999, 'x', 'y', timestamp, event, action, content_type_id, object_pk, "
            "'forged', changes_text FROM audit_pending WHERE id = %s",
            [entry.pk],
        )
    _refused("DELETE FROM audit_pending WHERE id = %s", [entry.pk], match=only_into_chain)
    assert PendingEntry.objects.filter(pk=entry.pk).exists()


def test_sealing_moves_entries_into_the_chain_keeping_their_ids(world):
    first = record_event(Event.ACCESS, data={"n": 1})
    second = record_event(Event.EXPORT, data={"n": 2})
    assert AuditEntry.objects.get(pk=first.pk).position is None  # visible before sealing
    seal()
    assert not PendingEntry.objects.exists()
    rows = {e.pk: e for e in AuditEntry.objects.filter(pk__in=[first.pk, second.pk])}
    assert rows[first.pk].position + 1 == rows[second.pk].position
    assert rows[second.pk].prev_hash == rows[first.pk].entry_hash
    assert rows[second.pk].additional_data == {"n": 2}
    assert AuditEntry.objects.filter(pk__in=[first.pk, second.pk]).count() == 2  # not twice


def test_an_entry_of_a_rolled_back_transaction_is_never_chained(world):
    with pytest.raises(RuntimeError), transaction.atomic():
        record_event(Event.ACCESS, target_pk="rolled-back")
        raise RuntimeError
    kept = record_event(Event.ACCESS, data={"kept": True})
    rows = chain_rows()
    assert not AuditEntry.objects.filter(object_pk="rolled-back").exists()
    assert ChainedEntry.objects.filter(pk=kept.pk).exists()
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))


def test_database_refuses_update_and_delete(world):
    entry = make_entries(1)[0]
    _refused("UPDATE audit_auditentry SET object_repr = 'x' WHERE id = %s", [entry.pk])
    _refused("DELETE FROM audit_auditentry WHERE id = %s", [entry.pk])
    _refused("DELETE FROM audit_auditentry")
    from cmer.audit.verification import make_checkpoint

    make_checkpoint()
    _refused("UPDATE audit_auditcheckpoint SET head_hash = 'x'")
    _refused("DELETE FROM audit_auditcheckpoint")
    assert AuditEntry.objects.filter(pk=entry.pk, object_repr=entry.object_repr).exists()


@pytest.mark.postgres_only
def test_database_refuses_truncate(world):
    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE exists on PostgreSQL only")
    make_entries(1)
    _refused("TRUNCATE audit_auditentry")
    _refused("TRUNCATE audit_auditcheckpoint")
    _refused("TRUNCATE audit_pending")


def test_orm_refuses_every_bypass(world):
    entry = make_entries(1)[0]
    entry.object_repr = "changed"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(object_repr="x")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.bulk_create([AuditEntry()])
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.bulk_update([entry], ["object_repr"])
    # The two tables behind the view take no write from the ORM at all.
    with pytest.raises(AppendOnlyError):
        ChainedEntry(object_repr="x").save()
    with pytest.raises(AppendOnlyError):
        PendingEntry(object_repr="x").save()
    with pytest.raises(AppendOnlyError):
        PendingEntry.objects.all().delete()
    checkpoint = AuditCheckpoint.objects.create(
        kind="manual", head_position=1, head_hash="0" * 64, entry_count=1
    )
    with pytest.raises(AppendOnlyError):
        checkpoint.save()


@contextlib.contextmanager
def _app_role_connection() -> Iterator[Any]:
    """A real non-owner role set up as in production (deploy/postgres/init.sql's default
    privileges, then what the audit migrations take back), connected on its own."""
    superuser_url = os.environ.get("CMER_PG_SUPERUSER_URL")
    if connection.vendor != "postgresql" or not superuser_url:
        pytest.skip("needs PostgreSQL and CMER_PG_SUPERUSER_URL")
    import psycopg

    role = f"cmer_app_test_{uuid.uuid4().hex[:8]}"
    db_name = connection.settings_dict["NAME"]
    admin = psycopg.connect(superuser_url, dbname=db_name, autocommit=True)
    try:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        # What init.sql's default privileges give the application role on every table...
        admin.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
        )
        admin.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
        # ...and what the audit migrations take back.
        assert protection.revoke_app_privileges(connection, role)
        host = connection.settings_dict["HOST"] or "127.0.0.1"
        port = connection.settings_dict["PORT"] or 5432
        app = psycopg.connect(host=host, port=port, user=role, dbname=db_name, autocommit=True)
        try:
            yield app
        finally:
            app.close()
    finally:
        admin.execute(f"DROP OWNED BY {role}")
        admin.execute(f"DROP ROLE {role}")
        admin.close()


_PENDING_COLUMNS = "event, action, content_type_id, object_pk, object_repr, changes_text"


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_application_role_can_only_add_pending_entries_and_read(world):
    """The application role reads, adds pending entries and calls the three functions; it
    cannot write the chain, the checkpoints or the verification records, nor change, purge or
    unprotect anything."""
    from psycopg import errors

    from cmer.audit import verification

    make_entries(1)
    verification.record(verification.verify_chain())
    with _app_role_connection() as app:
        assert app.execute("SELECT count(*) FROM audit_auditentry").fetchone()[0] >= 1
        assert app.execute("SELECT count(*) FROM audit_trail").fetchone()[0] >= 1
        head = app.execute(
            "SELECT id, position, entry_hash, content_type_id FROM audit_auditentry "
            "ORDER BY position DESC LIMIT 1"
        ).fetchone()
        for statement in (
            # The review's forged head: a chain row with a correct-looking link, a 2020 date.
            "INSERT INTO audit_auditentry (id, position, prev_hash, entry_hash, timestamp, "  # noqa: S608
            "event, action, content_type_id, object_pk, object_repr, changes_text) VALUES "
            f"({head[0] + 100}, {head[1] + 1}, '{head[2]}', 'f', '2020-01-01', 'access', 3, "
            f"{head[3]}, '', 'forged', '')",
            "INSERT INTO audit_auditcheckpoint (created_at, kind, head_position, head_hash, "
            "entry_count, mac) VALUES (now(), 'manual', 1, 'x', 1, 'x')",
            "INSERT INTO audit_auditverification (started_at, finished_at, ok, checked, "
            "head_hash, problem, message) VALUES (now(), now(), true, 1, '', '', '')",
            "UPDATE audit_auditverification SET ok = true",
            "DELETE FROM audit_auditverification",
            "TRUNCATE audit_auditverification",
            "UPDATE audit_auditentry SET object_repr = 'x'",
            "DELETE FROM audit_auditentry",
            "TRUNCATE audit_auditentry",
            "TRUNCATE audit_auditcheckpoint",
            "DELETE FROM audit_auditcheckpoint",
            "UPDATE audit_pending SET object_repr = 'x'",
            "DELETE FROM audit_pending",
            "TRUNCATE audit_pending",
            "ALTER TABLE audit_pending ALTER COLUMN timestamp SET DEFAULT '2020-01-01'",
            # The id and the time are the database's: an INSERT naming either is refused.
            f"INSERT INTO audit_pending ({_PENDING_COLUMNS}, timestamp) VALUES "  # noqa: S608
            f"('access', 3, {head[3]}, '', 'dated by the app', '', '2020-01-01')",
            f"INSERT INTO audit_pending (id, {_PENDING_COLUMNS}) VALUES "  # noqa: S608
            f"({head[0] + 100}, 'access', 3, {head[3]}, '', 'numbered by the app', '')",
            "ALTER TABLE audit_auditentry DISABLE TRIGGER audit_auditentry_append_only",
            "ALTER TABLE audit_auditentry DISABLE TRIGGER ALL",
            "DROP TRIGGER audit_auditentry_append_only ON audit_auditentry",
            "DROP TABLE audit_auditentry",
            "DROP FUNCTION cmer_audit_seal(integer, boolean)",
            "CREATE OR REPLACE FUNCTION cmer_audit_seal(integer, boolean) RETURNS integer "
            "LANGUAGE sql AS 'SELECT 0'",
            "SET session_replication_role = replica",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                app.execute(statement)
        # What it may do: add a pending entry (the database gives its id and time)...
        row = app.execute(
            f"INSERT INTO audit_pending ({_PENDING_COLUMNS}) VALUES "  # noqa: S608
            f"('access', 3, {head[3]}, '', 'by the app role', '') "
            "RETURNING id, timestamp"
        ).fetchone()
        assert row[0] > head[0]
        assert (
            abs((row[1] - app.execute("SELECT clock_timestamp()").fetchone()[0]).total_seconds())
            < 60
        )
        # ...chain it through the function...
        assert app.execute("SELECT cmer_audit_seal(100, true)").fetchone()[0] >= 1
        # ...and add a verification record, which it can never change afterwards.
        verified = app.execute(
            "SELECT cmer_audit_add_verification(now(), now(), false, 0, NULL, '', 'altered', "
            "1, 'x')"
        ).fetchone()[0]
        with pytest.raises(errors.InsufficientPrivilege):
            app.execute("UPDATE audit_auditverification SET ok = true WHERE id = %s", [verified])
        # A checkpoint whose head is not the chain's is refused by the function.
        with pytest.raises(errors.RaiseException, match="does not have that hash"):
            app.execute(
                "SELECT cmer_audit_add_checkpoint('manual', %s, %s, 1, now(), 'x')",
                [head[1], "0" * 64],
            )
        with pytest.raises(errors.RaiseException, match="kind"):
            app.execute(
                "SELECT cmer_audit_add_checkpoint('boundary', %s, %s, 1, now(), 'x')",
                [head[1], head[2]],
            )
    assert protection.is_installed(connection)
    assert ChainedEntry.objects.filter(object_repr="by the app role").exists()
    assert verification.verify_chain().ok


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_application_role_cannot_block_sealing(world):
    """The review's blocked seal: a pending row reusing the id of a chained entry made every
    later seal fail. The application role cannot name an id at all (its INSERT privilege leaves
    the id and the time out): not a chained one, not one it drew from the sequence itself."""
    from psycopg import errors

    from cmer.audit import verification

    chained = make_entries(1)[0]
    with _app_role_connection() as app:
        fresh = app.execute(
            "SELECT nextval(pg_get_serial_sequence('audit_pending', 'id'))"
        ).fetchone()[0]
        for explicit in (chained.pk, chained.pk + 10_000, fresh):
            with pytest.raises(errors.InsufficientPrivilege):
                app.execute(
                    f"INSERT INTO audit_pending (id, {_PENDING_COLUMNS}) VALUES "  # noqa: S608
                    f"({explicit}, 'access', 3, {chained.content_type_id}, '', 'x', '')"
                )
        given = app.execute(
            f"INSERT INTO audit_pending ({_PENDING_COLUMNS}) VALUES "  # noqa: S608
            f"('access', 3, {chained.content_type_id}, '', 'default id', '') RETURNING id"
        ).fetchone()[0]
        assert given > fresh
    record_event(Event.ACCESS, data={"what": "after"})
    seal()
    assert not PendingEntry.objects.exists()
    assert ChainedEntry.objects.filter(pk=given, object_repr="default id").exists()
    assert not ChainedEntry.objects.filter(object_repr="x").exists()
    assert verification.verify_chain().ok


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_chain_has_no_fork_with_8_concurrent_writers(settings):
    """8 threads, each appending in its own transactions and sealing after its commits (several
    sealers at once): positions contiguous, every entry linked to the previous one,
    verification clean (0 forks)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers itself; the lock under test is PostgreSQL's")
    from cmer.audit.verification import verify_chain

    settings.AUDIT_SEAL_INTERVAL = 0  # every commit tries to seal: sealers race each other
    per_thread = 40

    def writer(index: int) -> None:
        for i in range(per_thread):
            with transaction.atomic():
                record_event(Event.ACCESS, data={"thread": index, "i": i})

    run_writers(writer)
    rows = chain_rows()
    assert len(rows) == 8 * per_thread
    forks = sum(1 for before, after in itertools.pairwise(rows) if after[1] != before[2])
    assert forks == 0
    assert [r[0] for r in rows] == list(range(rows[0][0], rows[0][0] + len(rows)))
    assert verify_chain().ok


@pytest.mark.postgres_only
def test_a_sealer_never_waits_for_another_after_commit(world):
    """After a commit, sealing only tries the chain lock: if another sealer holds it, the
    entries stay pending for it or the next one (beat drains with ``wait``)."""
    if connection.vendor != "postgresql":
        pytest.skip("the advisory lock is PostgreSQL's")
    import psycopg

    from cmer.audit import chain, sealing

    record_event(Event.ACCESS, data={"what": "waits"})
    settings = connection.settings_dict
    other = psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"] or "postgres",
        dbname=settings["NAME"],
    )
    try:
        other.execute("SELECT pg_advisory_xact_lock(%s)", [chain.CHAIN_LOCK_KEY])
        assert sealing.seal_pending() == 0
        assert PendingEntry.objects.exists()
    finally:
        other.rollback()  # releases the lock
        other.close()
    assert sealing.seal_pending() >= 1
    assert not PendingEntry.objects.exists()
