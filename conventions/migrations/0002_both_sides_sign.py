"""Both parties sign a convention in the app (issue 11, point 4).

Existing data, decided as follows:

- A signatory's side follows from their office: prefect, police prefect, prosecutor sign for
  the prefecture, everyone else (mayor, "other") is listed on the commune side. Nothing
  recorded who an "other" signs for; the commune side is the cautious guess, because a
  protocol still needs a prefecture signature recorded by the liaison to count.
- A convention's drafting side is the prefecture when its author held the department's liaison
  role (and not the commune's referent role), else the commune.
- No signature recorded before this migration says who recorded it, or whether that person
  represented the signatory's side (the attack of issue 11 was exactly a referent entering
  the prefect's signature). So none of them is trusted as recorded: the dates stay as a
  proposal, and every "signed" convention goes back to "awaiting signatures" until each side
  records its own signature again (one click per side on the convention page). Transmission
  stops for those communes until then: the operator should warn referents and liaisons before
  upgrading. Terminated conventions stay terminated.

``update()`` is used on purpose: historical models carry no audit registration; this
migration's effect is described here and in README (upgrade notes).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


PREFECTURE_CAPACITIES = ["prefect", "police_prefect", "prosecutor"]


def existing_data(apps, schema_editor):
    Convention = apps.get_model("conventions", "Convention")
    Signatory = apps.get_model("conventions", "Signatory")
    Membership = apps.get_model("accounts", "Membership")
    Signatory.objects.filter(capacity__in=PREFECTURE_CAPACITIES).update(side="prefecture")
    for convention in Convention.objects.select_related("commune").iterator():
        author = Membership.objects.filter(user_id=convention.created_by_id)
        liaison = author.filter(
            role="liaison", department_id=convention.commune.department_id
        ).exists()
        referent = author.filter(role="referent", commune_id=convention.commune_id).exists()
        if liaison and not referent:
            Convention.objects.filter(pk=convention.pk).update(created_side="prefecture")
    Convention.objects.filter(status="signed").update(
        status="awaiting_signatures", signed_at=None
    )


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
        ('conventions', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='convention',
            name='created_side',
            field=models.CharField(choices=[('commune', 'Commune'), ('prefecture', 'Préfecture')], default='commune', max_length=12, verbose_name='rédigée par la partie'),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='convention',
            name='terminated_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='résiliation enregistrée le'),
        ),
        migrations.AddField(
            model_name='convention',
            name='terminated_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='résiliation enregistrée par'),
        ),
        migrations.AddField(
            model_name='convention',
            name='terminated_side',
            field=models.CharField(blank=True, choices=[('commune', 'Commune'), ('prefecture', 'Préfecture')], max_length=12, verbose_name='résiliée par la partie'),
        ),
        migrations.AddField(
            model_name='convention',
            name='termination_notified_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='signatory',
            name='added_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='signatory',
            name='side',
            field=models.CharField(choices=[('commune', 'Commune'), ('prefecture', 'Préfecture')], default='commune', max_length=12, verbose_name='partie'),
            preserve_default=False,
        ),
        migrations.RunPython(existing_data, migrations.RunPython.noop),
        migrations.AddField(
            model_name='signatory',
            name='signature_recorded_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='signature enregistrée le'),
        ),
        migrations.AddField(
            model_name='signatory',
            name='signature_recorded_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='signature enregistrée par'),
        ),
        migrations.AddField(
            model_name='signatory',
            name='signed_document',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='conventions.signeddocument', verbose_name='version signée'),
        ),
        migrations.AddConstraint(
            model_name='convention',
            constraint=models.CheckConstraint(condition=models.Q(('created_side__in', ['commune', 'prefecture'])), name='convention_created_side'),
        ),
        migrations.AddConstraint(
            model_name='signatory',
            constraint=models.CheckConstraint(condition=models.Q(('side__in', ['commune', 'prefecture'])), name='signatory_side'),
        ),
        migrations.AddConstraint(
            model_name='signatory',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(models.Q(('capacity__in', ['prefect', 'police_prefect', 'prosecutor']), _negated=True), ('side', 'prefecture'), _connector='OR'), models.Q(models.Q(('capacity', 'mayor'), _negated=True), ('side', 'commune'), _connector='OR')), name='signatory_capacity_matches_side'),
        ),
        migrations.AddConstraint(
            model_name='signatory',
            constraint=models.CheckConstraint(condition=models.Q(('signature_recorded_by__isnull', True), models.Q(('signature_recorded_at__isnull', False), ('signed_on__isnull', False)), _connector='OR'), name='signatory_recorded_signature_complete'),
        ),
    ]
