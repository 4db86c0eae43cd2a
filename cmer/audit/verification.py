"""Verification of the chain, checkpoints, and the retention purge.

``verify_chain()`` streams the table in position order (one query, a server-side cursor on
PostgreSQL fetched ``chunk_size`` rows at a time, constant memory; every column is read as the
text that was hashed, so no model, JSON value or datetime is built), recomputes every hash and
stops at the first break, naming the entry that was altered, inserted or removed. Signed
checkpoints (``AuditCheckpoint``, and lines the DPO kept outside) prove in addition that the
chain was not rewritten and recomputed as a whole, nor cut at its end.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from . import chain, protection
from .models import AuditCheckpoint, AuditEntry, AuditVerification

TABLE = AuditEntry._meta.db_table
_TIMESTAMP = chain.CANONICAL_COLUMNS.index("timestamp")
_REMOTE_ADDR = chain.CANONICAL_COLUMNS.index("remote_addr")
# Every canonical column read as text (what ``chain.canonical_strings`` makes of the stored
# value), then the position as a number and the stored hash: ``chain.text_of_strings`` reads
# items 0–18 of the row as it comes, with no conversion in Python.
_POSITION, _HASH = len(chain.CANONICAL_COLUMNS), len(chain.CANONICAL_COLUMNS) + 1
_INTEGER_COLUMNS = frozenset(
    {"position", "action", "content_type_id", "object_id", "actor_id", "remote_port", "commune_id"}
)


def _select(vendor: str) -> str:
    columns = []
    for name in chain.CANONICAL_COLUMNS:
        if name == "timestamp" and vendor == "postgresql":
            # Exactly chain.format_timestamp's "%Y-%m-%dT%H:%M:%S.%fZ", in UTC.
            columns.append(
                """to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
            )
        elif name == "remote_addr" and vendor == "postgresql":
            columns.append("host(remote_addr)")  # normalised in Python (format_address)
        elif name in _INTEGER_COLUMNS:
            columns.append(f"CAST({name} AS TEXT)")
        else:
            columns.append(f'"{name}"')  # text already (JSON: the very text that was hashed)
    columns += ["position", "entry_hash"]
    where = f"{TABLE}.position > %s ORDER BY {TABLE}.position"
    return f"SELECT {', '.join(columns)} FROM {TABLE} WHERE {where}"  # noqa: S608


def _normalise(rows: list[tuple[Any, ...]], addresses: dict[str, str], sqlite: bool) -> None:
    """In place: addresses in ``format_address``'s form (cached: few distinct values), and on
    SQLite the stored naive UTC text "YYYY-MM-DD HH:MM:SS[.ffffff]" in ``format_timestamp``'s."""
    for index, row in enumerate(rows):
        address = row[_REMOTE_ADDR]
        if address is not None:
            normal = addresses.get(address)
            if normal is None:
                if len(addresses) > 100_000:
                    addresses.clear()
                normal = addresses[address] = chain.format_address(address) or ""
            if normal != address:
                row = rows[index] = (*row[:_REMOTE_ADDR], normal, *row[_REMOTE_ADDR + 1 :])
        if sqlite:
            stamp = chain.format_timestamp(row[_TIMESTAMP])
            rows[index] = (*row[:_TIMESTAMP], stamp, *row[_TIMESTAMP + 1 :])


@contextlib.contextmanager
def _chunks(connection: Any, after: int, chunk_size: int) -> Iterator[Iterator[list[Any]]]:
    """The chain after ``after``, as text, in lists of ``chunk_size`` rows.

    PostgreSQL: a server-side cursor (run this in a transaction, or it is materialised WITH HOLD)
    read by a thread one chunk ahead, so that the server produces the next chunk while this one
    is hashed (psycopg waits for the server without the GIL).
    """
    sqlite = connection.vendor != "postgresql"
    addresses: dict[str, str] = {}
    with connection.chunked_cursor() as cursor:
        cursor.execute(_select(connection.vendor), [after])
        if sqlite:

            def direct() -> Iterator[list[Any]]:
                while rows := cursor.fetchmany(chunk_size):
                    _normalise(rows, addresses, sqlite)
                    yield rows

            yield direct()
            return
        ahead: queue.Queue[Any] = queue.Queue(maxsize=2)
        stop = threading.Event()

        def fetch() -> None:
            try:
                while not stop.is_set():
                    rows = cursor.fetchmany(chunk_size)
                    ahead.put(rows)
                    if not rows:
                        return
            except BaseException as exc:  # handed to the reader
                ahead.put(exc)

        def read() -> Iterator[list[Any]]:
            while True:
                rows = ahead.get()
                if isinstance(rows, BaseException):
                    raise rows
                if not rows:
                    return
                _normalise(rows, addresses, sqlite)
                yield rows

        fetcher = threading.Thread(target=fetch, name="verify-audit-fetch", daemon=True)
        fetcher.start()
        try:
            yield read()
        finally:
            stop.set()
            while fetcher.is_alive():  # unblock a put() waiting for room
                with contextlib.suppress(queue.Empty):
                    ahead.get(timeout=0.05)
            fetcher.join()


class Problem:
    ALTERED = "altered"
    INSERTED = "inserted"
    REMOVED = "removed"
    REWRITTEN = "rewritten"
    FORGED_CHECKPOINT = "bad_checkpoint"


@dataclass
class Report:
    ok: bool = True
    checked: int = 0
    head_position: int | None = None
    head_hash: str = ""
    problem: str = ""
    problem_position: int | None = None
    message: str = ""
    started_at: datetime.datetime = field(default_factory=timezone.now)
    finished_at: datetime.datetime | None = None

    def fail(self, problem: str, position: int | None, message: str) -> Report:
        self.ok = False
        self.problem = problem
        self.problem_position = position
        self.message = message
        return self


@dataclass(frozen=True)
class Seal:
    """A trusted (position, hash) pair: a checkpoint whose MAC was checked."""

    position: int
    hash: str
    label: str


def trusted_seals(
    using: str = DEFAULT_DB_ALIAS, lines: Iterable[str] = ()
) -> tuple[list[Seal], list[str]]:
    """Checkpoints from the database and from downloaded lines; those with a bad MAC are errors."""
    seals: list[Seal] = []
    errors: list[str] = []
    for checkpoint in AuditCheckpoint.objects.using(using).order_by("head_position", "pk"):
        if checkpoint.mac_is_valid():
            seals.append(Seal(checkpoint.head_position, checkpoint.head_hash, checkpoint.text()))
        else:
            errors.append(f"checkpoint #{checkpoint.pk} has an invalid MAC")
    for line in lines:
        if not line.strip():
            continue
        try:
            fields = chain.parse_checkpoint_line(line)
        except ValueError as exc:
            errors.append(str(exc))
            continue
        if chain.mac_is_valid(fields["text"], fields["mac"]):
            seals.append(Seal(int(fields["position"]), fields["hash"], fields["text"]))
        else:
            errors.append(f"invalid MAC: {fields['text']}")
    return seals, errors


def verify_chain(
    using: str = DEFAULT_DB_ALIAS, *, chunk_size: int = 5_000, checkpoint_lines: Iterable[str] = ()
) -> Report:
    """Recompute the whole chain; stop at the first break. See the module docstring."""
    report = Report()
    connection = connections[using]
    seals, errors = trusted_seals(using, checkpoint_lines)
    if errors:
        return _done(report.fail(Problem.FORGED_CHECKPOINT, None, "; ".join(errors)))
    boundaries = [
        (c.head_position, c.head_hash)
        for c in AuditCheckpoint.objects.using(using).filter(kind=AuditCheckpoint.Kind.BOUNDARY)
    ]
    base_position, base_hash = max(boundaries, default=(0, chain.GENESIS_HASH))
    expected_by_position = {s.position: s for s in seals if s.position > base_position}
    for seal in seals:
        if seal.position == base_position and seal.hash != base_hash:
            return _done(
                report.fail(Problem.REWRITTEN, seal.position, f"boundary differs from {seal.label}")
            )
    previous_position, previous_hash = base_position, base_hash

    def fail(problem: str, position: int | None, message: str) -> Report:
        report.checked = previous_position - base_position
        return _done(report.fail(problem, position, message))

    build = chain.text_of_strings
    sha256 = hashlib.sha256
    with (
        transaction.atomic(using=using),  # one snapshot; the server-side cursor streams
        _chunks(connection, base_position, chunk_size) as chunks,
    ):
        for rows in chunks:
            for row in rows:
                position, stored_hash = row[_POSITION], row[_HASH]
                if position != previous_position + 1:
                    first_missing = previous_position + 1
                    return fail(
                        Problem.REMOVED,
                        first_missing,
                        f"entries {first_missing}–{position - 1} are missing "
                        f"(removed before entry {position})",
                    )
                if sha256(build(row).encode()).hexdigest() != stored_hash:
                    return fail(
                        Problem.ALTERED, position, f"entry {position} was altered (hash mismatch)"
                    )
                if row[1] != previous_hash:
                    return fail(
                        Problem.INSERTED,
                        position,
                        f"entry {position} does not follow entry {previous_position} "
                        "(inserted outside the chain)",
                    )
                if expected_by_position:
                    seal = expected_by_position.get(position)
                    if seal is not None and seal.hash != stored_hash:
                        return fail(
                            Problem.REWRITTEN,
                            position,
                            f"entry {position} differs from the signed checkpoint {seal.label}: "
                            "the chain was rewritten",
                        )
                previous_position, previous_hash = position, stored_hash
    report.checked = previous_position - base_position
    last_sealed = max(expected_by_position, default=base_position)
    if last_sealed > previous_position:
        return fail(
            Problem.REMOVED,
            previous_position + 1,
            f"entries {previous_position + 1}–{last_sealed} are missing: the end of the "
            "chain was removed (a signed checkpoint names them)",
        )
    report.head_position = previous_position
    report.head_hash = previous_hash
    return _done(report)


def _done(report: Report) -> Report:
    report.finished_at = timezone.now()
    return report


def record(report: Report, using: str = DEFAULT_DB_ALIAS) -> AuditVerification:
    """Keep the result for the DPO's page."""
    return AuditVerification.objects.using(using).create(
        started_at=report.started_at,
        finished_at=report.finished_at or timezone.now(),
        ok=report.ok,
        checked=report.checked,
        head_position=report.head_position,
        head_hash=report.head_hash,
        problem=report.problem,
        problem_position=report.problem_position,
        message=report.message[:2000],
    )


def head(using: str = DEFAULT_DB_ALIAS) -> tuple[int, str]:
    row = (
        AuditEntry.objects.using(using)
        .order_by("-position")
        .values_list("position", "entry_hash")
        .first()
    )
    if row is None:
        from .models import _chain_base

        return _chain_base(connections[using])
    return row


def make_checkpoint(
    kind: str = AuditCheckpoint.Kind.MANUAL, using: str = DEFAULT_DB_ALIAS
) -> AuditCheckpoint:
    """Seal the current head (position, hash, number of entries) with the HMAC key."""
    with transaction.atomic(using=using):
        position, digest = head(using)
        count = AuditEntry.objects.using(using).filter(position__lte=position).count()
        return AuditCheckpoint.objects.using(using).create(
            kind=kind, head_position=position, head_hash=digest, entry_count=count
        )


class PurgeRefused(Exception):
    pass


def month_start(year: int, month: int) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime(year, month, 1))  # noqa: DTZ001 (local midnight)


def purge_before(
    boundary: datetime.datetime, using: str = DEFAULT_DB_ALIAS, *, dry_run: bool = False
) -> tuple[int, AuditCheckpoint | None]:
    """Delete every entry recorded before ``boundary`` (a month start), leaving a boundary
    checkpoint so that what remains still verifies. The chain is verified first: a broken
    chain is never purged (the evidence would go with it).

    Needs the owner of the table: the triggers are lifted inside the transaction with
    ``ALTER TABLE``, which PostgreSQL refuses to any other role.
    """
    connection = connections[using]
    report = verify_chain(using)
    if not report.ok:
        raise PurgeRefused(f"the chain does not verify: {report.message}")
    entries = AuditEntry.objects.using(using)
    # Positions are assigned in time order (timestamp taken under the chain lock); to be safe
    # with older rows, the cut is just before the first entry at or after the boundary.
    first_kept = (
        entries.filter(timestamp__gte=boundary).order_by("position").values_list("position")[:1]
    )
    first_kept_position = first_kept[0][0] if first_kept else None
    if first_kept_position is None:
        raise PurgeRefused("no entry after the boundary: nothing would remain to chain from")
    last_purged = (
        entries.filter(position__lt=first_kept_position)
        .order_by("-position")
        .values_list("position", "entry_hash")
        .first()
    )
    if last_purged is None:
        return 0, None
    count = entries.filter(position__lte=last_purged[0]).count()
    if dry_run:
        return count, None
    with protection.maintenance(connection):
        boundary_checkpoint = AuditCheckpoint.objects.using(using).create(
            kind=AuditCheckpoint.Kind.BOUNDARY,
            head_position=last_purged[0],
            head_hash=last_purged[1],
            entry_count=entries.filter(position__gt=last_purged[0]).count(),
        )
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {TABLE} WHERE position <= %s", [last_purged[0]])  # noqa: S608
            deleted = cursor.rowcount
    return deleted, boundary_checkpoint
