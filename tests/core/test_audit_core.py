from __future__ import annotations

import pytest

from cmer.audit.core import MASK, record_access
from cmer.audit.models import AuditEntry, Event


@pytest.mark.django_db
def test_changes_are_logged_with_actor(world):
    from auditlog.context import set_actor

    with set_actor(world.admin):
        world.tarascon.name = "Tarascon-sur-Rhône"
        world.tarascon.save()
    entry = AuditEntry.objects.filter(object_pk=str(world.tarascon.pk), event=Event.CHANGE).latest(
        "timestamp"
    )
    assert entry.actor == world.admin
    assert entry.actor_email == world.admin.email
    assert "name" in entry.changes


@pytest.mark.django_db
def test_password_is_never_in_the_trail(world):
    world.agent.set_password("another long passphrase 99")
    world.agent.save()
    for entry in AuditEntry.objects.filter(object_pk=str(world.agent.pk)):
        assert "password" not in (entry.changes or {})


@pytest.mark.django_db
def test_record_access_names_who_what_when_where(world, rf):
    request = rf.get("/", REMOTE_ADDR="10.1.2.3")
    request.user = world.referent
    entry = record_access(request, world.tarascon, what="detail")
    assert entry.event == Event.ACCESS
    assert entry.actor == world.referent
    assert entry.remote_addr == "10.1.2.3"
    assert entry.object_pk == str(world.tarascon.pk)
    assert entry.timestamp is not None


def test_mask_keeps_nothing():
    from cmer.audit.core import mask_value

    assert mask_value("Jean Dupont") == MASK


@pytest.mark.django_db
def test_entries_are_protected_from_actor_deletion(world):
    from django.db.models import ProtectedError

    from cmer.accounts.models import User

    record_access(None, world.tarascon, actor=world.dpo)
    with pytest.raises(ProtectedError):
        # Bypass User.delete()'s own refusal: the database relation must protect too.
        User.objects.filter(pk=world.dpo.pk).delete()
