r"""The hash chain of the audit trail: canonical text, entry hash, chain lock, checkpoints' MAC.

Each chained entry's hash is SHA-256 over an explicit canonical text of its stored columns, which
includes its position and the previous entry's hash. The canonical text is built from *stored*
values only: the JSON columns are kept as the exact canonical text that was hashed
(``CanonicalJSONField``), so verification never re-serialises JSON read back from the database.

Format (version 3): one line, UTF-8, the fields separated by a TAB::

    cmer-audit-v3 TAB <position> TAB <prev_hash> TAB <id> TAB <timestamp> TAB <event> …
    TAB <serialized_data>

in ``CANONICAL_COLUMNS`` order; NULL is ``\N``; in a value, backslash, TAB, newline, carriage
return, backspace, form feed and vertical tab are written ``\\ \t \n \r \b \f \v`` and nothing
else is escaped. Times are UTC as ``YYYY-MM-DD HH:MM:SS[.f]``, the fraction of a second with
no trailing zero and left out when zero (PostgreSQL's ISO output of a UTC timestamp, which
costs the server a fraction of ``to_char``); integers in decimal; addresses as PostgreSQL writes
an ``inet`` host address (Python's ``ipaddress`` form elsewhere).

This is exactly the line PostgreSQL's ``COPY … TO STDOUT`` (text format) writes for the same
columns (``verification.copy_select``): verification on PostgreSQL hashes the lines the server
streams, with no per-column work in Python (see bench/RESULTS.md). On PostgreSQL the sealer is
a database function (``protection.seal_function_sql``) that builds the same line in SQL, so that
the application role never writes the chain itself. Version 1 (length-prefixed lines) is gone
(migration 0005); version 2 did not cover the entry's id (migration 0007 re-chained it).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import ipaddress
import json
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

VERSION = "cmer-audit-v3"
# Checkpoint lines keep their own, unchanged format (lines the DPO already holds stay valid).
CHECKPOINT_VERSION = "cmer-audit-v1"
GENESIS_HASH = "0" * 64
# Key of the PostgreSQL advisory lock that serialises chain appends ("CMER" + 1).
CHAIN_LOCK_KEY = 0x434D4552_0001

# The hashed columns, in canonical order. ``entry_hash`` itself is of course not part of it.
CANONICAL_COLUMNS: tuple[str, ...] = (
    "position",
    "prev_hash",
    "id",
    "timestamp",
    "event",
    "action",
    "content_type_id",
    "object_pk",
    "object_id",
    "object_repr",
    "actor_id",
    "actor_email",
    "remote_addr",
    "remote_port",
    "cid",
    "commune_id",
    "changes_text",
    "changes",
    "additional_data",
    "serialized_data",
)
_TIMESTAMP = CANONICAL_COLUMNS.index("timestamp")
_REMOTE_ADDR = CANONICAL_COLUMNS.index("remote_addr")
_COUNT = len(CANONICAL_COLUMNS)


def canonical_json(value: Any) -> str:
    """The one JSON serialisation we store and hash: sorted keys, no spaces, ASCII only."""
    return json.dumps(
        value, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )


def format_timestamp(value: datetime.datetime | str) -> str:
    """UTC, microseconds, ``Z`` (checkpoint lines). Accepts an aware datetime or SQLite's
    stored text (naive UTC)."""
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_time(value: datetime.datetime | str) -> str:
    """An entry's time in the canonical text: UTC, ``YYYY-MM-DD HH:MM:SS[.f]`` (see above).
    Accepts an aware datetime or SQLite's stored text (naive UTC)."""
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    v = value.astimezone(datetime.UTC)
    text = f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}"
    return f"{text}.{v.microsecond:06d}".rstrip("0") if v.microsecond else text


def format_address(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(ipaddress.ip_address(str(value).split("/")[0]))


def canonical_strings(values: Sequence[Any]) -> list[str | None]:
    """Each stored value as the text that is hashed (``None`` stays ``None``: NULL)."""
    if len(values) != len(CANONICAL_COLUMNS):
        raise ValueError(f"{len(CANONICAL_COLUMNS)} values expected, got {len(values)}")
    texts: list[str | None] = []
    for index, value in enumerate(values):
        if value is None:
            texts.append(None)
        elif index == _TIMESTAMP:
            texts.append(format_time(value))
        elif index == _REMOTE_ADDR:
            texts.append(format_address(value) or "")
        else:
            texts.append(str(value))
    return texts


_ESCAPES = str.maketrans(
    {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\b": "\\b", "\f": "\\f", "\v": "\\v"}
)
_PREFIX = VERSION + "\t"


def escape(value: str | None) -> str:
    """One field as PostgreSQL's COPY text format writes it (``\\N`` for NULL)."""
    return "\\N" if value is None else value.translate(_ESCAPES)


def text_of_strings(v: Sequence[str | None]) -> str:
    """The canonical text from ``canonical_strings``-style values (one per canonical column;
    extra items ignored). The one Python builder of the text: the sealer on SQLite,
    verification on SQLite and the tests use it; on PostgreSQL the server writes the same line
    (``COPY`` for verification, the sealing function's SQL for the chain)."""
    return _PREFIX + "\t".join([escape(x) for x in v[:_COUNT]])


def line_after_head(position: int, prev_hash: str, entry_id: int, content_line: bytes) -> bytes:
    """The canonical text (bytes) from a head, the entry's id and the COPY line of the content
    columns (``CANONICAL_COLUMNS[3:]``)."""
    return b"%s%d\t%s\t%d\t%s" % (
        _PREFIX.encode(),
        position,
        prev_hash.encode(),
        entry_id,
        content_line,
    )


def canonical_text(values: Sequence[Any]) -> str:
    """Canonical text of one entry; ``values`` in ``CANONICAL_COLUMNS`` order, as stored."""
    return text_of_strings(canonical_strings(values))


def entry_hash(values: Sequence[Any]) -> str:
    return hashlib.sha256(canonical_text(values).encode("utf-8")).hexdigest()


def hash_of_strings(texts: Sequence[str | None]) -> str:
    return hashlib.sha256(text_of_strings(texts).encode("utf-8")).hexdigest()


# --- checkpoints --------------------------------------------------------------------------------


def checkpoint_text(
    *, kind: str, head_position: int, head_hash: str, entry_count: int, created_at: Any
) -> str:
    """What a checkpoint's MAC covers; also the line the DPO downloads (without the MAC)."""
    return (
        f"{CHECKPOINT_VERSION}-checkpoint kind={kind} position={head_position} hash={head_hash} "
        f"count={entry_count} at={format_timestamp(created_at)}"
    )


def checkpoint_mac(text: str) -> str:
    """HMAC-SHA256 with settings.AUDIT_CHECKPOINT_KEY, a key that never enters the database."""
    key = settings.AUDIT_CHECKPOINT_KEY.encode("utf-8")
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def mac_is_valid(text: str, mac: str) -> bool:
    return hmac.compare_digest(checkpoint_mac(text), mac)


def parse_checkpoint_line(line: str) -> dict[str, str]:
    """Parse ``<checkpoint text> mac=<hex>`` as downloaded; raises ValueError if malformed."""
    line = line.strip()
    body, sep, mac = line.rpartition(" mac=")
    if not sep or not body.startswith(f"{CHECKPOINT_VERSION}-checkpoint "):
        raise ValueError("not a CMER audit checkpoint line")
    fields = dict(item.split("=", 1) for item in body.split(" ")[1:])
    if set(fields) != {"kind", "position", "hash", "count", "at"}:
        raise ValueError("incomplete checkpoint line")
    fields["mac"] = mac
    fields["text"] = body
    return fields
