"""Verification of the chain, checkpoints, and the retention purge.

``verify_chain()`` first seals what is pending (``sealing.py``), then streams the chain in
position order (one query, constant memory: on PostgreSQL a ``COPY`` whose lines are the
canonical texts themselves, on SQLite rows turned into text), recomputes every hash and stops at
the first break, naming the entry that was altered, inserted or removed. Signed
checkpoints (``AuditCheckpoint``, and lines the DPO kept outside) prove in addition that the
chain was not rewritten and recomputed as a whole, nor cut at its end.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import logging
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.utils import timezone

from . import chain, protection, sealing
from .models import AuditCheckpoint, AuditVerification, ChainedEntry, PendingEntry, chain_base

logger = logging.getLogger(__name__)
TABLE = ChainedEntry._meta.db_table


def copy_select(after: int) -> str:
    """PostgreSQL: the chain after position ``after`` as its canonical lines, then a TAB and the
    stored hash (``COPY`` text format writes each field exactly as ``chain.escape``)."""
    return (
        f"COPY (SELECT '{chain.VERSION}', position, prev_hash, id, "  # noqa: S608
        f"{', '.join(sealing.content_expressions('postgresql'))}, entry_hash FROM {TABLE} "
        f"WHERE position > {int(after)} ORDER BY position) TO STDOUT"
    )


def _lines_postgresql(connection: Any, after: int) -> Generator[Any, None, None]:
    """The chain after ``after`` as ``COPY`` rows, each the canonical line, a TAB, the stored
    hash and a newline: the server renders every column, Python touches no column. Must run in
    a transaction that ran ``ISO_DATES`` (``_verify``'s)."""
    with connection.cursor() as cursor:
        cursor.execute(sealing.ISO_DATES)
    with connection.cursor() as cursor, cursor.cursor.copy(copy_select(after)) as copy:
        # psycopg returns one row per read: each block is one whole line.
        yield from copy


def _lines_sqlite(connection: Any, after: int, chunk_size: int) -> Generator[bytes, None, None]:
    """The same lines as PostgreSQL's ``COPY`` writes, built from SQLite's rows in Python."""
    sql = (
        f"SELECT position, prev_hash, CAST(id AS TEXT), "  # noqa: S608
        f"{', '.join(sealing.content_expressions('sqlite'))}, "
        f"entry_hash FROM {TABLE} WHERE position > %s ORDER BY position"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [after])
        while rows := cursor.fetchmany(chunk_size):
            for position, previous, entry_id, *content, stored in rows:
                text = chain.text_of_strings(
                    [str(position), previous, entry_id, *sealing.normalise_sqlite(content)]
                )
                yield f"{text}\t{stored or ''}\n".encode()


def _lines(connection: Any, after: int, chunk_size: int) -> Generator[Any, None, None]:
    """The chain's entries in position order, one line each (see ``_walk``)."""
    if connection.vendor == "postgresql":
        return _lines_postgresql(connection, after)
    return _lines_sqlite(connection, after, chunk_size)


PROGRESS_EVERY = 5_000


@dataclass
class _Break:
    problem: str
    position: int | None
    message: str


class _Unreadable(Exception):
    """A line that could not be read or parsed, after the last good ``position``."""

    def __init__(self, position: int, cause: BaseException) -> None:
        super().__init__(position, cause)
        self.position = position
        self.cause = cause


def _walk(
    lines: Iterable[Any],
    position: int,
    previous: bytes,
    signed: dict[int, Seal],
    on_progress: Callable[[int], None] | None,
) -> tuple[int, bytes, _Break | None]:
    """Check each line against the one before: ``(last good position, its hash, the first
    break or None)``; raises ``_Unreadable`` with the last good position.

    The hot loop does no parsing: a good line starts with the text its position and the
    previous hash must give (one bytes format and ``startswith``), and ends with a TAB, the
    64-character hash of everything before that TAB, and a newline. Only a line that fails is
    parsed, to name the problem (``_diagnose``). The ``try`` costs nothing until it raises.
    """
    sha256 = hashlib.sha256
    start = chain.VERSION.encode() + b"\t%d\t%b\t"  # the version is constant: formatted once
    tab = ord("\t")
    try:
        for block in lines:
            line = bytes(block)
            expected = position + 1
            stored = line[-65:-1]
            if (
                not line.startswith(start % (expected, previous))
                or line[-66] != tab
                or sha256(line[:-66]).hexdigest().encode() != stored
            ):
                return position, previous, _diagnose(line, position, previous)
            if signed:
                seal_ = signed.get(expected)
                if seal_ is not None and seal_.hash.encode() != stored:
                    message = (
                        f"entry {expected} differs from the signed checkpoint {seal_.label}: "
                        "the chain was rewritten"
                    )
                    return position, previous, _Break(Problem.REWRITTEN, expected, message)
            position, previous = expected, stored
            if on_progress is not None and not position % PROGRESS_EVERY:
                on_progress(position)
    except Exception as exc:
        raise _Unreadable(position, exc) from exc
    return position, previous, None


def _diagnose(line: bytes, previous_position: int, previous: bytes) -> _Break:
    """Name what is wrong with a line that failed ``_walk``'s check, in the order the problems
    are reported: position, then content, then link."""
    text, _, stored = line.rstrip(b"\n").rpartition(b"\t")
    _version, position_text, _link, _rest = text.split(b"\t", 3)
    position = int(position_text)
    if position != previous_position + 1:
        if position <= previous_position:
            return _Break(
                Problem.FORK, position, f"entry {position} appears twice (the chain forks there)"
            )
        first_missing = previous_position + 1
        return _Break(
            Problem.REMOVED,
            first_missing,
            f"entries {first_missing}–{position - 1} are missing (removed before entry {position})",
        )
    if hashlib.sha256(text).hexdigest().encode() != stored:
        return _Break(Problem.ALTERED, position, f"entry {position} was altered (hash mismatch)")
    return _Break(
        Problem.INSERTED,
        position,
        f"entry {position} does not follow entry {previous_position} (inserted outside the chain)",
    )


class Problem:
    ALTERED = "altered"
    INSERTED = "inserted"
    REMOVED = "removed"
    REWRITTEN = "rewritten"
    FORGED_CHECKPOINT = "bad_checkpoint"
    FORK = "fork"
    DUPLICATE_ID = "duplicate_id"
    SEAL_FAILED = "seal_failed"
    UNREADABLE = "unreadable"


@dataclass
class Report:
    ok: bool = True
    checked: int = 0
    head_position: int | None = None
    head_hash: str = ""
    problem: str = ""
    problem_position: int | None = None
    message: str = ""
    # Entries recorded since the seal at the start, not chained yet (not verified by this run).
    pending: int = 0
    base_position: int = 0
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
    using: str = DEFAULT_DB_ALIAS,
    *,
    chunk_size: int = 5_000,
    checkpoint_lines: Iterable[str] = (),
    seal: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> Report:
    """Recompute the whole chain; stop at the first break. Never raises: a seal that fails, a
    row that cannot be read or a database error is a reported problem with its position (a
    verification that raised would be a silent one). ``on_progress(checked)`` is called after
    each block read (the "vérifier maintenant" page). See the module docstring."""
    report = Report()
    try:
        return _verify(report, using, chunk_size, checkpoint_lines, seal, on_progress)
    except Exception as exc:  # reported, never raised (a problem met in the stream has its
        # position: see _verify)
        logger.exception("audit: verification could not run")
        return _done(
            report.fail(Problem.UNREADABLE, None, f"{type(exc).__name__}: {str(exc)[:300]}")
        )


def _verify(
    report: Report,
    using: str,
    chunk_size: int,
    checkpoint_lines: Iterable[str],
    seal: bool,
    on_progress: Callable[[int], None] | None,
) -> Report:
    connection = connections[using]
    seal_error = ""
    if seal:
        try:
            sealing.seal_pending(using, drain=True)
        except DatabaseError as exc:
            logger.exception("audit: sealing before verification failed")
            seal_error = f"{type(exc).__name__}: {str(exc)[:300]}"
    seals, errors = trusted_seals(using, checkpoint_lines)
    if errors:
        return _done(report.fail(Problem.FORGED_CHECKPOINT, None, "; ".join(errors)))
    boundaries = [
        (c.head_position, c.head_hash)
        for c in AuditCheckpoint.objects.using(using).filter(kind=AuditCheckpoint.Kind.BOUNDARY)
    ]
    base_position, base_hash = max(boundaries, default=(0, chain.GENESIS_HASH))
    report.base_position = base_position
    expected_by_position = {s.position: s for s in seals if s.position > base_position}
    for seal_ in seals:
        if seal_.position == base_position and seal_.hash != base_hash:
            return _done(
                report.fail(
                    Problem.REWRITTEN, seal_.position, f"boundary differs from {seal_.label}"
                )
            )
    previous_position, previous_hash = base_position, base_hash

    def fail(problem: str, position: int | None, message: str) -> Report:
        report.checked = previous_position - base_position
        return _done(report.fail(problem, position, message))

    progress = (lambda position: on_progress(position - base_position)) if on_progress else None
    stream = _lines(connection, base_position, chunk_size)
    try:
        # One snapshot for the whole stream; the stream (a COPY on PostgreSQL) is closed before
        # the transaction ends, whichever way the loop is left.
        with transaction.atomic(using=using), contextlib.closing(stream):
            previous_position, previous, broken = _walk(
                stream, base_position, base_hash.encode(), expected_by_position, progress
            )
    except _Unreadable as unreadable:  # a row that cannot be read: reported with its position
        logger.exception("audit: verification could not read the chain")
        previous_position, cause = unreadable.position, unreadable.cause
        return fail(
            Problem.UNREADABLE,
            previous_position + 1,
            f"entry after position {previous_position} could not be read: "
            f"{type(cause).__name__}: {str(cause)[:300]}",
        )
    if broken is not None:
        return fail(broken.problem, broken.position, broken.message)
    previous_hash = previous.decode()
    if on_progress is not None:
        on_progress(previous_position - base_position)
    report.checked = previous_position - base_position
    last_sealed = max(expected_by_position, default=base_position)
    if last_sealed > previous_position:
        return fail(
            Problem.REMOVED,
            previous_position + 1,
            f"entries {previous_position + 1}–{last_sealed} are missing: the end of the "
            "chain was removed (a signed checkpoint names them)",
        )
    # Ids and positions agree: each id is hashed with its position (above), and no entry
    # waiting to be chained reuses the id of a chained one (it could never be sealed).
    clash = _clash(using)
    if clash is not None:
        return fail(
            Problem.DUPLICATE_ID,
            clash[1],
            f"a pending entry reuses the id {clash[0]} of chained entry {clash[1]}: "
            "it can never be chained",
        )
    report.head_position = previous_position
    report.head_hash = previous_hash
    report.pending = sealing.pending_count(using)
    if seal_error:
        return fail(
            Problem.SEAL_FAILED,
            previous_position + 1,
            f"pending entries could not be chained after position {previous_position} "
            f"({seal_error})",
        )
    return _done(report)


def _clash(using: str) -> tuple[int, int] | None:
    """The first chained entry (id, position) whose id a pending entry reuses, or None.

    Driven by the pending ids (a few seconds of entries), looked up by the chain's primary key:
    as one statement PostgreSQL walked the whole chain in position order, probing the pending
    table for each entry (0.25 s per 170,000 entries, as long as hashing 100,000 of them;
    bench/RESULTS.md)."""
    pending = list(PendingEntry.objects.using(using).order_by().values_list("pk", flat=True))
    found: list[tuple[int, int]] = []
    for start in range(0, len(pending), CLASH_CHUNK):
        # No ORDER BY: with one, PostgreSQL may again walk the chain by position (none found
        # is the normal case). The first by position is chosen here.
        found += (
            ChainedEntry.objects.using(using)
            .filter(pk__in=pending[start : start + CLASH_CHUNK])
            .order_by()
            .values_list("pk", "position")
        )
    return min(found, key=lambda row: row[1], default=None)


CLASH_CHUNK = 5_000


def _done(report: Report) -> Report:
    report.finished_at = timezone.now()
    return report


def record(report: Report, using: str = DEFAULT_DB_ALIAS) -> AuditVerification:
    """Keep the result for the DPO's page. On PostgreSQL through the database function: the
    application role may add a verification record, never change one (``protection.py``)."""
    values: dict[str, Any] = {
        "started_at": report.started_at,
        "finished_at": report.finished_at or timezone.now(),
        "ok": report.ok,
        "checked": report.checked,
        "head_position": report.head_position,
        "head_hash": report.head_hash,
        "problem": report.problem,
        "problem_position": report.problem_position,
        "message": report.message[:2000],
    }
    connection = connections[using]
    if connection.vendor != "postgresql":
        return AuditVerification.objects.using(using).create(**values)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {protection.VERIFICATION_FUNCTION}(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            list(values.values()),
        )
        pk = cursor.fetchone()[0]
    return AuditVerification.objects.using(using).get(pk=pk)


def head(using: str = DEFAULT_DB_ALIAS) -> tuple[int, str]:
    row = (
        ChainedEntry.objects.using(using)
        .order_by("-position")
        .values_list("position", "entry_hash")
        .first()
    )
    return row or chain_base(connections[using])


def make_checkpoint(
    kind: str = AuditCheckpoint.Kind.MANUAL, using: str = DEFAULT_DB_ALIAS
) -> AuditCheckpoint:
    """Seal the current head (position, hash, number of entries) with the HMAC key, once
    everything recorded so far is chained."""
    sealing.seal_pending(using, drain=True)
    connection = connections[using]
    with transaction.atomic(using=using):
        position, digest = head(using)
        count = ChainedEntry.objects.using(using).filter(position__lte=position).count()
        checkpoint = AuditCheckpoint(
            kind=kind, head_position=position, head_hash=digest, entry_count=count
        )
        if connection.vendor != "postgresql":
            checkpoint.save(using=using)
            return checkpoint
        # The application role adds a checkpoint through the database function, which checks
        # that the signed head is the chain's (``protection.py``).
        checkpoint.mac = chain.checkpoint_mac(checkpoint.text())
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {protection.CHECKPOINT_FUNCTION}(%s, %s, %s, %s, %s, %s)",
                [kind, position, digest, count, checkpoint.created_at, checkpoint.mac],
            )
            pk = cursor.fetchone()[0]
        return AuditCheckpoint.objects.using(using).get(pk=pk)


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
    entries = ChainedEntry.objects.using(using)
    # Positions follow the order of recording closely but not exactly (entries are chained in
    # batches, after their transaction commits): the cut is just before the first entry at or
    # after the boundary, so no entry of a kept month is ever purged.
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
