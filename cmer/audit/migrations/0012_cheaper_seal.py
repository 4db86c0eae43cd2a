"""A cheaper seal (bench/RESULTS.md, "Audit", issue 18).

- The previous hash is no longer unique-indexed (PostgreSQL): no query looks an entry up by the
  hash before it, and the index (random 64-character keys) cost the sealer's INSERT about as
  much as the ten others together. The chain stays single: its positions are unique (two
  sealers, or two entries at one position, are refused) and only the sealing function, one at
  a time under the chain lock, writes it; verification checks every link. SQLite keeps its
  index (dropping a constraint there rebuilds the table, which the view over it forbids; one
  writer, nothing to gain): the state changes everywhere, the index goes on PostgreSQL only.
- The sealing function is created again (``protection.install_functions``): same canonical text
  and hashes, so entries sealed before this migration verify as before; its loop now only
  hashes (a row without a character to escape is joined without ``replace`` calls), positions
  and links are derived in the INSERT.
"""

from django.db import migrations, models


def forwards(apps, schema_editor):
    from cmer.audit import protection

    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "ALTER TABLE audit_auditentry DROP CONSTRAINT IF EXISTS audit_entry_prev_hash_uniq"
    )
    protection.install_functions(connection)


def backwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "ALTER TABLE audit_auditentry ADD CONSTRAINT audit_entry_prev_hash_uniq "
        "UNIQUE (prev_hash)"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0011_fewer_locks"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(
                    model_name="chainedentry", name="audit_entry_prev_hash_uniq"
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
