"""A pending entry's id and time given by the columns' defaults, not by a trigger (PostgreSQL).

The application role's INSERT privilege on the pending table now names every column but the id
and the time, so it can choose neither (before, a BEFORE INSERT trigger refused an id other
than the sequence's last and overwrote the time): the same guarantee, stricter for the id, and
nothing to run per row (the trigger was half of the database's time for a bulk INSERT; bench/
RESULTS.md, "Audit"). The time's default is ``clock_timestamp()``, as the trigger's was.
Nothing changes on SQLite (no roles; the process gives the time) nor in stored entries.
"""

from django.db import migrations


def forwards(apps, schema_editor):
    from cmer.audit import protection

    connection = schema_editor.connection
    protection.stamp_by_default(connection)
    protection.revoke_app_privileges(connection)


def backwards(apps, schema_editor):
    from cmer.audit import protection

    connection = schema_editor.connection
    protection.stamp_by_trigger(connection)
    if connection.vendor == "postgresql" and protection.revoke_app_privileges(connection):
        # The former write path sends the time (the trigger overwrote it): the whole row again.
        role = connection.ops.quote_name(protection.app_role())
        schema_editor.execute(f"GRANT INSERT ON {protection.PENDING_TABLE} TO {role}")


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0012_cheaper_seal"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
