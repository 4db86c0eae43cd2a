"""seed_demo: the demo roles are confirmed, and one request waits for the Tarascon referent."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from cmer import permissions
from cmer.accounts.demo import DEMO_PENDING
from cmer.accounts.memberships import requests_pending_for
from cmer.accounts.models import Membership, MembershipStatus, User

pytestmark = pytest.mark.django_db


def test_demo_roles_are_confirmed_and_one_request_waits(settings):
    settings.DEBUG = True
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=io.StringIO())  # idempotent
    pending = Membership.objects.get(status=MembershipStatus.REQUESTED)
    assert pending.user.email == DEMO_PENDING.email
    assert pending.requested_by.email == "admin@cmer.demo"
    assert (
        not Membership.objects.exclude(pk=pending.pk)
        .exclude(status=MembershipStatus.CONFIRMED)
        .exists()
    )
    assert DEMO_PENDING.email in out.getvalue() and "à confirmer" in out.getvalue()
    referent = User.objects.get(email="referent@tarascon.demo")
    assert list(requests_pending_for(referent)) == [pending]
    for email in ("referent@miramas.demo", "membre@tarascon.demo", "admin@cmer.demo"):
        assert not requests_pending_for(User.objects.get(email=email)).exists(), email
    newcomer = User.objects.get(email=DEMO_PENDING.email)
    assert permissions.all_roles(newcomer) == set()
    # The administrator holds no content role in the demo either.
    admin = User.objects.get(email="admin@cmer.demo")
    assert not Membership.objects.forbidden_for_administrators().filter(user=admin).exists()
