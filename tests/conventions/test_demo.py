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
