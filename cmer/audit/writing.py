"""The audit trail's write path: recording an entry is one INSERT into the pending table, no
lock; the entry is chained soon after its transaction commits (``sealing.py``).

``models.py`` keeps the schema and the guards and imports nothing from here: ``AuditEntry.save()``
(django-auditlog's ``log_create``, ``objects.create()``) reaches ``append_row`` through the hook
this module installs when it is imported (``AuditConfig.ready()`` imports it), and
``core.record_event`` calls ``append`` directly. So models → nothing; writing → models, sealing;
sealing → models: no import circle.

The INSERT goes through Django's cursor wrapper (so that ``assertNumQueries``,
``CaptureQueriesContext`` and execute wrappers see every audit write) around, on PostgreSQL, a
server-side binding psycopg cursor, which psycopg prepares after a few executions: no parsing or
planning by the server and no quoting of each value by the client for every entry (Django's own
cursors bind on the client side).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models, transaction
from django.db.models import signals

from . import sealing
from .models import AppendOnlyError, AuditEntry, PendingEntry, install_write_path

logger = logging.getLogger(__name__)

# Columns the database gives (id) or the sealer writes (chain links): never in the INSERT.
_NOT_INSERTED = frozenset({"position", "prev_hash", "entry_hash", "id"})
_PLANS: dict[str, tuple[str, list[tuple[str, Any]]]] = {}


def append(entry: AuditEntry, using: str = DEFAULT_DB_ALIAS) -> None:
    """``save()`` of a new entry without Model.save's generic machinery: the path of every
    recorded read and event (``core.record_event``). The signals are still sent
    (django-auditlog fills actor and address in pre_save inside its middleware's context)."""
    if not entry._state.adding:
        raise AppendOnlyError("audit entries are never updated")
    cls = type(entry)
    signals.pre_save.send(sender=cls, instance=entry, raw=False, using=using, update_fields=None)
    entry.pk = append_row(entry, using)[0]
    entry._state.adding = False
    entry._state.db = using
    signals.post_save.send(
        sender=cls, instance=entry, created=True, update_fields=None, raw=False, using=using
    )


def append_row(entry: AuditEntry, using: str) -> tuple[Any, ...]:
    """One INSERT into the pending table, no lock; returns ``(id,)``. Once the transaction
    commits, ``seal_soon`` chains what is pending. The statement and the per-column conversions
    (only where a column needs one, and only for a value that is not NULL) are prepared once
    per database vendor."""
    connection = connections[using]
    if entry.object_repr and len(entry.object_repr) > 200:
        entry.object_repr = entry.object_repr[:200]
    plan = _PLANS.get(connection.vendor)
    if plan is None:
        plan = _PLANS[connection.vendor] = _insert_plan(connection)
    sql, columns = plan
    values = entry.__dict__
    params = []
    for attname, convert in columns:
        value = values[attname]
        params.append(value if convert is None or value is None else convert(value))
    with _cursor(connection) as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if connection.vendor == "postgresql":
        # The database gave the time (its own clock: the process's is not sent).
        entry.timestamp = row[1]
    seal_soon(using)
    return row[:1]


def _cursor(connection: Any) -> Any:
    """Django's cursor wrapper (query log, execute wrappers, error translation) around, on
    PostgreSQL, a server-side binding cursor on the same connection, hence in the same
    transaction. ``make_debug_cursor`` / ``make_cursor`` are what ``connection.cursor()`` itself
    wraps a new cursor with."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    import psycopg

    connection.ensure_connection()
    raw = psycopg.Cursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(raw)
    return connection.make_cursor(raw)


def _insert_plan(connection: Any) -> tuple[str, list[tuple[str, Any]]]:
    # PostgreSQL gives the time itself (the column's default, which the application role may
    # not override: protection.py); SQLite takes the process's.
    given_by_database = {"timestamp"} if connection.vendor == "postgresql" else set()
    fields = [
        f
        for f in AuditEntry._meta.concrete_fields
        if f.attname not in _NOT_INSERTED
        and not f.primary_key
        and f.attname not in given_by_database
    ]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(PendingEntry._meta.db_table)} "  # noqa: S608
        f"({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"RETURNING {quote('id')}, {quote('timestamp')}"
    )
    columns: list[tuple[str, Any]] = []
    for f in fields:
        # Integers and text go as they are; JSON, times and addresses through the field.
        plain = isinstance(f, models.ForeignKey | models.IntegerField) or (
            type(f) in (models.CharField, models.TextField)
        )
        columns.append((f.attname, None if plain else _converter(f, connection)))
    return sql, columns


def _converter(field: models.Field, connection: Any) -> Any:
    def convert(value: Any) -> Any:
        return field.get_db_prep_save(value, connection)

    return convert


class _SealAfterCommit:
    """The on_commit callback of a transaction that recorded entries."""

    __slots__ = ("using",)

    def __init__(self, using: str) -> None:
        self.using = using

    def __call__(self) -> None:
        interval = getattr(settings, "AUDIT_SEAL_INTERVAL", 0.5)
        now = time.monotonic()
        if now - _last_seal.get(self.using, -interval) < interval:
            return
        _last_seal[self.using] = now
        try:
            sealing.seal_pending(self.using)
        except DatabaseError:
            # The entries are safe in the pending table; beat's sealing will chain them.
            logger.exception("audit: sealing after commit failed")


_last_seal: dict[str, float] = {}


def seal_soon(using: str = DEFAULT_DB_ALIAS) -> None:
    """Seal once the current transaction commits (at once outside a transaction); at most one
    seal runs per ``AUDIT_SEAL_INTERVAL`` and process. In a transaction, one callback serves
    the entries that follow it at the same savepoint depth: a rollback that takes such an entry
    back takes that callback with it (Django keeps each callback's savepoints), and otherwise
    it runs at the commit."""
    connection = connections[using]
    if connection.in_atomic_block:
        callbacks = connection.run_on_commit
        if callbacks:
            # Django keeps (savepoint ids, callback, robust) per callback (pinned by
            # tests/audit/test_write_path.py).
            savepoints, last = callbacks[-1][0], callbacks[-1][1]
            if (
                type(last) is _SealAfterCommit
                and last.using == using
                and savepoints == set(connection.savepoint_ids)
            ):
                return
    transaction.on_commit(_SealAfterCommit(using), using=using)


install_write_path(append_row)
