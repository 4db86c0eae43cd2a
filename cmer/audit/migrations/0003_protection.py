"""Chain the audit trail (step 2): unique constraints, indexes, and the database refusing
UPDATE, DELETE and TRUNCATE (triggers; PostgreSQL: application role left with INSERT/SELECT).

The triggers come last: on SQLite any later rebuild of the table would drop them, which
tests/audit/test_protection.py would catch.
"""

from django.db import migrations, models


def protect(apps, schema_editor):
    from cmer.audit import protection

    # The tables of that time (0005 adds the pending table and protects it itself).
    protection.install(schema_editor.connection, protection.INITIAL_TABLES)
    protection.revoke_app_privileges(
        schema_editor.connection, tables=protection.INITIAL_TABLES, functions=False
    )


def unprotect(apps, schema_editor):
    from cmer.audit import protection

    protection.uninstall(schema_editor.connection, protection.INITIAL_TABLES)


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0002_chain"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditentry",
            name="position",
            field=models.BigIntegerField(editable=False, unique=True, verbose_name="position"),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="prev_hash",
            field=models.CharField(max_length=64, unique=True, verbose_name="empreinte précédente"),
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(fields=["object_repr"], name="audit_entry_repr_idx"),
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(fields=["commune", "timestamp"], name="audit_entry_commune_idx"),
        ),
        migrations.RunPython(protect, unprotect),
    ]
