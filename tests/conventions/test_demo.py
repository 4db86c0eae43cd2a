"""The demo's protocol is signed the way the app requires: each side by its own representative."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from cmer.accounts.models import Commune
from conventions.gates import protocol_in_force
from conventions.models import Convention, Side, Signatory


def recorders(convention: Convention) -> dict[str, str]:
    return dict(convention.signatories.values_list("side", "signature_recorded_by__email"))


@pytest.mark.django_db
def test_demo_protocol_is_signed_by_both_sides(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    tarascon = Commune.objects.get(reference_prefix="TAR")
    convention = Convention.objects.get(commune=tarascon)
    assert convention.state == Convention.Status.IN_FORCE
    assert recorders(convention) == {
        Side.COMMUNE: "referent@tarascon.demo",
        Side.PREFECTURE: "liaison@prefecture.demo",
    }
    assert protocol_in_force(tarascon)


@pytest.mark.django_db
def test_seeding_again_repairs_a_demo_protocol_from_before_the_rule(settings):
    """A demo database migrated from before (signatures not recorded, back to awaiting)."""
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    convention = Convention.objects.get(reference="DEMO-13-TAR")
    Signatory.objects.filter(convention=convention).update(
        signature_recorded_by=None, signature_recorded_at=None
    )
    Convention.objects.filter(pk=convention.pk).update(
        status=Convention.Status.AWAITING_SIGNATURES, signed_at=None
    )
    assert not protocol_in_force(convention.commune)
    call_command("seed_demo", stdout=io.StringIO())
    assert protocol_in_force(convention.commune)
    assert Convention.objects.filter(commune=convention.commune).count() == 1


@pytest.mark.django_db
def test_demo_has_the_model_charter_in_force_everywhere_and_acknowledged_by_no_one(settings):
    from cmer.accounts.models import Department, User
    from conventions.gates import charter_acknowledged
    from conventions.models import CharterAcknowledgement, CharterVersion

    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())  # idempotent
    for commune in Commune.objects.all():
        assert CharterVersion.objects.filter(commune=commune).count() == 1
    for department in Department.objects.all():
        assert CharterVersion.objects.filter(department=department).count() == 1
    assert not CharterAcknowledgement.objects.exists()
    for email in ("membre@tarascon.demo", "referent@arles.demo", "liaison@prefecture.demo"):
        assert not charter_acknowledged(User.objects.get(email=email))
    assert charter_acknowledged(User.objects.get(email="agent@tarascon.demo"))
