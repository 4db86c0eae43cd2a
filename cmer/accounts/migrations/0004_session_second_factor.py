from django.db import migrations, models


def mark_verified_sessions(apps, schema_editor):
    """Sessions open before this field: verified if their server-side data holds the device
    django-otp stores at verification (the same test ``user.is_verified()`` makes)."""
    from django.contrib.sessions.backends.db import SessionStore
    from django_otp import DEVICE_ID_SESSION_KEY

    UserSession = apps.get_model("accounts", "UserSession")
    for link in UserSession.objects.filter(second_factor_at__isnull=True).iterator():
        if DEVICE_ID_SESSION_KEY in SessionStore(session_key=link.session_key).load():
            link.second_factor_at = link.created_at
            link.save(update_fields=["second_factor_at"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_user_session_device"),
        ("sessions", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="usersession",
            name="second_factor_at",
            field=models.DateTimeField(
                blank=True, null=True, verbose_name="second facteur validé le"
            ),
        ),
        migrations.RunPython(mark_verified_sessions, migrations.RunPython.noop),
    ]
