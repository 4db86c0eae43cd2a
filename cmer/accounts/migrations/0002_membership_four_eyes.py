"""Four-eyes on access rights, and no content role for administrator accounts.

Memberships held before this migration are confirmed on a written basis (the reason below), so
that nobody loses access; from now on a new or widened one is a request until someone else
confirms it. On PostgreSQL, triggers refuse a content role on an administrator account
(cmer/accounts/guards.py).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


BASIS = "Rôle attribué avant la double validation (migration accounts 0002)."


def confirm_existing(apps, schema_editor):
    Membership = apps.get_model("accounts", "Membership")
    Membership.objects.all().update(status="confirmed", decision_reason=BASIS)


def install_guards(apps, schema_editor):
    from cmer.accounts import guards

    guards.install(schema_editor.connection)


def uninstall_guards(apps, schema_editor):
    from cmer.accounts import guards

    guards.uninstall(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='membership',
            name='decided_at',
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name='confirmé ou refusé le'),
        ),
        migrations.AddField(
            model_name='membership',
            name='decided_by',
            field=models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='confirmé ou refusé par'),
        ),
        migrations.AddField(
            model_name='membership',
            name='decision_reason',
            field=models.CharField(blank=True, editable=False, max_length=500, verbose_name='motif'),
        ),
        migrations.AddField(
            model_name='membership',
            name='requested_at',
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name='demandé le'),
        ),
        migrations.AddField(
            model_name='membership',
            name='requested_by',
            field=models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='demandé par'),
        ),
        migrations.AddField(
            model_name='membership',
            name='status',
            field=models.CharField(choices=[('requested', 'demandé'), ('confirmed', 'confirmé'), ('refused', 'refusé')], default='requested', editable=False, max_length=10, verbose_name='état'),
        ),
        migrations.RunPython(confirm_existing, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name='membership',
            index=models.Index(condition=models.Q(('status', 'requested')), fields=['status', 'commune'], name='membership_pending_idx'),
        ),
        migrations.AddConstraint(
            model_name='membership',
            constraint=models.CheckConstraint(condition=models.Q(('decided_by__isnull', True), models.Q(models.Q(('decided_by', models.F('user')), _negated=True), models.Q(('requested_by__isnull', True), models.Q(('decided_by', models.F('requested_by')), _negated=True), _connector='OR')), _connector='OR'), name='membership_decided_by_another'),
        ),
        migrations.AddConstraint(
            model_name='membership',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'confirmed'), _negated=True), ('decided_by__isnull', False), models.Q(('decision_reason', ''), _negated=True), _connector='OR'), name='membership_confirmed_with_basis'),
        ),
        migrations.AddConstraint(
            model_name='membership',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'refused'), _negated=True), models.Q(('decided_by__isnull', False), models.Q(('decision_reason', ''), _negated=True)), _connector='OR'), name='membership_refused_with_reason'),
        ),
        migrations.RunPython(install_guards, uninstall_guards),
    ]
