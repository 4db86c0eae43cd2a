"""The hash chain of the audit trail: canonical text, entry hash, chain lock, checkpoints' MAC.

Each entry's hash is SHA-256 over an explicit canonical text of its stored columns, which includes
its position and the previous entry's hash. The canonical text is built from *stored* values only:
the JSON columns are kept as the exact canonical text that was hashed (``CanonicalJSONField``), so
verification never re-serialises JSON read back from the database.

Format (version 1), one line per column in ``CANONICAL_COLUMNS`` order::

    cmer-audit-v1\n
    <name>:<length>:<value>\n     a value (length in characters: newlines inside are harmless)
    <name>!\n                     NULL

Times are UTC, always ``YYYY-MM-DDTHH:MM:SS.ffffffZ``; IP addresses in Python's normal form.
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

VERSION = "cmer-audit-v1"
GENESIS_HASH = "0" * 64
# Key of the PostgreSQL advisory lock that serialises chain appends ("CMER" + 1).
CHAIN_LOCK_KEY = 0x434D4552_0001

# The hashed columns, in canonical order. ``entry_hash`` itself is of course not part of it.
CANONICAL_COLUMNS: tuple[str, ...] = (
    "position",
    "prev_hash",
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


def canonical_json(value: Any) -> str:
    """The one JSON serialisation we store and hash: sorted keys, no spaces, ASCII only."""
    return json.dumps(
        value, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )


def format_timestamp(value: datetime.datetime | str) -> str:
    """UTC, microseconds, ``Z``. Accepts an aware datetime or SQLite's stored text (naive UTC)."""
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
            texts.append(format_timestamp(value))
        elif index == _REMOTE_ADDR:
            texts.append(format_address(value) or "")
        else:
            texts.append(str(value))
    return texts


def text_of_strings(v: Sequence[str | None]) -> str:
    """The canonical text from ``canonical_strings``-style values (index 0–18, extra items
    ignored). The one builder of the text: writing (``canonical_text``) and verification (which
    reads the columns already as text) both go through it, so they cannot drift apart.

    Spelt out column by column in one f-string (``CANONICAL_COLUMNS`` order, checked by a test)
    rather than looped over: verification runs it once per entry and the loop was most of its
    time. Each line is ``<name>!`` for NULL, else ``<name>:<length>:<value>``.
    """
    (p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12, p13, p14, p15, p16, p17, p18) = v[:19]
    return (
        f"{VERSION}\n"
        f"{'position!' if p0 is None else f'position:{len(p0)}:{p0}'}\n"
        f"{'prev_hash!' if p1 is None else f'prev_hash:{len(p1)}:{p1}'}\n"
        f"{'timestamp!' if p2 is None else f'timestamp:{len(p2)}:{p2}'}\n"
        f"{'event!' if p3 is None else f'event:{len(p3)}:{p3}'}\n"
        f"{'action!' if p4 is None else f'action:{len(p4)}:{p4}'}\n"
        f"{'content_type_id!' if p5 is None else f'content_type_id:{len(p5)}:{p5}'}\n"
        f"{'object_pk!' if p6 is None else f'object_pk:{len(p6)}:{p6}'}\n"
        f"{'object_id!' if p7 is None else f'object_id:{len(p7)}:{p7}'}\n"
        f"{'object_repr!' if p8 is None else f'object_repr:{len(p8)}:{p8}'}\n"
        f"{'actor_id!' if p9 is None else f'actor_id:{len(p9)}:{p9}'}\n"
        f"{'actor_email!' if p10 is None else f'actor_email:{len(p10)}:{p10}'}\n"
        f"{'remote_addr!' if p11 is None else f'remote_addr:{len(p11)}:{p11}'}\n"
        f"{'remote_port!' if p12 is None else f'remote_port:{len(p12)}:{p12}'}\n"
        f"{'cid!' if p13 is None else f'cid:{len(p13)}:{p13}'}\n"
        f"{'commune_id!' if p14 is None else f'commune_id:{len(p14)}:{p14}'}\n"
        f"{'changes_text!' if p15 is None else f'changes_text:{len(p15)}:{p15}'}\n"
        f"{'changes!' if p16 is None else f'changes:{len(p16)}:{p16}'}\n"
        f"{'additional_data!' if p17 is None else f'additional_data:{len(p17)}:{p17}'}\n"
        f"{'serialized_data!' if p18 is None else f'serialized_data:{len(p18)}:{p18}'}\n"
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
        f"{VERSION}-checkpoint kind={kind} position={head_position} hash={head_hash} "
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
    if not sep or not body.startswith(f"{VERSION}-checkpoint "):
        raise ValueError("not a CMER audit checkpoint line")
    fields = dict(item.split("=", 1) for item in body.split(" ")[1:])
    if set(fields) != {"kind", "position", "hash", "count", "at"}:
        raise ValueError("incomplete checkpoint line")
    fields["mac"] = mac
    fields["text"] = body
    return fields
