"""Fewer indexes on the audit table: each one is paid on every append, and appends are serialised
by the chain lock. django-auditlog's single-column indexes (action, cid, object_pk and its LIKE
twin) and the foreign keys' own (actor, commune, content type: each covered by a composite index)
go; event's two become (event, timestamp); prev_hash stays unique through a constraint (added
before the column's own is dropped), without the LIKE index unique=True adds on PostgreSQL.

On SQLite, altering a column rebuilds the table and the rebuild drops its triggers: they are
installed again at the end (tests/audit/test_protection.py checks them on both engines).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def protect(apps, schema_editor):
    from cmer.audit import protection

    protection.install(schema_editor.connection, protection.INITIAL_TABLES)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("audit", "0003_protection"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditentry",
            name="action",
            field=models.PositiveSmallIntegerField(
                choices=[(0, "create"), (1, "update"), (2, "delete"), (3, "access")],
                verbose_name="action",
            ),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="actor",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="auteur",
            ),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="cid",
            field=models.CharField(
                blank=True, max_length=255, null=True, verbose_name="Correlation ID"
            ),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="commune",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="accounts.commune",
                verbose_name="commune",
            ),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="content_type",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="contenttypes.contenttype",
                verbose_name="type d'objet",
            ),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="event",
            field=models.CharField(
                choices=[
                    ("change", "modification"),
                    ("access", "consultation"),
                    ("login", "connexion"),
                    ("logout", "déconnexion"),
                    ("login_failed", "échec de connexion"),
                    ("lockout", "verrouillage du compte"),
                    ("otp_failed", "échec du second facteur"),
                    ("otp_enrolled", "enrôlement du second facteur"),
                    ("grant", "attribution d'un accès"),
                    ("revoke", "retrait d'un accès"),
                    ("denied", "accès refusé"),
                    ("export", "export"),
                    ("archive_read", "consultation d'archive"),
                    ("transmit", "transmission"),
                ],
                default="change",
                max_length=20,
                verbose_name="événement",
            ),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="object_pk",
            field=models.CharField(max_length=255, verbose_name="object pk"),
        ),
        migrations.AddConstraint(
            model_name="auditentry",
            constraint=models.UniqueConstraint(
                fields=("prev_hash",), name="audit_entry_prev_hash_uniq"
            ),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="prev_hash",
            field=models.CharField(max_length=64, verbose_name="empreinte précédente"),
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(fields=["event", "timestamp"], name="audit_entry_event_idx"),
        ),
        migrations.RunPython(protect, migrations.RunPython.noop),
    ]
