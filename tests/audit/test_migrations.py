"""Migrations 0012 (no index on the previous hash, the sealing function created again) and 0013
(the pending entry's time given by the column's default, no trigger) on a database that already
holds a chain: what was sealed before still verifies, sealing goes on from the same head, and
the chain stays single (positions unique). Both engines."""

from __future__ import annotations

import itertools

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from cmer.audit import verification
from cmer.audit.models import ChainedEntry
from tests.audit.helpers import chain_rows, make_entries

BEFORE = [("audit", "0011_fewer_locks")]


def _migrate(targets=None) -> None:
    """To ``targets``, or to the latest migration of every app."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets or executor.loader.graph.leaf_nodes())


def _stamped_by_trigger() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'audit_pending_stamp'")
        return cursor.fetchone()[0] == 1


def _prev_hash_unique() -> bool:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT count(*) FROM pg_constraint WHERE conname = 'audit_entry_prev_hash_uniq'"
            )
            return cursor.fetchone()[0] == 1
        return True  # SQLite keeps its index (the migration's docstring)


@pytest.mark.django_db(transaction=True)
def test_a_chain_sealed_before_0012_verifies_and_grows_after_it(world):
    _migrate(BEFORE)
    try:
        assert _prev_hash_unique()
        assert _stamped_by_trigger() is (connection.vendor == "postgresql")
        before = make_entries(5)
        assert verification.verify_chain().ok
    finally:
        _migrate()
    assert _prev_hash_unique() is (connection.vendor != "postgresql")
    assert not _stamped_by_trigger()
    after = make_entries(5)
    rows = chain_rows()
    # One chain: consecutive positions, each linked to the entry before it, across the migration.
    assert [position for position, _, _ in rows] == list(range(rows[0][0], rows[0][0] + len(rows)))
    assert all(later[1] == earlier[2] for earlier, later in itertools.pairwise(rows))
    assert after[0].position == before[-1].position + 1
    report = verification.verify_chain()
    assert report.ok, report.message
    assert report.checked == len(rows)


@pytest.mark.django_db(transaction=True)
def test_the_chain_stays_single_without_the_previous_hash_index(world):
    """A second entry at a position already taken is refused by the database (what two
    sealers racing past the lock would write); an entry linked to a hash another entry already
    follows, at the next position, is reported by verification (it is not linked to the entry
    right before it)."""
    from tests.audit.helpers import tampering

    _first, second = make_entries(2)
    columns = "timestamp, event, action, content_type_id, object_pk, object_repr, changes_text"
    copy = (
        f"INSERT INTO audit_auditentry (id, position, prev_hash, entry_hash, {columns}) "  # noqa: S608
        f"SELECT id + 1000000, %s, prev_hash, entry_hash, {columns} "
        "FROM audit_auditentry WHERE id = %s"
    )
    with tampering():
        with (
            pytest.raises(DatabaseError),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(copy, [second.position, second.pk])
        if connection.vendor != "postgresql":
            # SQLite kept its unique index on the previous hash: refused there already.
            with (
                pytest.raises(DatabaseError),
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                cursor.execute(copy, [second.position + 1, second.pk])
            return
        with connection.cursor() as cursor:
            cursor.execute(copy, [second.position + 1, second.pk])  # a fork: same link as 2nd
    report = verification.verify_chain(seal=False)
    assert not report.ok
    assert report.problem_position == second.position + 1
    assert report.problem in {verification.Problem.INSERTED, verification.Problem.ALTERED}
    assert ChainedEntry.objects.filter(prev_hash=second.prev_hash).count() == 2
