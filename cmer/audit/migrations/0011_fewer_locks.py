"""Appends and seals that lock nothing but the chain: no foreign-key constraint on the audit
tables (``AuditRecord``'s docstring: Django still PROTECTs the relations), and the pending
table's DELETE check made one set-based statement trigger over the deleted rows instead of one
plpgsql call per row (same rule: an entry leaves the pending table only into the chain,
unchanged; ``protection.py``). See bench/RESULTS.md."""

import django.db.models.deletion
from django.conf import settings


from django.db import migrations, models


def drop_constraints(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid IN ('audit_pending'::regclass, 'audit_auditentry'::regclass)"
        )
        for table, name in cursor.fetchall():
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')


def statement_trigger(apps, schema_editor):
    from cmer.audit import protection

    protection.install(schema_editor.connection, (protection.PENDING_TABLE,))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_membership_four_eyes"),
        ("audit", "0010_mentions_index"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # SQLite would rebuild both tables to drop a constraint (and the view over them
        # forbids it); it has one writer, nothing to gain: the state changes everywhere, the
        # constraints are dropped on PostgreSQL only.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="chainedentry",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="auteur",
                    ),
                ),
                migrations.AlterField(
                    model_name="chainedentry",
                    name="commune",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.commune",
                        verbose_name="commune",
                    ),
                ),
                migrations.AlterField(
                    model_name="chainedentry",
                    name="content_type",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="contenttypes.contenttype",
                        verbose_name="type d'objet",
                    ),
                ),
                migrations.AlterField(
                    model_name="pendingentry",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="auteur",
                    ),
                ),
                migrations.AlterField(
                    model_name="pendingentry",
                    name="commune",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.commune",
                        verbose_name="commune",
                    ),
                ),
                migrations.AlterField(
                    model_name="pendingentry",
                    name="content_type",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="contenttypes.contenttype",
                        verbose_name="type d'objet",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_constraints, migrations.RunPython.noop)],
        ),
        migrations.RunPython(statement_trigger, migrations.RunPython.noop),
    ]
