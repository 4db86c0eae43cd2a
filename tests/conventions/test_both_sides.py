"""Issue 11, point 4: a protocol is in force only when both sides have signed in the app.

The attacks of the issue, replayed: the Arles referent terminates the prefecture's draft,
creates a protocol with a prefect's signature and declares it signed, then transmits a referral
for the liaison to read; the liaison terminates a commune's protocol on their own. Each side
records only its own half; every refusal says why and changes nothing.
"""

from __future__ import annotations

import datetime
from types import SimpleNamespace

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from cases import actions as case_actions
from cases.models import Transmission
from cmer.accounts.models import Role
from cmer.audit.models import AuditEntry
from conventions import actions
from conventions.gates import protocol_in_force
from conventions.models import Convention, Side, Signatory, SignedDocument
from conventions.sides import SideRefused
from conventions.tasks import send_non_renewal_notice, send_termination_notice
from tests.cases.helpers import file_referral
from tests.conftest import make_user
from tests.factories import CommuneFactory, MembershipFactory

from .factories import ConventionFactory, SignatoryFactory, pdf_upload

S = Convention.Status
TODAY = timezone.localdate


@pytest.fixture
def arles(world):
    commune = CommuneFactory(
        insee_code="13004", name="Arles", department=world.department, reference_prefix="ARL"
    )
    return SimpleNamespace(
        commune=commune,
        referent=make_user("referent@arles.test", Role.REFERENT, commune=commune),
        agent=make_user("agent@arles.test", Role.REPORTING_AGENT, commune=commune),
    )


def protocol_data(**overrides):
    data = {
        "kind": Convention.Kind.PROTOCOL,
        "title": "Protocole d'installation de la CMER",
        "reference": "PREF13-ARL",
        "effective_date": TODAY(),
        "duration_months": 36,
    }
    data.update(overrides)
    return data


def detail(convention):
    return reverse("conventions:detail", args=[convention.pk])


def snapshot(convention: Convention) -> tuple:
    """Everything a refused action must leave as it was."""
    convention.refresh_from_db()
    signatories = tuple(
        convention.signatories.order_by("pk").values_list(
            "pk", "side", "capacity", "signed_on", "signature_recorded_by", "signed_document"
        )
    )
    documents = tuple(convention.documents.order_by("pk").values_list("pk", "sha256", "file"))
    return (
        convention.status,
        convention.signed_at,
        convention.terminated_on,
        convention.termination_reason,
        convention.end_date,
        signatories,
        documents,
    )


def prefecture_draft(world, arles) -> Convention:
    """The liaison's draft protocol for Arles, sent for signature with the prefect listed."""
    convention = actions.do_create_convention(
        arles.commune, protocol_data(), acting_user=world.liaison
    )
    actions.do_add_signatory(
        convention,
        {"name": "Préfet de police", "capacity": Signatory.Capacity.POLICE_PREFECT},
        acting_user=world.liaison,
    )
    actions.do_upload_document(convention, pdf_upload("projet"), acting_user=world.liaison)
    return actions.do_request_signatures(convention, acting_user=world.liaison)


# -- attack 1: the referent terminates the prefecture's draft ---------------------------------


def test_referent_cannot_terminate_or_touch_the_prefectures_draft(world, arles, as_user):
    convention = prefecture_draft(world, arles)
    assert convention.created_side == Side.PREFECTURE
    before = snapshot(convention)
    client = as_user(arles.referent)
    refused = client.post(
        reverse("conventions:terminate", args=[convention.pk]),
        {"terminated_on": TODAY().isoformat(), "reason": "Nous préférons notre propre texte"},
    )
    assert refused.status_code == 403
    assert "rédigé par la préfecture" in refused.content.decode()
    # Edit it, re-send it, remove the prefecture's signatory: refused the same way.
    edit = client.post(
        reverse("conventions:edit", args=[convention.pk]),
        {
            "kind": "protocol",
            "title": "Autre texte",
            "effective_date": TODAY().isoformat(),
            "duration_months": "120",
        },
    )
    assert edit.status_code == 403
    prefect = convention.signatories.get()
    resend = client.post(reverse("conventions:request_signatures", args=[convention.pk]))
    assert resend.status_code == 403
    remove = client.post(reverse("conventions:signatory_remove", args=[convention.pk, prefect.pk]))
    assert remove.status_code == 403
    assert "préfecture" in remove.content.decode()
    assert snapshot(convention) == before
    with pytest.raises(SideRefused):
        actions.do_terminate_convention(
            convention, reason="x", terminated_on=TODAY(), acting_user=arles.referent
        )
    assert snapshot(convention) == before
    # The drafting side may abandon its own project; the documents stay.
    response = as_user(world.liaison).post(
        reverse("conventions:terminate", args=[convention.pk]),
        {"terminated_on": TODAY().isoformat(), "reason": "Projet abandonné"},
    )
    assert response.status_code == 302
    convention.refresh_from_db()
    assert convention.status == S.TERMINATED
    assert convention.terminated_by == world.liaison
    assert convention.terminated_side == Side.PREFECTURE
    assert snapshot(convention)[6] == before[6]


def test_one_partys_draft_blocks_nothing_and_only_one_can_be_signed(world, arles):
    """No need to abandon the other party's draft to propose one's own for the same period."""
    theirs = prefecture_draft(world, arles)
    ours = actions.do_create_convention(
        arles.commune, protocol_data(reference="ARL-COMMUNE"), acting_user=arles.referent
    )
    assert ours.effective_date == theirs.effective_date
    mayor = actions.do_add_signatory(
        theirs, {"name": "Maire", "capacity": "mayor"}, acting_user=arles.referent
    )
    actions.do_record_signature(
        theirs.signatories.get(side=Side.PREFECTURE), TODAY(), acting_user=world.liaison
    )
    actions.do_record_signature(mayor, TODAY(), acting_user=arles.referent)
    actions.do_mark_signed(theirs, acting_user=arles.referent)
    # The commune's competing draft can no longer be signed for the same period.
    actions.do_add_signatory(
        ours, {"name": "Maire", "capacity": "mayor"}, acting_user=arles.referent
    )
    actions.do_add_signatory(
        ours, {"name": "Préfet", "capacity": "prefect"}, acting_user=world.liaison
    )
    actions.do_request_signatures(ours, acting_user=arles.referent)
    actions.do_upload_document(ours, pdf_upload("concurrent"), acting_user=arles.referent)
    for signatory, who in zip(
        ours.signatories.order_by("side"), (arles.referent, world.liaison), strict=True
    ):
        actions.do_record_signature(signatory, TODAY(), acting_user=who)
    with pytest.raises(ValidationError, match="couvre déjà cette période"):
        actions.do_mark_signed(ours, acting_user=world.liaison)


def test_liaison_cannot_terminate_the_communes_draft(world, as_user):
    convention = actions.do_create_convention(
        world.tarascon, protocol_data(), acting_user=world.referent
    )
    before = snapshot(convention)
    response = as_user(world.liaison).post(
        reverse("conventions:terminate", args=[convention.pk]),
        {"terminated_on": TODAY().isoformat(), "reason": "x"},
    )
    assert response.status_code == 403
    assert "rédigé par la commune" in response.content.decode()
    assert snapshot(convention) == before


# -- attack 2: a protocol with an invented prefect's signature -------------------------------


def test_referent_cannot_put_a_protocol_in_force_alone(world, arles, as_user):
    client = as_user(arles.referent)
    created = client.post(
        reverse("conventions:create"),
        {
            "commune": arles.commune.pk,
            "kind": "protocol",
            "title": "Protocole CMER d'Arles",
            "reference": "",
            "effective_date": TODAY().isoformat(),
            "end_date": "",
            "duration_months": "36",
            "renewal_months": "",
            "notice_period_days": "",
        },
    )
    assert created.status_code == 302
    convention = Convention.objects.get(commune=arles.commune)
    assert convention.created_side == Side.COMMUNE
    add = reverse("conventions:signatory_add", args=[convention.pk])

    # The prefect listed by the referent: refused, with the reason.
    response = client.post(add, {"name": "Préfet (inventé)", "capacity": "prefect"})
    assert response.status_code == 403
    assert "seul le correspondant de la préfecture" in response.content.decode()
    # A crafted POST putting an "other" signatory on the prefecture's side: refused too.
    response = client.post(
        add,
        {"name": "Préfet", "capacity": "other", "capacity_detail": "Préfet", "side": "prefecture"},
    )
    assert response.status_code == 403
    assert "Seul le représentant de la préfecture" in response.content.decode()
    assert not convention.signatories.exists()

    # The commune's own half goes through.
    assert client.post(add, {"name": "Maire d'Arles", "capacity": "mayor"}).status_code == 302
    mayor = convention.signatories.get()
    assert mayor.side == Side.COMMUNE
    client.post(reverse("conventions:request_signatures", args=[convention.pk]))
    actions.do_upload_document(
        convention, pdf_upload("protocole arles"), acting_user=arles.referent
    )
    url = reverse("conventions:signature", args=[convention.pk, mayor.pk])
    assert client.post(url, {"signed_on": TODAY().isoformat()}).status_code == 302
    mayor.refresh_from_db()
    assert mayor.signature_recorded_by == arles.referent
    assert mayor.signature_recorded_at is not None

    # "Constater la signature" alone: refused, the prefecture has not signed.
    response = client.post(reverse("conventions:mark_signed", args=[convention.pk]), follow=True)
    assert "La signature de la préfecture (correspondant de la préfecture) n" in (
        response.content.decode().replace("&#x27;", "'")
    )
    convention.refresh_from_db()
    assert convention.status == S.AWAITING_SIGNATURES
    decision = protocol_in_force(arles.commune)
    assert not decision
    assert "pas encore signé par les deux parties" in decision.reason

    # The referral cannot go to the prefecture; the liaison cannot read it.
    referral = file_referral(arles.agent, arles.commune)
    referral = case_actions.do_change_status(
        referral, to_status="in_assessment", acting_user=arles.referent
    )
    response = client.post(
        f"/signalements/{referral.pk}/transmission/",
        {"items": ["facts"], "reason": "Menaces répétées"},
    )
    assert "pas encore signé par les deux parties" in response.content.decode()
    assert not Transmission.objects.exists()
    assert as_user(world.liaison).get(f"/signalements/{referral.pk}/").status_code == 404


def test_a_signed_status_written_around_the_actions_opens_nothing(world, arles):
    """Invented signatures stored directly (shell, old data): the gate still says no."""
    forged = ConventionFactory(
        commune=arles.commune, status=S.SIGNED, signed_at=timezone.now(), created_side="commune"
    )
    # A "prefect" the commune listed as one of its own, with a date and no recorder.
    SignatoryFactory(
        convention=forged,
        side=Side.COMMUNE,
        capacity=Signatory.Capacity.OTHER,
        capacity_detail="Préfet",
        signed_on=TODAY(),
    )
    assert forged.state == S.AWAITING_SIGNATURES
    assert not protocol_in_force(arles.commune)
    # Even with the commune's signature recorded, one side is not enough.
    SignatoryFactory(convention=forged, side=Side.COMMUNE, recorded=True)
    Signatory.objects.filter(convention=forged, capacity="other").delete()
    assert not protocol_in_force(arles.commune)
    assert not Convention.objects.signed_by_both_sides().filter(pk=forged.pk).exists()
    # The database itself refuses a prefect on the commune's side, or a mayor on the other.
    for side, capacity in [("commune", "prefect"), ("prefecture", "mayor")]:
        with pytest.raises(IntegrityError), transaction.atomic():
            Signatory.objects.create(convention=forged, side=side, name="X", capacity=capacity)


def test_referent_cannot_record_the_prefects_signature(world, as_user):
    convention = actions.do_create_convention(
        world.tarascon, protocol_data(reference="T"), acting_user=world.referent
    )
    actions.do_add_signatory(
        convention, {"name": "Maire", "capacity": "mayor"}, acting_user=world.referent
    )
    prefect = actions.do_add_signatory(
        convention, {"name": "Préfet", "capacity": "prefect"}, acting_user=world.liaison
    )
    assert prefect.side == Side.PREFECTURE
    actions.do_request_signatures(convention, acting_user=world.referent)
    actions.do_upload_document(convention, pdf_upload("t"), acting_user=world.referent)
    before = snapshot(convention)
    url = reverse("conventions:signature", args=[convention.pk, prefect.pk])
    response = as_user(world.referent).post(url, {"signed_on": TODAY().isoformat()})
    assert response.status_code == 403
    assert "Seul le représentant de la préfecture" in response.content.decode()
    assert snapshot(convention) == before
    denied = AuditEntry.objects.filter(event="denied", object_pk=str(convention.pk)).latest("pk")
    assert denied.actor == world.referent
    assert denied.additional_data == {"refused": "other_party", "url": "signature"}
    # A bad date changes nothing to the answer: it is not the referent's signature to record.
    response = as_user(world.referent).post(url, {"signed_on": "2099-01-01"})
    assert response.status_code == 403
    assert snapshot(convention) == before
    # Nor the other way round.
    mayor = convention.signatories.get(side=Side.COMMUNE)
    url = reverse("conventions:signature", args=[convention.pk, mayor.pk])
    response = as_user(world.liaison).post(url, {"signed_on": TODAY().isoformat()})
    assert response.status_code == 403
    assert snapshot(convention) == before
    with pytest.raises(SideRefused):
        actions.do_record_signature(prefect, TODAY(), acting_user=world.referent)


def sign_both_sides(world, commune=None) -> Convention:
    """A protocol signed the only way there is: each side records its own signature."""
    convention = actions.do_create_convention(
        commune or world.tarascon, protocol_data(), acting_user=world.referent
    )
    mayor = actions.do_add_signatory(
        convention, {"name": "Maire", "capacity": "mayor"}, acting_user=world.referent
    )
    prefect = actions.do_add_signatory(
        convention, {"name": "Préfet", "capacity": "prefect"}, acting_user=world.liaison
    )
    actions.do_request_signatures(convention, acting_user=world.referent)
    actions.do_upload_document(convention, pdf_upload("signé"), acting_user=world.referent)
    actions.do_record_signature(prefect, TODAY(), acting_user=world.liaison)
    actions.do_record_signature(mayor, TODAY(), acting_user=world.referent)
    return actions.do_mark_signed(convention, acting_user=world.liaison)


def test_both_sides_signing_puts_it_in_force_and_every_signature_is_audited(world):
    convention = sign_both_sides(world)
    assert convention.state == S.IN_FORCE
    assert protocol_in_force(world.tarascon)
    signed = [
        entry
        for entry in AuditEntry.objects.filter(object_pk=str(convention.pk), event="change")
        if (entry.additional_data or {}).get("signatory") == "signed"
    ]
    assert {(e.actor, e.additional_data["side"]) for e in signed} == {
        (world.referent, "commune"),
        (world.liaison, "prefecture"),
    }
    assert all(e.additional_data["document_version"] == 1 for e in signed)


def test_one_person_cannot_sign_for_both_sides(world):
    # Someone holding both roles for Tarascon (referent there and department liaison).
    MembershipFactory(
        user=world.referent, role=Role.LIAISON, commune=None, department=world.department
    )
    convention = actions.do_create_convention(
        world.tarascon, protocol_data(), acting_user=world.referent
    )
    mayor = actions.do_add_signatory(
        convention, {"name": "Maire", "capacity": "mayor"}, acting_user=world.referent
    )
    prefect = actions.do_add_signatory(
        convention, {"name": "Préfet", "capacity": "prefect"}, acting_user=world.referent
    )
    actions.do_request_signatures(convention, acting_user=world.referent)
    actions.do_upload_document(convention, pdf_upload(), acting_user=world.referent)
    actions.do_record_signature(mayor, TODAY(), acting_user=world.referent)
    with pytest.raises(SideRefused, match="même personne"):
        actions.do_record_signature(prefect, TODAY(), acting_user=world.referent)
    prefect.refresh_from_db()
    assert not prefect.is_recorded
    with pytest.raises(ValidationError, match="préfecture"):
        actions.do_mark_signed(convention, acting_user=world.referent)
    assert not protocol_in_force(world.tarascon)


def test_a_new_pdf_after_a_signature_needs_both_signatures_again(world):
    convention = actions.do_create_convention(
        world.tarascon, protocol_data(), acting_user=world.referent
    )
    mayor = actions.do_add_signatory(
        convention, {"name": "Maire", "capacity": "mayor"}, acting_user=world.referent
    )
    prefect = actions.do_add_signatory(
        convention, {"name": "Préfet", "capacity": "prefect"}, acting_user=world.liaison
    )
    actions.do_request_signatures(convention, acting_user=world.referent)
    first = actions.do_upload_document(convention, pdf_upload("v1"), acting_user=world.liaison)
    actions.do_record_signature(prefect, TODAY(), acting_user=world.liaison)
    # The commune uploads another text after the prefect signed the first, and signs it.
    actions.do_upload_document(convention, pdf_upload("v2"), acting_user=world.referent)
    actions.do_record_signature(mayor, TODAY(), acting_user=world.referent)
    with pytest.raises(ValidationError, match="version 2"):
        actions.do_mark_signed(convention, acting_user=world.referent)
    assert not protocol_in_force(world.tarascon)
    first.refresh_from_db()
    assert SignedDocument.objects.filter(pk=first.pk, sha256=first.sha256).exists()
    # Once the prefecture signs the new version too, it is signed; then the text is frozen.
    actions.do_record_signature(prefect, TODAY(), acting_user=world.liaison)
    actions.do_mark_signed(convention, acting_user=world.referent)
    assert protocol_in_force(world.tarascon)
    with pytest.raises(ValidationError, match="avenant"):
        actions.do_upload_document(convention, pdf_upload("v3"), acting_user=world.referent)
    assert convention.documents.count() == 2


# -- attack 3: one side terminates a signed protocol -----------------------------------------


def test_liaison_terminates_a_signed_protocol_with_reason_and_the_commune_is_told(
    world, as_user, settings, django_capture_on_commit_callbacks
):
    """Either party may leave a protocol (DESIGN.md: a termination records who, when and why
    and tells the other side); it is never silent and never touches the documents."""
    settings.SITE_URL = "https://cmer.example.fr"
    convention = sign_both_sides(world)
    documents = snapshot(convention)[6]
    mail.outbox.clear()
    client = as_user(world.liaison)
    url = reverse("conventions:terminate", args=[convention.pk])
    # No reason: refused, nothing changes, nobody is e-mailed.
    response = client.post(url, {"terminated_on": TODAY().isoformat(), "reason": " "})
    assert response.status_code == 400
    convention.refresh_from_db()
    assert convention.status == S.SIGNED
    assert mail.outbox == []

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url, {"terminated_on": TODAY().isoformat(), "reason": "Dénonciation par la préfecture"}
        )
    assert response.status_code == 302
    convention.refresh_from_db()
    assert convention.status == S.TERMINATED
    assert convention.terminated_by == world.liaison
    assert convention.terminated_side == Side.PREFECTURE
    assert convention.terminated_at is not None
    assert convention.termination_reason == "Dénonciation par la préfecture"
    assert snapshot(convention)[6] == documents
    assert not protocol_in_force(world.tarascon)
    # The commune side (its referent) is told; the e-mail names no commune and no reason.
    assert [m.to for m in mail.outbox] == [[world.referent.email]]
    body = mail.outbox[0].subject + mail.outbox[0].body
    assert "Tarascon" not in body and "Dénonciation" not in body
    assert f"https://cmer.example.fr{detail(convention)}" in body
    convention.refresh_from_db()
    assert convention.termination_notified_at is not None
    (entry,) = [
        e
        for e in AuditEntry.objects.filter(object_pk=str(convention.pk), event="change")
        if (e.additional_data or {}).get("status") == "terminated"
    ]
    assert entry.actor == world.liaison
    assert entry.additional_data == {"status": "terminated", "side": "prefecture"}
    # The page shows who terminated, when and why.
    page = as_user(world.referent).get(detail(convention)).content.decode()
    assert "Dénonciation par la préfecture" in page
    assert world.liaison.get_full_name() in page
    # Sent once, even if the task runs again, or runs again before it could mark it done
    # (each recipient is claimed per convention: cmer.outbox.effects).
    assert send_termination_notice(convention.pk) == 0
    Convention.objects.filter(pk=convention.pk).update(termination_notified_at=None)
    assert send_termination_notice(convention.pk) == 0
    assert len(mail.outbox) == 1


def test_commune_terminates_and_the_liaison_is_told(world, django_capture_on_commit_callbacks):
    convention = sign_both_sides(world)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        actions.do_terminate_convention(
            convention,
            reason="Fin de la cellule",
            terminated_on=TODAY(),
            acting_user=world.referent,
        )
    assert [m.to for m in mail.outbox] == [[world.liaison.email]]


def test_a_non_renewal_notice_is_told_to_the_other_party(world, django_capture_on_commit_callbacks):
    convention = ConventionFactory(
        commune=world.tarascon,
        signed=True,
        effective_date=datetime.date(2024, 1, 1),
        end_date=datetime.date(2024, 12, 31),
        duration_months=12,
        tacit_renewal=True,
    )
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        actions.do_record_non_renewal(convention, TODAY(), acting_user=world.referent)
    assert [m.to for m in mail.outbox] == [[world.liaison.email]]
    assert "Tarascon" not in mail.outbox[0].body
    assert send_non_renewal_notice(convention.pk, "commune") == 0  # once
    assert len(mail.outbox) == 1


# -- the page shows each side's status and only one's own buttons ----------------------------


def test_detail_page_shows_each_side_and_only_ones_own_buttons(world, as_user):
    convention = actions.do_create_convention(
        world.tarascon, protocol_data(), acting_user=world.referent
    )
    mayor = actions.do_add_signatory(
        convention, {"name": "Maire", "capacity": "mayor"}, acting_user=world.referent
    )
    prefect = actions.do_add_signatory(
        convention, {"name": "Préfet", "capacity": "prefect"}, acting_user=world.liaison
    )
    actions.do_request_signatures(convention, acting_user=world.referent)
    actions.do_upload_document(convention, pdf_upload(), acting_user=world.referent)
    actions.do_record_signature(mayor, TODAY(), acting_user=world.referent)

    def signature_urls(page: str) -> set[int]:
        return {
            s.pk
            for s in (mayor, prefect)
            if reverse("conventions:signature", args=[convention.pk, s.pk]) in page
        }

    referent_page = as_user(world.referent).get(detail(convention))
    content = referent_page.content.decode()
    assert signature_urls(content) == {mayor.pk}
    sides = {row["side"]: row for row in referent_page.context["sides"]}
    assert sides["commune"]["recorded"] and not sides["prefecture"]["recorded"]
    assert 'data-testid="side-commune"' in content and 'data-testid="side-prefecture"' in content
    assert world.referent.get_full_name() in content  # who recorded the commune's signature
    documents = content.split('data-testid="documents"')[1].split("</table>")[0]
    assert world.referent.get_full_name() in documents  # who uploaded each version
    liaison_page = as_user(world.liaison).get(detail(convention)).content.decode()
    assert signature_urls(liaison_page) == {prefect.pk}
    # The list says the same, side by side.
    listing = as_user(world.liaison).get(reverse("conventions:list")).content.decode()
    cell = listing.split(f'data-testid="sides-{convention.pk}">')[1].split("</td>")[0]
    assert cell == "Commune : signée<br>Préfecture : en attente"


# -- existing data -----------------------------------------------------------------------------


def test_migration_sends_old_signed_conventions_back_to_awaiting_signatures(world):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("conventions.migrations.0002_both_sides_sign")
    old = ConventionFactory(commune=world.tarascon, status=S.SIGNED, signed_at=timezone.now())
    SignatoryFactory(convention=old, side=Side.COMMUNE, capacity="mayor", signed_on=TODAY())
    prefect = SignatoryFactory(
        convention=old, side=Side.PREFECTURE, capacity="prefect", signed_on=TODAY()
    )
    by_liaison = ConventionFactory(
        commune=world.miramas, created_by=world.liaison, effective_date=datetime.date(2030, 1, 1)
    )
    migration.existing_data(apps, None)
    old.refresh_from_db()
    assert old.status == S.AWAITING_SIGNATURES and old.signed_at is None
    assert Signatory.objects.get(pk=prefect.pk).side == Side.PREFECTURE
    assert Signatory.objects.get(pk=prefect.pk).signed_on == TODAY()  # kept as a proposal
    by_liaison.refresh_from_db()
    assert by_liaison.created_side == Side.PREFECTURE
    assert not protocol_in_force(world.tarascon)
