"""Issue 16: dashboards instead of tiles for the referent, the liaison and the DPO — each counted
in its reader's scope only, in a fixed number of statements."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from cases import actions
from cases.dashboard import liaison_dashboard, referent_dashboard
from cases.models import Referral
from cmer.audit.dashboard import dpo_dashboard
from conventions.dashboard import charter_acknowledgements
from tests.cases.helpers import file_referral

pytestmark = pytest.mark.django_db


def _fill(world):
    """Referrals in Tarascon (the world's referent) and in Miramas (someone else's)."""
    urgent = file_referral(world.agent, world.tarascon, urgency="danger")
    file_referral(world.agent, world.tarascon)
    assessed = file_referral(world.agent, world.tarascon)
    actions.do_change_status(
        assessed, to_status=Referral.Status.IN_ASSESSMENT, acting_user=world.referent
    )
    actions.do_grant_access(
        assessed,
        member=world.member,
        contribute=False,
        reason="Suivi",
        expires_on=timezone.localdate() + datetime.timedelta(days=5),
        acting_user=world.referent,
    )
    for _ in range(3):
        file_referral(world.other_referent, world.miramas, urgency="danger")
    return urgent


def test_the_referent_sees_the_commune_s_figures_only(world, as_user):
    urgent = _fill(world)
    dashboard = referent_dashboard(world.referent)
    counts = dict(dashboard.by_status)
    assert counts["Transmis au référent"] == 2 and counts["En évaluation"] == 1
    assert dashboard.urgent_open == 1  # Miramas' three are not counted
    assert dashboard.oldest_unassessed == urgent
    assert dashboard.expiring_grants == 1
    assert dashboard.protocols[0]["in_force"] is False
    page = as_user(world.referent).get("/").content.decode()
    assert 'data-testid="referent-dashboard"' in page
    assert 'data-testid="home-sections"' not in page  # a dashboard, not tiles


def test_the_referent_dashboard_costs_a_fixed_number_of_statements(
    world, django_assert_max_num_queries
):
    _fill(world)
    referent = type(world.referent).objects.get(pk=world.referent.pk)
    with django_assert_max_num_queries(10) as captured:
        referent_dashboard(referent)
    baseline = len(captured.captured_queries)
    # The oldest referral to assess is loaded with .only(): reading it must not fetch its
    # deferred status once more (Referral.from_db used to).
    assert not [q for q in captured.captured_queries if 'WHERE "cases_referral"."id" =' in q["sql"]]
    for _ in range(5):
        file_referral(world.agent, world.tarascon)
    referent = type(world.referent).objects.get(pk=world.referent.pk)
    with django_assert_max_num_queries(baseline):
        referent_dashboard(referent)


def test_the_liaison_sees_each_commune_of_the_department_and_nothing_of_another(
    world, django_assert_max_num_queries
):
    _fill(world)
    liaison = type(world.liaison).objects.get(pk=world.liaison.pk)
    with django_assert_max_num_queries(7):
        rows = liaison_dashboard(liaison)
    assert [row.commune.name for row in rows] == ["Miramas", "Tarascon"]  # not Nîmes
    assert all(row.awaiting_feedback == 0 for row in rows)


@pytest.mark.parametrize("persona", ["agent", "member", "coordinator", "admin"])
def test_other_roles_get_no_dashboard_and_pay_no_query(world, persona, django_assert_num_queries):
    user = getattr(world, persona)
    type(user).objects.get(pk=user.pk)
    from cmer import permissions

    permissions.role_map(user)  # loaded once per request anyway
    with django_assert_num_queries(0):
        assert referent_dashboard(user) is None
        assert liaison_dashboard(user) is None
        assert dpo_dashboard(user) is None
        assert charter_acknowledgements(user) is None


def test_the_dpo_sees_readers_of_the_department_and_charter_acknowledgements(
    world, as_user, django_assert_max_num_queries
):
    referral = file_referral(world.agent, world.tarascon)
    for _ in range(3):
        as_user(world.referent).get(f"/signalements/{referral.pk}/")
    dpo = type(world.dpo).objects.get(pk=world.dpo.pk)
    with django_assert_max_num_queries(4):
        dashboard = dpo_dashboard(dpo)
    readers = {row["actor_email"]: row["reads"] for row in dashboard.readers}
    assert readers[world.referent.email] >= 3
    rows = charter_acknowledgements(dpo)
    tarascon = next(row for row in rows if row["scope"].startswith("Tarascon"))
    assert tarascon["version"] == 0 and tarascon["acknowledged"] >= 3
    assert not any(row["scope"].startswith("Nîmes") for row in rows)
    page = as_user(world.dpo).get("/").content.decode()
    assert 'data-testid="dpo-dashboard"' in page and 'data-testid="readers"' in page


def test_the_liaison_home_page_shows_the_table(world, as_user):
    page = as_user(world.liaison).get("/").content.decode()
    assert 'data-testid="liaison-dashboard"' in page and "Miramas" in page
