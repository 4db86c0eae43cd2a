from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connection

from cmer.audit import chain, protection
from cmer.audit.core import record_event
from cmer.audit.models import AuditEntry, Event


def make_entries(n: int, **kwargs) -> list[AuditEntry]:
    return [record_event(Event.ACCESS, data={"what": "test", "i": i}, **kwargs) for i in range(n)]


@contextlib.contextmanager
def tampering() -> Iterator[object]:
    """What an attacker with the owner's rights would do: lift the triggers, then write."""
    with protection.maintenance(connection), connection.cursor() as cursor:
        yield cursor


def forge_row(**overrides) -> AuditEntry:
    """Insert a self-consistent row outside the chain (no lock, no link), bypassing save()."""
    head = AuditEntry.objects.order_by("-position").first()
    entry = AuditEntry(
        event=Event.ACCESS,
        action=AuditEntry.Action.ACCESS,
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
    fields = [f for f in AuditEntry._meta.local_concrete_fields if not f.primary_key]
    AuditEntry._base_manager._insert([entry], fields=fields, using="default")
    return entry
