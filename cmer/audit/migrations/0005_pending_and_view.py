"""Chaining without a lock on the writers' path (see cmer/audit/sealing.py).

- The chained table keeps its name and rows; its model is now ``ChainedEntry``.
- ``audit_pending``: entries recorded and not chained yet (append-only; DELETE only into the
  chain, unchanged: protection.py). Its ids continue the chain's, so an entry keeps its id.
- ``audit_trail``: the view over both that ``AuditEntry`` (django-auditlog's entry model) reads.
- The canonical text is now version 2 (chain.py). Entries written with version 1 exist only in
  development databases (no deployment predates this migration): they are re-chained here in
  position order with version-2 hashes, under the owner's maintenance mode, and the
  checkpoints that sealed version-1 hashes are dropped with them.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import cmer.audit.models

CONTENT = (
    "timestamp, event, action, content_type_id, object_pk, object_id, object_repr, actor_id, "
    "actor_email, remote_addr, remote_port, cid, commune_id, changes_text, changes, "
    "additional_data, serialized_data"
)
CREATE_VIEW = f"""
CREATE VIEW audit_trail AS
SELECT id, position, prev_hash, entry_hash, {CONTENT} FROM audit_auditentry
UNION ALL
SELECT id, CAST(NULL AS bigint), CAST(NULL AS varchar(64)), CAST(NULL AS varchar(64)), {CONTENT}
FROM audit_pending
"""


def forwards(apps, schema_editor):
    from cmer.audit import protection, sealing

    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM audit_auditentry")
        last_id = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FROM audit_auditentry")
        existing = cursor.fetchone()[0]
        if last_id and connection.vendor == "postgresql":
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('audit_pending', 'id'), %s)", [last_id]
            )
        elif last_id:
            cursor.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('audit_pending', %s)", [last_id]
            )
    if existing:
        _rechain(connection, sealing)
    protection.install(connection, (protection.PENDING_TABLE,))
    protection.revoke_app_privileges(
        connection, tables=(protection.PENDING_TABLE,), functions=False
    )


def _rechain(connection, sealing):
    """Version-1 hashes recomputed, same positions (development databases only). The format
    is the current one (sealing.rechain); 0006 re-chains again anyway."""
    from cmer.audit import protection

    # The pending table is not protected yet (forwards() does it after this).
    with protection.maintenance(connection, protection.INITIAL_TABLES):
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditcheckpoint")
        sealing.rechain(connection)


def backwards(apps, schema_editor):
    from cmer.audit import protection

    protection.uninstall(schema_editor.connection, (protection.PENDING_TABLE,))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("audit", "0004_fewer_indexes"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RenameModel("AuditEntry", "ChainedEntry"),
                migrations.AlterModelTable("ChainedEntry", "audit_auditentry"),
                migrations.AlterModelOptions(
                    name="chainedentry",
                    options={
                        "get_latest_by": "timestamp",
                        "ordering": ["-timestamp"],
                        "verbose_name": "entrée chaînée",
                        "verbose_name_plural": "entrées chaînées",
                    },
                ),
            ]
        ),
        migrations.CreateModel(
            name="PendingEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "object_id",
                    models.BigIntegerField(blank=True, null=True, verbose_name="object id"),
                ),
                ("object_repr", models.TextField(verbose_name="object representation")),
                ("changes_text", models.TextField(blank=True, verbose_name="change message")),
                (
                    "remote_addr",
                    models.GenericIPAddressField(
                        blank=True, null=True, verbose_name="remote address"
                    ),
                ),
                (
                    "remote_port",
                    models.PositiveIntegerField(blank=True, null=True, verbose_name="remote port"),
                ),
                (
                    "timestamp",
                    models.DateTimeField(
                        default=django.utils.timezone.now, verbose_name="timestamp"
                    ),
                ),
                (
                    "actor_email",
                    models.CharField(
                        blank=True, max_length=254, null=True, verbose_name="actor email"
                    ),
                ),
                (
                    "event",
                    models.CharField(
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
                ("object_pk", models.CharField(max_length=255, verbose_name="object pk")),
                (
                    "action",
                    models.PositiveSmallIntegerField(
                        choices=[(0, "create"), (1, "update"), (2, "delete"), (3, "access")],
                        verbose_name="action",
                    ),
                ),
                (
                    "cid",
                    models.CharField(
                        blank=True, max_length=255, null=True, verbose_name="Correlation ID"
                    ),
                ),
                ("serialized_data", cmer.audit.models.CanonicalJSONField(null=True)),
                (
                    "changes",
                    cmer.audit.models.CanonicalJSONField(null=True, verbose_name="change message"),
                ),
                (
                    "additional_data",
                    cmer.audit.models.CanonicalJSONField(
                        blank=True, null=True, verbose_name="additional data"
                    ),
                ),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="auteur",
                    ),
                ),
                (
                    "commune",
                    models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.commune",
                        verbose_name="commune",
                    ),
                ),
                (
                    "content_type",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="contenttypes.contenttype",
                        verbose_name="type d'objet",
                    ),
                ),
            ],
            options={
                "verbose_name": "entrée en attente de chaînage",
                "verbose_name_plural": "entrées en attente de chaînage",
                "db_table": "audit_pending",
                "ordering": ["id"],
                "get_latest_by": "timestamp",
            },
        ),
        migrations.RunSQL(CREATE_VIEW, "DROP VIEW audit_trail"),
        migrations.CreateModel(
            name="AuditEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "object_id",
                    models.BigIntegerField(
                        blank=True, db_index=True, null=True, verbose_name="object id"
                    ),
                ),
                ("object_repr", models.TextField(verbose_name="object representation")),
                ("changes_text", models.TextField(blank=True, verbose_name="change message")),
                (
                    "remote_addr",
                    models.GenericIPAddressField(
                        blank=True, null=True, verbose_name="remote address"
                    ),
                ),
                (
                    "remote_port",
                    models.PositiveIntegerField(blank=True, null=True, verbose_name="remote port"),
                ),
                (
                    "timestamp",
                    models.DateTimeField(
                        db_index=True, default=django.utils.timezone.now, verbose_name="timestamp"
                    ),
                ),
                (
                    "actor_email",
                    models.CharField(
                        blank=True, max_length=254, null=True, verbose_name="actor email"
                    ),
                ),
                (
                    "event",
                    models.CharField(
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
                ("object_pk", models.CharField(max_length=255, verbose_name="object pk")),
                (
                    "action",
                    models.PositiveSmallIntegerField(
                        choices=[(0, "create"), (1, "update"), (2, "delete"), (3, "access")],
                        verbose_name="action",
                    ),
                ),
                (
                    "cid",
                    models.CharField(
                        blank=True, max_length=255, null=True, verbose_name="Correlation ID"
                    ),
                ),
                ("serialized_data", cmer.audit.models.CanonicalJSONField(null=True)),
                (
                    "changes",
                    cmer.audit.models.CanonicalJSONField(null=True, verbose_name="change message"),
                ),
                (
                    "additional_data",
                    cmer.audit.models.CanonicalJSONField(
                        blank=True, null=True, verbose_name="additional data"
                    ),
                ),
                (
                    "position",
                    models.BigIntegerField(editable=False, null=True, verbose_name="position"),
                ),
                (
                    "prev_hash",
                    models.CharField(
                        editable=False,
                        max_length=64,
                        null=True,
                        verbose_name="empreinte précédente",
                    ),
                ),
                (
                    "entry_hash",
                    models.CharField(
                        editable=False, max_length=64, null=True, verbose_name="empreinte"
                    ),
                ),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="auteur",
                    ),
                ),
                (
                    "commune",
                    models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.commune",
                        verbose_name="commune",
                    ),
                ),
                (
                    "content_type",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="contenttypes.contenttype",
                        verbose_name="type d'objet",
                    ),
                ),
            ],
            options={
                "verbose_name": "entrée du journal",
                "verbose_name_plural": "entrées du journal",
                "db_table": "audit_trail",
                "ordering": ["-timestamp"],
                "get_latest_by": "timestamp",
                "managed": False,
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
