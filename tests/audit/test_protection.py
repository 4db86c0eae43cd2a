"""The database refuses UPDATE, DELETE (both engines) and TRUNCATE (PostgreSQL) on the audit
tables; the application role cannot lift the triggers; the ORM refuses before the database."""

from __future__ import annotations

import itertools
import os
import uuid

import pytest
from django.db import DatabaseError, connection, transaction

from cmer.audit import protection
from cmer.audit.models import AppendOnlyError, AuditCheckpoint, AuditEntry
from tests.audit.helpers import make_entries

pytestmark = pytest.mark.django_db


def _refused(sql: str, params=()) -> None:
    with (
        pytest.raises(DatabaseError, match="append-only"),
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
    checkpoint = AuditCheckpoint.objects.create(
        kind="manual", head_position=1, head_hash="0" * 64, entry_count=1
    )
    with pytest.raises(AppendOnlyError):
        checkpoint.save()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_application_role_cannot_change_purge_or_unprotect_the_trail(world):
    """A role set up as in production (deploy/postgres/init.sql + migration 0003) can read and
    insert, and nothing else: no UPDATE, DELETE, TRUNCATE, no ALTER/DROP of the triggers."""
    superuser_url = os.environ.get("CMER_PG_SUPERUSER_URL")
    if connection.vendor != "postgresql" or not superuser_url:
        pytest.skip("needs PostgreSQL and CMER_PG_SUPERUSER_URL")
    import psycopg
    from psycopg import errors

    make_entries(1)
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
        # ...and what migration 0003 takes back on the audit tables.
        assert protection.revoke_app_privileges(connection, role)
        host = connection.settings_dict["HOST"] or "127.0.0.1"
        port = connection.settings_dict["PORT"] or 5432
        app = psycopg.connect(host=host, port=port, user=role, dbname=db_name, autocommit=True)
        try:
            assert app.execute("SELECT count(*) FROM audit_auditentry").fetchone()[0] >= 1
            for statement in (
                "UPDATE audit_auditentry SET object_repr = 'x'",
                "DELETE FROM audit_auditentry",
                "TRUNCATE audit_auditentry",
                "TRUNCATE audit_auditcheckpoint",
                "DELETE FROM audit_auditcheckpoint",
                "ALTER TABLE audit_auditentry DISABLE TRIGGER audit_auditentry_append_only",
                "ALTER TABLE audit_auditentry DISABLE TRIGGER ALL",
                "DROP TRIGGER audit_auditentry_append_only ON audit_auditentry",
                "DROP TABLE audit_auditentry",
                "SET session_replication_role = replica",
            ):
                with pytest.raises(errors.InsufficientPrivilege):
                    app.execute(statement)
        finally:
            app.close()
        assert protection.is_installed(connection)
    finally:
        admin.execute(f"DROP OWNED BY {role}")
        admin.execute(f"DROP ROLE {role}")
        admin.close()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_chain_has_no_fork_with_8_concurrent_writers():
    """8 threads, each appending in its own transactions: positions contiguous, every entry
    linked to the previous one, verification clean (0 forks)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers itself; the lock under test is PostgreSQL's")
    import threading

    from django.db import connections

    from cmer.audit.core import record_event
    from cmer.audit.models import Event
    from cmer.audit.verification import verify_chain

    per_thread = 40
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(index: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with transaction.atomic():
                    record_event(Event.ACCESS, data={"thread": index, "i": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = list(
        AuditEntry.objects.order_by("position").values_list("position", "prev_hash", "entry_hash")
    )
    assert len(rows) == 8 * per_thread
    forks = sum(1 for before, after in itertools.pairwise(rows) if after[1] != before[2])
    assert forks == 0
    assert [r[0] for r in rows] == list(range(rows[0][0], rows[0][0] + len(rows)))
    assert verify_chain().ok
