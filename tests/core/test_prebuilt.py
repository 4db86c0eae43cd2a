"""cmer.prebuilt: a kept queryset is cloned, never evaluated, and each call sees today's rows."""

import datetime

import pytest

from cmer import permissions
from cmer.accounts.models import Membership, Role
from cmer.prebuilt import prebuilt
from conventions.gates import protocols_with_sides
from tests.factories import CommuneFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_each_call_is_a_fresh_clone_and_the_kept_queryset_is_never_evaluated():
    calls = []

    @prebuilt
    def communes_of(day):
        calls.append(day)
        return Membership.objects.filter(starts_on__lte=day).order_by("pk")

    day = datetime.date(2026, 12, 1)
    first = communes_of(day)
    assert list(first) == []
    MembershipFactory(starts_on=day)
    # The kept queryset held no result: the new row is seen by the next call.
    assert len(communes_of(day)) == 1
    assert communes_of(day) is not communes_of(day)
    assert calls == [day]  # built once for that key
    assert communes_of.kept(day)._result_cache is None
    communes_of(day + datetime.timedelta(days=1))
    assert calls == [day, day + datetime.timedelta(days=1)]  # one per key (a day)


def test_roles_are_read_fresh_on_each_request_through_the_kept_query():
    user = UserFactory()
    commune = CommuneFactory()
    assert permissions.roles_in(user, commune) == set()
    MembershipFactory(user=user, commune=commune, role=Role.REFERENT)
    permissions.forget_roles(user)
    assert permissions.roles_in(user, commune) == {Role.REFERENT}
    # Ended yesterday: no longer in force, as Membership.objects.active() says.
    yesterday = _today() - datetime.timedelta(days=1)
    Membership.objects.filter(user=user).update(starts_on=yesterday, ends_on=yesterday)
    permissions.forget_roles(user)
    assert permissions.roles_in(user, commune) == set()
    assert permissions._memberships_in_force.kept(_today())._result_cache is None


def test_protocols_query_is_kept_unevaluated():
    commune = CommuneFactory()
    assert list(protocols_with_sides().filter(commune=commune)) == []
    assert protocols_with_sides.kept()._result_cache is None


def _today():
    from django.utils import timezone

    return timezone.localdate()
