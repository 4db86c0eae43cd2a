"""Fill the audit trail quickly (PostgreSQL COPY) with correctly chained entries, for the
verification and search benchmarks. Not a write path of the application: the hashes are computed
with the application's own ``chain.entry_hash`` and the rows appended after the current head, so
``verify_audit`` checks them exactly like entries written by ``record_event``.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cmer_auditperf \\
        .venv/bin/python bench/audit_fill.py --entries 200000
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmer.settings")


# The chain's own columns (no copy of the canonical list here: it is the audit core's).
def _copy_columns() -> tuple[str, ...]:
    from cmer.audit import chain

    return ("entry_hash", *chain.CANONICAL_COLUMNS)


def fill(count: int, *, commune_id: int | None, actor: object | None, references: int) -> int:
    """Append ``count`` chained "access" entries after the current head; returns the new head."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction

    from cmer.accounts.models import Commune
    from cmer.audit import chain
    from cmer.audit.models import ChainedEntry
    from cmer.audit.verification import head

    content_type_id = ContentType.objects.get_for_model(Commune).pk
    actor_id = getattr(actor, "pk", None)
    actor_email = getattr(actor, "email", None)
    data = chain.canonical_json({"what": "detail"})
    columns = _copy_columns()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [chain.CHAIN_LOCK_KEY])
        position, previous = head()
        # Ids come from the pending table's sequence, as for every entry: reserve ours.
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence('audit_pending', 'id'))")
            next_id = cursor.fetchone()[0]
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('audit_pending', 'id'), %s)",
                [next_id + count],
            )
        now = datetime.datetime.now(datetime.UTC)
        table = ChainedEntry._meta.db_table
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for i in range(count):
                position += 1
                reference = f"TAR-2026-{i % references:05d}"
                timestamp = now + datetime.timedelta(microseconds=i * 37)
                address = f"10.{i % 7}.{i % 13}.{i % 251}" if i % 3 else None
                values = {
                    "id": next_id + i,
                    "position": position,
                    "prev_hash": previous,
                    "timestamp": timestamp,
                    "event": "access",
                    "action": int(ChainedEntry.Action.ACCESS),
                    "content_type_id": content_type_id,
                    "object_pk": str(commune_id),
                    "object_id": commune_id,
                    "object_repr": reference,
                    "actor_id": actor_id,
                    "actor_email": actor_email,
                    "remote_addr": address,
                    "remote_port": None,
                    "cid": None,
                    "commune_id": commune_id,
                    "changes_text": "",
                    "changes": None,
                    "additional_data": data,
                    "serialized_data": None,
                }
                if i % 50 == 49:
                    # A list page that showed 20 referrals (the DPO's search by reference finds
                    # it through the references it lists).
                    listed = [f"TAR-2026-{(i + k) % references:05d}" for k in range(20)]
                    values["object_pk"] = values["object_repr"] = ""
                    values["object_id"] = None
                    values["additional_data"] = chain.canonical_json(
                        {"what": "list", "references": listed}
                    )
                digest = chain.entry_hash([values[name] for name in chain.CANONICAL_COLUMNS])
                values["entry_hash"] = digest
                copy.write_row([values[name] for name in columns])
                previous = digest
    return position


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--references", type=int, default=20_000)
    args = parser.parse_args()
    import django

    django.setup()
    from cmer.accounts.models import Commune, Department

    department, _ = Department.objects.get_or_create(code="13", name="Bouches-du-Rhône")
    commune, _ = Commune.objects.get_or_create(
        insee_code="13108",
        defaults={"name": "Tarascon", "department": department, "reference_prefix": "TAR"},
    )
    last = fill(args.entries, commune_id=commune.pk, actor=None, references=args.references)
    print(f"head position {last}")


if __name__ == "__main__":
    main()
