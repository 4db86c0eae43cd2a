"""The hooks other apps call: protocol_in_force, charter_acknowledged, charter_required."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from cmer.accounts.models import Role
from cmer.audit.models import AuditEntry
from conventions.gates import (
    charter_acknowledged,
    charter_required,
    protocol_in_force,
)
from conventions.models import CharterAcknowledgement, Convention
from tests.conftest import make_user

from .factories import CharterAcknowledgementFactory, CharterVersionFactory, ConventionFactory

JAN_1 = datetime.date(2026, 1, 1)


@pytest.fixture
def signed_protocol(world):
    return ConventionFactory(
        commune=world.tarascon,
        signed=True,
        effective_date=JAN_1,
        end_date=datetime.date(2028, 12, 31),
    )


# -- protocol_in_force ----------------------------------------------------------------------


def test_no_convention_denies_with_what_to_do(world):
    decision = protocol_in_force(world.tarascon, JAN_1)
    assert not decision
    assert "n'est pas en vigueur" in decision.reason
    assert "aucun protocole" in decision.reason
    assert "préfecture" in decision.reason


def test_in_force_between_effective_and_end_dates(signed_protocol, world):
    assert protocol_in_force(world.tarascon, JAN_1)
    assert protocol_in_force(world.tarascon, datetime.date(2028, 12, 31))
    before = protocol_in_force(world.tarascon, datetime.date(2025, 12, 31))
    assert not before
    assert "ne prend effet que le 01/01/2026" in before.reason
    after = protocol_in_force(world.tarascon, datetime.date(2029, 1, 1))
    assert not after
    assert "a expiré le 31/12/2028" in after.reason


def test_default_day_is_today(signed_protocol, world):
    with time_machine.travel(datetime.datetime(2027, 6, 1, 12, tzinfo=datetime.UTC), tick=False):
        assert protocol_in_force(world.tarascon)
    with time_machine.travel(datetime.datetime(2029, 6, 1, 12, tzinfo=datetime.UTC), tick=False):
        assert not protocol_in_force(world.tarascon)


def test_other_commune_is_not_covered(signed_protocol, world):
    assert protocol_in_force(world.tarascon, JAN_1)
    assert not protocol_in_force(world.miramas, JAN_1)


def test_unsigned_conventions_do_not_open_the_gate(world):
    ConventionFactory(commune=world.tarascon, effective_date=JAN_1)
    decision = protocol_in_force(world.tarascon, JAN_1)
    assert not decision
    assert "pas encore signé" in decision.reason
    ConventionFactory(
        commune=world.miramas,
        effective_date=JAN_1,
        status=Convention.Status.AWAITING_SIGNATURES,
    )
    assert not protocol_in_force(world.miramas, JAN_1)


def test_terminated_convention_closes_the_gate(signed_protocol, world):
    signed_protocol.status = Convention.Status.TERMINATED
    signed_protocol.terminated_on = datetime.date(2027, 3, 1)
    signed_protocol.termination_reason = "Dénonciation par la commune"
    signed_protocol.save()
    assert protocol_in_force(world.tarascon, datetime.date(2027, 2, 28))
    decision = protocol_in_force(world.tarascon, datetime.date(2027, 3, 1))
    assert not decision
    assert "résilié" in decision.reason


def test_an_amendment_alone_does_not_open_the_gate(signed_protocol, world):
    ConventionFactory(
        commune=world.miramas,
        kind=Convention.Kind.AMENDMENT,
        parent=None,
        signed=True,
        effective_date=JAN_1,
    )
    assert not protocol_in_force(world.miramas, JAN_1)


def test_tacit_renewal_keeps_it_in_force(world):
    ConventionFactory(
        commune=world.tarascon,
        signed=True,
        effective_date=JAN_1,
        end_date=datetime.date(2026, 12, 31),
        duration_months=12,
        tacit_renewal=True,
    )
    assert protocol_in_force(world.tarascon, datetime.date(2029, 5, 1))


# -- charter_acknowledged -------------------------------------------------------------------


def test_no_charter_published_asks_nothing(world):
    assert charter_acknowledged(world.member)
    assert charter_acknowledged(world.referent)
    assert charter_acknowledged(world.liaison)


def test_commune_charter_binds_members_and_referent_until_acknowledged(world):
    charter = CharterVersionFactory(commune=world.tarascon, version=1)
    assert not charter_acknowledged(world.member)
    assert not charter_acknowledged(world.referent)
    CharterAcknowledgementFactory(user=world.member, charter=charter)
    assert charter_acknowledged(world.member)
    assert not charter_acknowledged(world.referent)


@pytest.mark.parametrize("persona", ["agent", "coordinator", "dpo", "admin"])
def test_roles_without_referral_access_need_no_charter(world, persona):
    CharterVersionFactory(commune=world.tarascon, version=1)
    CharterVersionFactory(department=world.department, version=1)
    assert charter_acknowledged(getattr(world, persona))


def test_other_commune_charter_does_not_bind(world):
    CharterVersionFactory(commune=world.miramas, version=1)
    assert charter_acknowledged(world.member)
    assert not charter_acknowledged(world.other_referent)


def test_new_version_asks_again(world):
    first = CharterVersionFactory(commune=world.tarascon, version=1)
    CharterAcknowledgementFactory(user=world.member, charter=first)
    assert charter_acknowledged(world.member)
    second = CharterVersionFactory(commune=world.tarascon, version=2)
    assert not charter_acknowledged(world.member)
    CharterAcknowledgementFactory(user=world.member, charter=second)
    assert charter_acknowledged(world.member)


def test_department_charter_binds_the_liaison_and_commune_charters_their_cells(world):
    department_charter = CharterVersionFactory(department=world.department, version=1)
    assert not charter_acknowledged(world.liaison)
    assert charter_acknowledged(world.member)  # Tarascon's own (model) charter binds members
    assert charter_acknowledged(world.other_department_liaison)
    CharterAcknowledgementFactory(user=world.liaison, charter=department_charter)
    assert charter_acknowledged(world.liaison)


def test_every_commune_and_department_starts_with_the_model_charter(world):
    from conventions.charter_model import MODEL_VERSION, model_text
    from tests.factories import CommuneFactory

    fresh = CommuneFactory(department=world.department)
    for scope in (fresh, world.tarascon, world.department, world.other_department):
        (model,) = scope.charter_versions.all()
        assert model.version == MODEL_VERSION and model.published_by is None
        assert model.text == model_text() and "besoin d'en connaître" in model.text.lower()
    # So the gate always applies: a new member of the new commune reads it first.
    newcomer = make_user("newcomer@fresh.test", Role.CELL_MEMBER, commune=fresh, read_charter=False)
    assert not charter_acknowledged(newcomer)


def test_member_of_two_communes_acknowledges_both(world):
    both = make_user("member@two.test", Role.CELL_MEMBER, commune=world.tarascon)
    from tests.factories import MembershipFactory

    MembershipFactory(user=both, role=Role.CELL_MEMBER, commune=world.miramas)
    tarascon = CharterVersionFactory(commune=world.tarascon, version=1)
    miramas = CharterVersionFactory(commune=world.miramas, version=1)
    CharterAcknowledgementFactory(user=both, charter=tarascon)
    both = type(both).objects.get(pk=both.pk)
    assert not charter_acknowledged(both)
    CharterAcknowledgementFactory(user=both, charter=miramas)
    assert charter_acknowledged(both)


def test_charter_check_costs_a_fixed_number_of_queries(world, django_assert_max_num_queries):
    for number in range(1, 4):
        CharterVersionFactory(commune=world.tarascon, version=number)
        CharterVersionFactory(department=world.department, version=number)
    with django_assert_max_num_queries(5):
        charter_acknowledged(world.liaison)


# -- charter_required and the charter page --------------------------------------------------


@charter_required
def protected_view(request):
    return HttpResponse("contenu")


def test_decorator_redirects_until_acknowledged(world):
    charter = CharterVersionFactory(commune=world.tarascon, version=1)
    request = RequestFactory().get("/signalements/12/?onglet=notes")
    request.user = world.member
    response = protected_view(request)
    assert response.status_code == 302
    assert response["Location"] == (
        reverse("conventions:charter") + "?next=%2Fsignalements%2F12%2F%3Fonglet%3Dnotes"
    )
    CharterAcknowledgementFactory(user=world.member, charter=charter)
    request = RequestFactory().get("/signalements/12/?onglet=notes")  # the next page view
    request.user = type(world.member).objects.get(pk=world.member.pk)
    assert protected_view(request).content == b"contenu"


def test_charter_page_acknowledges_and_follows_next(world, as_user):
    charter = CharterVersionFactory(commune=world.tarascon, version=1)
    client = as_user(world.member)
    page = client.get(reverse("conventions:charter"), {"next": "/signalements/12/"})
    assert page.status_code == 200
    assert "ne rien divulguer" in page.content.decode()
    response = client.post(
        reverse("conventions:charter"), {"charter": charter.pk, "next": "/signalements/12/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/signalements/12/"
    assert CharterAcknowledgement.objects.filter(user=world.member, charter=charter).exists()
    assert any(
        (entry.additional_data or {}).get("charter") == "acknowledged"
        for entry in AuditEntry.objects.filter(actor=world.member)
    )


@pytest.mark.parametrize("unsafe", ["https://evil.example/", "//evil.example/x", "javascript:x"])
def test_charter_page_ignores_unsafe_next(world, as_user, unsafe):
    charter = CharterVersionFactory(commune=world.tarascon, version=1)
    response = as_user(world.member).post(
        reverse("conventions:charter"), {"charter": charter.pk, "next": unsafe}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_acknowledging_only_what_was_shown(world, as_user):
    first = CharterVersionFactory(commune=world.tarascon, version=1)
    # A new version was published after the member opened the page showing version 1.
    CharterVersionFactory(commune=world.tarascon, version=2)
    response = as_user(world.member).post(reverse("conventions:charter"), {"charter": first.pk})
    assert response.status_code == 200
    assert not CharterAcknowledgement.objects.filter(
        user=world.member, charter__version__gte=1
    ).exists()
    assert not charter_acknowledged(world.member)


def test_charter_page_wrong_method(world, as_user):
    assert as_user(world.member).put(reverse("conventions:charter")).status_code == 405
