"""Chaining the audit trail: pending entries are sealed into the chain in batches.

Writers never wait for each other: an entry is one INSERT into ``audit_pending`` in the writing
transaction, with no lock (see ``writing.py``). The chain is built afterwards by
``seal_pending``, one sealer at a time (a transaction-scoped advisory lock on PostgreSQL; the
single writer of SQLite, plus the unique constraints, elsewhere). On PostgreSQL the steps below
are the ``cmer_audit_seal`` database function (``SECURITY DEFINER``, owned by the owner role:
the application role cannot write the chain itself, see ``protection.py``); on SQLite, the same
steps in Python:

1. read the chain's head and the pending entries in id order, as the text that is hashed;
2. give each the next position, link it to the previous hash, hash its canonical text;
3. copy them, by SQL from the pending rows themselves, into the chain (``audit_auditentry``),
   then delete them from ``audit_pending`` — which the database allows only for an entry the
   chain holds unchanged (``protection.py``) — all in one transaction.

A sealed batch is all or nothing; an entry is in the pending table or in the chain, never both
and never neither (``AuditEntry`` reads the union). Sealing runs after each writing transaction
commits (at most every ``AUDIT_SEAL_INTERVAL`` seconds per process, never waiting for another
sealer), every few seconds by beat (``cmer.audit.seal_pending``), and before verifying, sealing a
checkpoint or purging.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction

from . import chain, protection
from .models import CONTENT_COLUMNS, ChainedEntry, PendingEntry, chain_base

CHAINED = ChainedEntry._meta.db_table
PENDING = PendingEntry._meta.db_table
BATCH = 5_000
_INTEGER_COLUMNS = frozenset(
    {"position", "action", "content_type_id", "object_id", "actor_id", "remote_port", "commune_id"}
)
_TIMESTAMP = CONTENT_COLUMNS.index("timestamp")
_REMOTE_ADDR = CONTENT_COLUMNS.index("remote_addr")


def content_expressions(vendor: str, alias: str = "") -> list[str]:
    """SQL for each content column as the text that is hashed.

    PostgreSQL: read through ``COPY … TO STDOUT`` (in a transaction that ran ``ISO_DATES``),
    which writes integers in decimal, a UTC timestamp as ``chain.format_time`` does, an inet
    host address as is, and escapes text exactly as ``chain.escape``. SQLite: integers as
    text; the stored time and address are put in canonical form in Python
    (``normalise_sqlite``).
    """
    prefix = f"{alias}." if alias else ""
    expressions = []
    for name in CONTENT_COLUMNS:
        column = f'{prefix}"{name}"'
        if vendor == "postgresql" and name == "timestamp":
            expressions.append(f"({column} AT TIME ZONE 'UTC')")
        elif vendor != "postgresql" and name in _INTEGER_COLUMNS:
            expressions.append(f"CAST({column} AS TEXT)")
        else:
            expressions.append(column)
    return expressions


# The output style the canonical time relies on, whatever the server's or role's defaults.
ISO_DATES = "SET LOCAL DateStyle = 'ISO, YMD'"


def normalise_sqlite(content: tuple[Any, ...] | list[Any]) -> list[str | None]:
    """SQLite's stored time ("YYYY-MM-DD HH:MM:SS[.ffffff]", naive UTC) and address, in the
    canonical form; the other columns are already text."""
    values = list(content)
    if values[_TIMESTAMP] is not None:
        values[_TIMESTAMP] = chain.format_time(values[_TIMESTAMP])
    if values[_REMOTE_ADDR] is not None:
        values[_REMOTE_ADDR] = chain.format_address(values[_REMOTE_ADDR]) or ""
    return values


def _quoted_columns() -> str:
    return ", ".join(f'"{name}"' for name in CONTENT_COLUMNS)


def _head(cursor: Any, connection: Any) -> tuple[int, str]:
    cursor.execute(f"SELECT position, entry_hash FROM {CHAINED} ORDER BY position DESC LIMIT 1")  # noqa: S608
    row = cursor.fetchone()
    return (row[0], row[1]) if row else chain_base(connection)


def _seal_postgresql(connection: Any, limit: int, wait: bool) -> int:
    """The database function does the work (``protection.py``): the application role has no
    write privilege on the chain, and the hashes are the database's own computation.

    Outside a transaction (the seal after a commit, beat) the call is one statement in
    autocommit: its own transaction, one round trip (no BEGIN and COMMIT of their own); inside
    one, a savepoint, so that a refused seal leaves the caller's transaction usable."""
    sql = f"SELECT {protection.SEAL_FUNCTION}(%s, %s)"
    params = [int(limit), bool(wait)]
    if not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return int(cursor.fetchone()[0])
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])


def _seal_sqlite(connection: Any, limit: int) -> int:
    select = (
        f"SELECT id, {', '.join(content_expressions(connection.vendor))} FROM {PENDING} "  # noqa: S608
        f"ORDER BY id LIMIT {int(limit)}"
    )
    columns = _quoted_columns()
    insert = (
        f"INSERT INTO {CHAINED} (id, position, prev_hash, entry_hash, {columns}) "  # noqa: S608
        f"SELECT id, %s, %s, %s, {columns} FROM {PENDING} WHERE id = %s"
    )
    for attempt in range(5):
        try:
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                position, previous = _head(cursor, connection)
                cursor.execute(select)
                rows = cursor.fetchall()
                params = []
                for entry_id, *content in rows:
                    position += 1
                    text = chain.text_of_strings(
                        [str(position), previous, str(entry_id), *normalise_sqlite(content)]
                    )
                    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
                    params.append((position, previous, digest, entry_id))
                    previous = digest
                if params:
                    cursor.executemany(insert, params)
                    ids = [p[3] for p in params]
                    for start in range(0, len(ids), 500):
                        chunk = ids[start : start + 500]
                        cursor.execute(
                            f"DELETE FROM {PENDING} WHERE id IN ({', '.join(['%s'] * len(chunk))})",  # noqa: S608
                            chunk,
                        )
                return len(params)
        except IntegrityError:
            # Another thread sealed the same batch first (SQLite has no advisory lock).
            if attempt == 4:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def rechain(connection: Any) -> int:
    """Recompute every chained entry's links and hash in the current canonical format, same
    positions (migrations 0005 and 0007, under the owner's maintenance mode; the checkpoints of
    the former hashes are dropped by the caller). Returns the number of entries."""
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        select = (
            f"SELECT id, position, {', '.join(content_expressions(connection.vendor))} "  # noqa: S608
            f"FROM {CHAINED} ORDER BY position"
        )
        _, previous = chain_base(connection)
        updates = []
        if postgres:
            cursor.execute(ISO_DATES)
            with cursor.cursor.copy(f"COPY ({select}) TO STDOUT") as copy:
                rows = [bytes(row).rstrip(b"\n").split(b"\t", 2) for row in copy]
            for entry_id, position, content in rows:
                text = chain.line_after_head(int(position), previous, int(entry_id), content)
                digest = hashlib.sha256(text).hexdigest()
                updates.append((previous, digest, int(entry_id)))
                previous = digest
        else:
            cursor.execute(select)
            for entry_id, position, *content in cursor.fetchall():
                values = normalise_sqlite(content)
                line = chain.text_of_strings([str(position), previous, str(entry_id), *values])
                digest = hashlib.sha256(line.encode("utf-8")).hexdigest()
                updates.append((previous, digest, entry_id))
                previous = digest
        if not updates:
            return 0
        # prev_hash is unique: move every link out of the way first.
        cursor.execute(f"UPDATE {CHAINED} SET prev_hash = 'old-' || CAST(id AS TEXT)")  # noqa: S608
        cursor.executemany(
            f"UPDATE {CHAINED} SET prev_hash = %s, entry_hash = %s WHERE id = %s",  # noqa: S608
            updates,
        )
        return len(updates)


def seal_pending(
    using: str = DEFAULT_DB_ALIAS, *, wait: bool = False, limit: int = BATCH, drain: bool = False
) -> int:
    """Chain pending entries; returns how many. ``wait``: wait for a running sealer instead of
    leaving the work to it; ``drain``: repeat until nothing is pending (implies ``wait``)."""
    connection = connections[using]
    total = 0
    while True:
        if connection.vendor == "postgresql":
            sealed = _seal_postgresql(connection, limit, wait or drain)
        else:
            sealed = _seal_sqlite(connection, limit)
        total += sealed
        if not drain or sealed < limit:
            return total


def pending_count(using: str = DEFAULT_DB_ALIAS) -> int:
    return PendingEntry.objects.using(using).count()
