from __future__ import annotations

import contextlib
import datetime
import threading
from collections.abc import Callable, Iterator
from typing import Any

import time_machine
from django.db import connection, connections, transaction

from cmer.audit import chain, protection, sealing
from cmer.audit.core import record_event
from cmer.audit.models import AuditEntry, ChainedEntry, Event


def seal() -> int:
    """Chain everything pending (what beat or the next commit would do)."""
    return sealing.seal_pending(drain=True)


def make_entries(n: int, **kwargs) -> list[AuditEntry]:
    """``n`` entries, chained, read back through the view (with their positions)."""
    created = [
        record_event(Event.ACCESS, data={"what": "test", "i": i}, **kwargs) for i in range(n)
    ]
    seal()
    return list(AuditEntry.objects.filter(pk__in=[e.pk for e in created]).order_by("position"))


def chain_rows() -> list[tuple[int, str, str]]:
    seal()
    return list(
        ChainedEntry.objects.order_by("position").values_list("position", "prev_hash", "entry_hash")
    )


@contextlib.contextmanager
def recorded_at(when: datetime.datetime, **travel: Any) -> Iterator[None]:
    """Entries recorded as if at ``when``. On PostgreSQL the database gives every entry its own
    time (the column's default, ``protection.stamp_by_default``): inside the block that default
    is ``when`` itself, as only the tables' owner can set it."""
    with time_machine.travel(when, **travel):
        if connection.vendor != "postgresql":
            yield
            return
        moment = when.astimezone(datetime.UTC).isoformat()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                f'ALTER TABLE audit_pending ALTER COLUMN "timestamp" '
                f"SET DEFAULT '{moment}'::timestamptz"
            )
            try:
                yield
            finally:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(
                    'ALTER TABLE audit_pending ALTER COLUMN "timestamp" '
                    "SET DEFAULT clock_timestamp()"
                )
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")


@contextlib.contextmanager
def tampering() -> Iterator[object]:
    """What an attacker with the owner's rights would do: lift the triggers, then write."""
    with protection.maintenance(connection), connection.cursor() as cursor:
        yield cursor


def forge_row(**overrides) -> ChainedEntry:
    """Insert a self-consistent row outside the chain (no lock, no link), bypassing save()."""
    head = ChainedEntry.objects.order_by("-position").first()
    entry = ChainedEntry(
        id=head.id + 1000,
        event=Event.ACCESS,
        action=ChainedEntry.Action.ACCESS,
        content_type_id=head.content_type_id,
        object_pk=head.object_pk,
        object_repr="forged",
        position=head.position + 1,
        prev_hash="f" * 64,
        timestamp=head.timestamp,
    )
    for key, value in overrides.items():
        setattr(entry, key, value)
    entry.entry_hash = chain.entry_hash(entry.canonical_values())
    fields = list(ChainedEntry._meta.local_concrete_fields)
    ChainedEntry._base_manager._insert([entry], fields=fields, using="default")
    return entry


def run_writers(write: Callable[[int], None], writers: int = 8) -> None:
    """``write(index)`` in ``writers`` threads started together, each on its own connection;
    fails the test with the first error any of them raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def run(index: int) -> None:
        try:
            start.wait()
            write(index)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
