"""Least privilege for the audit trail, and a hash that covers the entry's id.

- PostgreSQL: the chain is written only by the ``cmer_audit_seal`` database function, checkpoints
  and verification records only through ``cmer_audit_add_checkpoint`` /
  ``cmer_audit_add_verification`` (``SECURITY DEFINER``, owned by the role running this
  migration, fixed ``search_path``); the application role keeps SELECT on the audit tables,
  INSERT on the pending table and EXECUTE on the three functions. A BEFORE INSERT trigger on
  the pending table gives every entry the database's id and time (``protection.py``).
- Verification records refuse UPDATE, DELETE and TRUNCATE like the rest of the trail.
- The canonical text is now version 3 (chain.py: the entry's id is hashed). Existing entries are
  re-chained in position order under the owner's maintenance mode, as 0005 did; the daily and
  manual checkpoints of the former hashes are dropped (purge boundaries stay: the chain that
  remains still starts from them). Run ``manage.py audit_checkpoint`` after migrating and keep
  the new line: checkpoint lines downloaded before this migration no longer verify.
"""

from django.db import migrations


def forwards(apps, schema_editor):
    from cmer.audit import protection, sealing

    connection = schema_editor.connection
    protection.install(connection, (protection.VERIFICATION_TABLE,))
    protection.install_functions(connection, stamp_trigger=True)
    with protection.maintenance(connection, protection.PROTECTED_TABLES):
        if sealing.rechain(connection):
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM audit_auditcheckpoint WHERE kind <> 'boundary'")
    protection.revoke_app_privileges(connection)


def backwards(apps, schema_editor):
    from cmer.audit import protection

    connection = schema_editor.connection
    protection.uninstall_functions(connection)
    protection.uninstall(connection, (protection.VERIFICATION_TABLE,))
    protection.revoke_app_privileges(connection, tables=protection.TABLES_0005, functions=False)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0006_malware_event"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
