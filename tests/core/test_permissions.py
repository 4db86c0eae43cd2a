"""The permission core: roles by commune and department, superuser gives nothing."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from cmer import permissions
from cmer.accounts.models import Membership, Role
from tests.factories import MembershipFactory, UserFactory


@pytest.mark.django_db
def test_commune_roles_stay_in_their_commune(world):
    assert permissions.roles_in(world.referent, world.tarascon) == {Role.REFERENT}
    assert permissions.roles_in(world.referent, world.miramas) == set()
    assert list(permissions.communes_where(world.referent, Role.REFERENT)) == [world.tarascon]
    assert not permissions.communes_where(world.other_referent, Role.REFERENT).filter(
        pk=world.tarascon.pk
    )


@pytest.mark.django_db
def test_department_roles_cover_each_commune_of_their_department_only(world):
    communes = set(permissions.communes_where(world.liaison, Role.LIAISON))
    assert communes == {world.tarascon, world.miramas}
    assert world.nimes not in communes
    assert permissions.has_role(world.liaison, world.miramas, Role.LIAISON)
    assert not permissions.has_role(world.other_department_liaison, world.tarascon, Role.LIAISON)


@pytest.mark.django_db
def test_superuser_and_staff_get_no_role_anywhere(world):
    assert world.admin.is_superuser
    for commune in (world.tarascon, world.miramas, world.nimes):
        assert permissions.roles_in(world.admin, commune) == set()
    assert not permissions.communes_where(world.admin).exists()
    assert permissions.installation_roles(world.admin) == {Role.TECH_ADMIN}


@pytest.mark.django_db
def test_expired_or_future_memberships_give_nothing(world):
    user = UserFactory()
    today = timezone.localdate()
    MembershipFactory(
        user=user,
        role=Role.REFERENT,
        commune=world.tarascon,
        starts_on=today - datetime.timedelta(days=30),
        ends_on=today - datetime.timedelta(days=1),
    )
    MembershipFactory(
        user=user,
        role=Role.REFERENT,
        commune=world.miramas,
        starts_on=today + datetime.timedelta(days=1),
    )
    assert not permissions.communes_where(user).exists()


@pytest.mark.django_db
def test_inactive_user_has_no_roles(world):
    world.referent.is_active = False
    world.referent.save()
    permissions.forget_roles(world.referent)
    assert permissions.roles_in(world.referent, world.tarascon) == set()


@pytest.mark.django_db
def test_membership_scope_is_validated(world):
    from django.core.exceptions import ValidationError

    bad = Membership(user=world.agent, role=Role.LIAISON, commune=world.tarascon)
    with pytest.raises(ValidationError):
        bad.clean()
    bad = Membership(user=world.agent, role=Role.REFERENT, department=world.department)
    with pytest.raises(ValidationError):
        bad.clean()


@pytest.mark.django_db
def test_get_or_404_hides_existence_and_records_the_denial(world, rf):
    from django.http import Http404

    from cmer.accounts.models import Commune
    from cmer.audit.models import AuditEntry, Event

    request = rf.get("/")
    request.user = world.other_referent
    visible = permissions.communes_where(world.other_referent)
    with pytest.raises(Http404):
        permissions.get_or_404(visible, request, pk=world.tarascon.pk)
    with pytest.raises(Http404):
        permissions.get_or_404(visible, request, pk=999999)
    with pytest.raises(Http404):
        permissions.get_or_404(visible, request, pk="abc")
    denials = AuditEntry.objects.filter(event=Event.DENIED)
    assert denials.count() == 1
    assert denials.get().object_pk == str(world.tarascon.pk)
    assert permissions.get_or_404(visible, request, pk=world.miramas.pk) == world.miramas
    assert Commune.objects.count() == 3


@pytest.mark.django_db
def test_home_shows_only_what_each_role_may_use(as_user, world):
    expectations = {
        world.agent: ("Déposer un signalement", "Journal d'audit"),
        world.coordinator: ("Formations de sensibilisation", "Signalements"),
        world.admin: ("Administration technique", "Signalements"),
    }
    for user, (shown, hidden) in expectations.items():
        html = as_user(user).get("/").content.decode()
        assert shown in html, user
        assert hidden not in html.split('data-testid="home-sections"')[1], user
    # The DPO's home is a dashboard (issue 16); the audit is in the main navigation.
    html = as_user(world.dpo).get("/").content.decode()
    assert 'data-testid="dpo-dashboard"' in html and 'href="/audit/"' in html
    assert "Déposer un signalement" not in html
