"""Issue 16: the charter gate applies per scope. A charter pending in Tarascon holds back
Tarascon's referrals and minutes only: the Miramas referent who is also a Tarascon member keeps
working in Miramas."""

from __future__ import annotations

import datetime

from django.urls import reverse
from django.utils import timezone

from cmer.accounts.models import Role
from tests.cases.helpers import file_referral
from tests.factories import MembershipFactory

from .factories import CharterVersionFactory


def _referent_of_miramas_member_of_tarascon(world):
    MembershipFactory(user=world.other_referent, role=Role.CELL_MEMBER, commune=world.tarascon)
    user = type(world.other_referent).objects.get(pk=world.other_referent.pk)
    from tests.conftest import acknowledge_charters

    acknowledge_charters(user)  # both model charters read
    return user


def test_a_charter_pending_elsewhere_does_not_stop_work_here(world, as_user):
    user = _referent_of_miramas_member_of_tarascon(world)
    in_miramas = file_referral(world.other_referent, world.miramas)
    in_tarascon = file_referral(world.agent, world.tarascon)
    from cases import actions

    actions.do_grant_access(
        in_tarascon,
        member=user,
        contribute=False,
        reason="Suivi éducatif",
        expires_on=timezone.localdate() + datetime.timedelta(days=30),
        acting_user=world.referent,
    )
    client = as_user(user)
    assert client.get(reverse("cases:detail", args=[in_tarascon.pk])).status_code == 200
    CharterVersionFactory(commune=world.tarascon, version=1)  # Tarascon publishes a new text
    # Working in Miramas (their first commune): the list opens, Miramas only, and says why.
    listing = client.get(reverse("cases:list"))
    page = listing.content.decode()
    assert listing.status_code == 200
    assert in_miramas.reference in page and in_tarascon.reference not in page
    assert 'data-testid="charter-pending"' in page
    assert client.get(reverse("cases:detail", args=[in_miramas.pk])).status_code == 200
    # The Tarascon referral, opened by its address: the Tarascon charter first, then back.
    detail = reverse("cases:detail", args=[in_tarascon.pk])
    response = client.get(detail)
    assert response.status_code == 302
    assert (
        response["Location"]
        == f"{reverse('conventions:charter')}?next={detail.replace('/', '%2F')}"
    )


def test_a_meeting_of_the_pending_commune_waits_for_its_charter(world, as_user):
    from tests.meetings.helpers import plan

    user = _referent_of_miramas_member_of_tarascon(world)
    meeting = plan(world, invitees=[user], place="Salle Tarascon")
    client = as_user(user)
    detail = reverse("meetings:detail", args=[meeting.pk])
    assert client.get(detail).status_code == 200
    assert "Salle Tarascon" in client.get(reverse("meetings:list")).content.decode()
    CharterVersionFactory(commune=world.tarascon, version=1)
    response = client.get(detail)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("conventions:charter"))
    assert "Salle Tarascon" not in client.get(reverse("meetings:list")).content.decode()


def test_the_liaison_is_held_by_the_department_charter_only(world, as_user):
    referral = file_referral(world.agent, world.tarascon)
    CharterVersionFactory(commune=world.tarascon, version=1)  # binds the cell, not the liaison
    client = as_user(world.liaison)
    assert client.get(reverse("cases:transmitted")).status_code == 200
    CharterVersionFactory(department=world.department, version=1)
    response = client.get(reverse("cases:transmitted"))
    assert response.status_code == 302  # the department charter binds every commune of theirs
    assert referral.commune.department_id == world.department.pk
