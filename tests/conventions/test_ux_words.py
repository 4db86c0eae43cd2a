"""Issue 16: the liaison is not told to contact the prefecture (himself); consequential buttons
ask for confirmation; emergency numbers are tel: links; uploads use DSFR's component."""

from __future__ import annotations

from django.urls import reverse

from conventions.gates import protocol_in_force
from conventions.models import Side

from .factories import CharterVersionFactory, ConventionFactory


def test_the_liaison_is_told_what_to_record_not_to_contact_the_prefecture(world, as_user):
    convention = ConventionFactory(
        commune=world.tarascon, created_by=world.liaison, created_side=Side.PREFECTURE
    )
    page = as_user(world.liaison).get(reverse("conventions:detail", args=[convention.pk]))
    text = page.content.decode()
    assert 'data-testid="gate-reason"' in text
    assert "Contactez la préfecture" not in text
    assert "Enregistrez la signature du préfet" in text
    # The commune's side is still told to contact the prefecture.
    assert "Contactez la préfecture" in protocol_in_force(world.tarascon).reason
    assert (
        "Contactez la préfecture" not in protocol_in_force(world.tarascon, side="prefecture").reason
    )


def test_terminating_and_removing_a_signatory_ask_for_confirmation(world, as_user):
    from .factories import SignatoryFactory

    convention = ConventionFactory(commune=world.tarascon, created_by=world.referent)
    SignatoryFactory(convention=convention, name="Marie Maire")
    page = as_user(world.referent).get(reverse("conventions:detail", args=[convention.pk]))
    text = page.content.decode()
    assert "Retirer Marie Maire des signataires ?" in text
    terminate = text.split('data-testid="terminate-form"')[1].split("</form>")[0]
    assert "data-confirm=" in terminate


def test_publishing_a_charter_asks_for_confirmation(world, as_user):
    CharterVersionFactory(commune=world.tarascon, version=1)
    page = as_user(world.referent).get(
        reverse("conventions:charter_commune", args=[world.tarascon.pk])
    )
    publish = page.content.decode().split('data-testid="charter-publish"')[1].split("</form>")[0]
    assert "data-confirm=" in publish


def test_emergency_numbers_are_tel_links_and_uploads_dsfr(world, as_user):
    page = as_user(world.agent).get(reverse("cases:create")).content.decode()
    for number in ('href="tel:17"', 'href="tel:112"', 'href="tel:+33800005696"'):
        assert number in page
    assert 'class="fr-upload-group"' in page and 'class="fr-upload"' in page
