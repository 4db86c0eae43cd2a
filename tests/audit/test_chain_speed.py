"""The fast paths keep the chain exact: the Python text builder matches the documented format,
PostgreSQL's COPY lines (what the sealer and verification hash there) are that same text for
every kind of value, and entries of transactions with savepoint rollbacks, written by 8 writers
at once while their sealers race, chain without a fork."""

from __future__ import annotations

import datetime
import itertools

import pytest
from django.db import connection, transaction

from cmer.audit import chain, verification
from cmer.audit.models import AuditEntry, ChainedEntry, Event
from tests.audit.helpers import chain_rows, make_entries, recorded_at, run_writers

pytestmark = pytest.mark.django_db


_DOCUMENTED_ESCAPES = {
    "\\": "\\\\",
    "\t": "\\t",
    "\n": "\\n",
    "\r": "\\r",
    "\b": "\\b",
    "\f": "\\f",
    "\v": "\\v",
}


def _reference_text(values) -> str:
    """The format as documented in chain.py, written the plain way (character by character)."""
    fields = [chain.VERSION]
    for name, value in zip(chain.CANONICAL_COLUMNS, values, strict=True):
        if value is None:
            fields.append("\\N")
            continue
        if name == "timestamp":
            text = chain.format_time(value)
        elif name == "remote_addr":
            text = chain.format_address(value) or ""
        else:
            text = str(value)
        fields.append("".join(_DOCUMENTED_ESCAPES.get(c, c) for c in text))
    return "\t".join(fields)


def test_text_builder_matches_the_documented_format():
    samples = [None, "", "a\nb:{x}\tc\\N", "é€😀\r\b\f\v\x01", 0, 12345678901234, "x" * 300]
    stamp = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    for offset in range(len(samples)):
        values: list = []
        for index, name in enumerate(chain.CANONICAL_COLUMNS):
            value = samples[(index + offset) % len(samples)]
            if name == "timestamp":
                value = None if value is None else stamp
            elif name == "remote_addr":
                value = None if value is None else "2001:DB8::1"
            values.append(value)
        assert chain.canonical_text(values) == _reference_text(values)
        assert chain.entry_hash(values) == chain.hash_of_strings(chain.canonical_strings(values))


def test_verification_reads_back_every_kind_of_value(world):
    from cmer.audit.core import record_event

    with recorded_at(datetime.datetime(2026, 3, 1, 10, 0, 0, tzinfo=datetime.UTC)):
        record_event(Event.ACCESS, actor=world.dpo, data={"what": "x"})  # microseconds = 0
    half = datetime.datetime(2026, 3, 1, 10, 0, 0, 500000, tzinfo=datetime.UTC)
    with recorded_at(half, tick=False):
        record_event(Event.ACCESS, actor=world.dpo, data={"what": "x"})  # .5, not .500000
    AuditEntry.objects.create(
        event=Event.EXPORT,
        action=AuditEntry.Action.ACCESS,
        content_type_id=AuditEntry.objects.first().content_type_id,
        object_pk="TAR-2026-0007",
        object_repr="Référence\nsur deux lignes : {x} – 😀 \\N \\ \r\b\f\v\x01\x1f",
        actor=world.dpo,
        actor_email=world.dpo.email,
        remote_addr="2001:DB8:0:0::1",
        remote_port=443,
        cid="request-1",
        changes_text="a\tb",
        changes={"z": [1, 2.5, None], "a": "é"},
        additional_data={"n": 1},
        serialized_data={"k": True},
    )
    record_event(Event.DENIED, target_model=AuditEntry, target_pk=7)
    report = verification.verify_chain(chunk_size=2)
    assert report.ok, report.message
    assert report.checked == AuditEntry.objects.count()
    # The sealer hashed PostgreSQL's COPY lines there: the Python text must be the same bytes.
    for entry in ChainedEntry.objects.all():
        assert chain.entry_hash(entry.canonical_values()) == entry.entry_hash, entry.object_repr


def _links() -> list[tuple[int, str, str]]:
    return chain_rows()


def _assert_chained(rows) -> None:
    assert [r[0] for r in rows] == list(range(rows[0][0], rows[0][0] + len(rows)))
    assert all(after[1] == before[2] for before, after in itertools.pairwise(rows))


def test_entries_of_one_transaction_survive_savepoint_rollbacks(world):
    before = AuditEntry.objects.count()
    with transaction.atomic():
        make_entries(2)
        with pytest.raises(RuntimeError), transaction.atomic():
            make_entries(2)  # sealed inside the savepoint…
            raise RuntimeError  # …which is rolled back, the chain's part with it
        make_entries(1)
        with transaction.atomic():
            make_entries(1)
        make_entries(1)
    rows = _links()
    assert len(rows) == before + 5
    _assert_chained(rows)
    assert verification.verify_chain().ok


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_no_fork_with_8_writers_and_several_entries_per_transaction(settings):
    """Like a request that submits a referral: several entries per transaction, one of them in
    a savepoint that is rolled back, 8 writers at once."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers itself; the lock under test is PostgreSQL's")
    from cmer.audit.core import record_event

    settings.AUDIT_SEAL_INTERVAL = 0  # every commit tries to seal: sealers race each other

    def writer(index: int) -> None:
        for i in range(6):
            with transaction.atomic():
                for j in range(5):
                    record_event(Event.ACCESS, data={"thread": index, "i": i, "j": j})
                with pytest.raises(RuntimeError), transaction.atomic():
                    record_event(Event.ACCESS, data={"rolled back": True})
                    raise RuntimeError
                record_event(Event.ACCESS, data={"thread": index, "i": i, "last": True})

    run_writers(writer)
    rows = _links()
    assert len(rows) == 8 * 6 * 6
    _assert_chained(rows)
    assert verification.verify_chain().ok
