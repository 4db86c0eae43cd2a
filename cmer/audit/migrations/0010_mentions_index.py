"""The DPO's search by reference also finds the entries that list the referral (a list page, a
search by person: ``data["references"]``): on PostgreSQL a partial GIN index on the references
a chained entry lists (``cmer.audit.about``). The pending table holds seconds of entries and
needs none. SQLite reads the JSON directly."""

from django.db import migrations


def forwards(apps, schema_editor):
    from cmer.audit import about

    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(about.mentions_index_sql("audit_auditentry"))


def backwards(apps, schema_editor):
    from cmer.audit import about

    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {about.MENTIONS_INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0009_retention_event"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
