"""Chain the audit trail (step 1: columns, checkpoints, chaining of existing entries).

Existing entries (development databases) are chained in (timestamp, id) order and their JSON
columns rewritten as canonical text. 0003 adds the unique constraints and the triggers (in a
separate migration: PostgreSQL refuses ALTER TABLE after updates in the same transaction).
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import cmer.audit.models


def chain_existing(apps, schema_editor):
    from cmer.audit import chain

    AuditEntry = apps.get_model("audit", "AuditEntry")
    prev = chain.GENESIS_HASH
    position = 0
    json_fields = ("changes", "additional_data", "serialized_data")
    for entry in AuditEntry.objects.order_by("timestamp", "id").iterator(chunk_size=2000):
        position += 1
        values = {name: getattr(entry, name) for name in json_fields}
        stored = {
            name: None if value is None else chain.canonical_json(value)
            for name, value in values.items()
        }
        row = {
            "position": position,
            "prev_hash": prev,
            "timestamp": entry.timestamp,
            "event": entry.event,
            "action": entry.action,
            "content_type_id": entry.content_type_id,
            "object_pk": entry.object_pk,
            "object_id": entry.object_id,
            "object_repr": entry.object_repr,
            "actor_id": entry.actor_id,
            "actor_email": entry.actor_email,
            "remote_addr": entry.remote_addr,
            "remote_port": entry.remote_port,
            "cid": entry.cid,
            "commune_id": None,
            "changes_text": entry.changes_text,
            **stored,
        }
        digest = chain.entry_hash([row[name] for name in chain.CANONICAL_COLUMNS])
        AuditEntry.objects.filter(pk=entry.pk).update(
            position=position, prev_hash=prev, entry_hash=digest, **values
        )
        prev = digest
    if schema_editor.connection.vendor == "postgresql":
        # Fire the pending deferred FK checks now: PostgreSQL refuses the indexes created at the
        # end of this migration while "pending trigger events" remain.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditentry",
            name="serialized_data",
            field=cmer.audit.models.CanonicalJSONField(null=True),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="changes",
            field=cmer.audit.models.CanonicalJSONField(null=True, verbose_name="change message"),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="additional_data",
            field=cmer.audit.models.CanonicalJSONField(
                blank=True, null=True, verbose_name="additional data"
            ),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="commune",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="accounts.commune",
                verbose_name="commune",
            ),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="position",
            field=models.BigIntegerField(null=True, editable=False, verbose_name="position"),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="prev_hash",
            field=models.CharField(max_length=64, null=True, verbose_name="empreinte précédente"),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="entry_hash",
            field=models.CharField(
                default="", editable=False, max_length=64, verbose_name="empreinte"
            ),
            preserve_default=False,
        ),
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, verbose_name="créé le")),
                ("kind", models.CharField(choices=[("daily", "quotidien"), ("manual", "manuel"), ("boundary", "limite de purge")], max_length=10, verbose_name="type")),
                ("head_position", models.BigIntegerField(verbose_name="position de tête")),
                ("head_hash", models.CharField(max_length=64, verbose_name="empreinte de tête")),
                ("entry_count", models.BigIntegerField(verbose_name="nombre d'entrées")),
                ("mac", models.CharField(max_length=64, verbose_name="sceau HMAC")),
            ],
            options={
                "verbose_name": "point de contrôle",
                "verbose_name_plural": "points de contrôle",
                "ordering": ["-created_at", "-pk"],
            },
        ),
        migrations.CreateModel(
            name="AuditVerification",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("started_at", models.DateTimeField(verbose_name="début")),
                ("finished_at", models.DateTimeField(verbose_name="fin")),
                ("ok", models.BooleanField(verbose_name="chaîne intacte")),
                ("checked", models.BigIntegerField(verbose_name="entrées vérifiées")),
                ("head_position", models.BigIntegerField(null=True, verbose_name="position de tête")),
                ("head_hash", models.CharField(blank=True, max_length=64, verbose_name="empreinte de tête")),
                ("problem", models.CharField(blank=True, max_length=20, verbose_name="anomalie")),
                ("problem_position", models.BigIntegerField(null=True, verbose_name="position de l'anomalie")),
                ("message", models.TextField(blank=True, verbose_name="message")),
            ],
            options={
                "verbose_name": "vérification",
                "verbose_name_plural": "vérifications",
                "ordering": ["-finished_at", "-pk"],
            },
        ),
        migrations.RunPython(chain_existing, migrations.RunPython.noop),
    ]
