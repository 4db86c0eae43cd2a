"""Re-encrypt every encrypted value and attachment with the newest key of FIELD_ENCRYPTION_KEY.

Procedure: put the new key first in FIELD_ENCRYPTION_KEY (keep the old ones after it), run this
command, check it reports no failure, then remove the old keys.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from cmer.crypto import EncryptedTextField, rotate_bytes, rotate_text


def encrypted_fields(model: Any) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]


class Command(BaseCommand):
    help = "Re-chiffre toutes les données avec la clé la plus récente de FIELD_ENCRYPTION_KEY."

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        for model in apps.get_models():
            fields = encrypted_fields(model)
            if not fields:
                continue
            count = 0
            # Raw ciphertext is read and written through values()/filter(): the plaintext never
            # leaves the database layer unencrypted, and no audit entry carries a value.
            manager = model._base_manager
            for pk in manager.values_list("pk", flat=True).iterator(chunk_size=500):
                with transaction.atomic():
                    raw = self._raw_row(model, pk, fields)
                    rotated = {name: rotate_text(value) for name, value in raw.items() if value}
                    if rotated:
                        self._write_raw(model, pk, rotated)
                        count += 1
            total += count
            self.stdout.write(f"{model._meta.label}: {count} rows re-encrypted")
        total += self._rotate_attachments()
        # Rows are rewritten below the ORM (ciphertext only, no value changes): one explicit
        # trace in the audit trail says it happened and how much.
        from cases.models import Referral
        from cmer.audit.core import record_event
        from cmer.audit.models import Event

        record_event(
            Event.CHANGE, target_model=Referral, data={"key_rotation": True, "objects": total}
        )
        self.stdout.write(self.style.SUCCESS(f"Done: {total} objects re-encrypted."))

    @staticmethod
    def _raw_row(model: Any, pk: Any, fields: list[str]) -> dict[str, str]:
        from django.db import connection

        table = connection.ops.quote_name(model._meta.db_table)
        columns = ", ".join(
            connection.ops.quote_name(model._meta.get_field(f).column) for f in fields
        )
        pk_column = connection.ops.quote_name(model._meta.pk.column)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {columns} FROM {table} WHERE {pk_column} = %s", [pk])  # noqa: S608
            row = cursor.fetchone()
        return dict(zip(fields, row, strict=True))

    @staticmethod
    def _write_raw(model: Any, pk: Any, values: dict[str, str]) -> None:
        from django.db import connection

        table = connection.ops.quote_name(model._meta.db_table)
        assignments = ", ".join(
            f"{connection.ops.quote_name(model._meta.get_field(f).column)} = %s" for f in values
        )
        pk_column = connection.ops.quote_name(model._meta.pk.column)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {assignments} WHERE {pk_column} = %s",  # noqa: S608
                [*values.values(), pk],
            )

    def _rotate_attachments(self) -> int:
        from cases import files
        from cases.models import Attachment

        count = 0
        for name in Attachment.objects.values_list("stored_name", flat=True).iterator():
            files.rewrite_encrypted(name, rotate_bytes(files.stored_token(name)))
            count += 1
        self.stdout.write(f"attachments: {count} files re-encrypted")
        return count
