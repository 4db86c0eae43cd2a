"""Convention lifecycle through the actions and the pages: transitions, dates, bad input."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from cmer.audit.models import AuditEntry
from conventions import actions
from conventions.models import Convention, Signatory, add_months

from .factories import ConventionFactory, SignatoryFactory, pdf_upload

S = Convention.Status


def at(day: datetime.date):
    return time_machine.travel(
        datetime.datetime.combine(day, datetime.time(10), tzinfo=datetime.UTC), tick=False
    )


def protocol_data(**overrides):
    data = {
        "kind": Convention.Kind.PROTOCOL,
        "title": "Protocole d'installation de la CMER",
        "reference": "PREF13-2026-01",
        "effective_date": datetime.date(2026, 1, 1),
        "duration_months": 36,
    }
    data.update(overrides)
    return data


def roles_held_since(day: datetime.date) -> None:
    """Tests that travel back in time need the personas' roles to be held then already."""
    from cmer.accounts.models import Membership

    Membership.objects.update(starts_on=day)


def test_full_lifecycle_with_dates(world):
    roles_held_since(datetime.date(2020, 1, 1))
    with at(datetime.date(2025, 12, 1)):
        convention = actions.do_create_convention(
            world.tarascon, protocol_data(), acting_user=world.referent
        )
        assert convention.end_date == datetime.date(2028, 12, 31)
        assert convention.state == S.DRAFT
        with pytest.raises(ValidationError, match="signataires"):
            actions.do_request_signatures(convention, acting_user=world.referent)
        prefect = actions.do_add_signatory(
            convention,
            {"name": "Préfet des Bouches-du-Rhône", "capacity": Signatory.Capacity.PREFECT},
            acting_user=world.liaison,
        )
        mayor = actions.do_add_signatory(
            convention, {"name": "Maire", "capacity": "mayor"}, acting_user=world.referent
        )
        convention = actions.do_request_signatures(convention, acting_user=world.referent)
        assert convention.state == S.AWAITING_SIGNATURES
    with at(datetime.date(2025, 12, 10)):
        with pytest.raises(ValidationError, match="PDF"):
            # A signature covers a precise version of the text: the PDF comes first.
            actions.do_record_signature(
                prefect, datetime.date(2025, 12, 9), acting_user=world.liaison
            )
        actions.do_upload_document(convention, pdf_upload(), acting_user=world.referent)
        actions.do_record_signature(prefect, datetime.date(2025, 12, 9), acting_user=world.liaison)
        with pytest.raises(ValidationError, match="commune"):
            actions.do_mark_signed(convention, acting_user=world.referent)
        actions.do_record_signature(mayor, datetime.date(2025, 12, 10), acting_user=world.referent)
        convention = actions.do_mark_signed(convention, acting_user=world.referent)
        assert convention.state == S.SIGNED  # not yet effective
        with pytest.raises(ValidationError):
            actions.do_add_signatory(
                convention, {"name": "X", "capacity": "other"}, acting_user=world.referent
            )
    assert convention.state_on(datetime.date(2025, 12, 31)) == S.SIGNED
    assert convention.state_on(datetime.date(2026, 1, 1)) == S.IN_FORCE
    assert convention.state_on(datetime.date(2028, 12, 31)) == S.IN_FORCE
    assert convention.state_on(datetime.date(2029, 1, 1)) == S.EXPIRED
    with at(datetime.date(2029, 1, 1)):
        assert Convention.objects.get(pk=convention.pk).state == S.EXPIRED
    events = AuditEntry.objects.filter(object_pk=str(convention.pk), event="change")
    assert any((e.additional_data or {}).get("status") == S.SIGNED for e in events)


def test_termination_needs_a_reason_and_ends_it(world):
    convention = ConventionFactory(
        commune=world.tarascon,
        signed=True,
        effective_date=datetime.date(2026, 1, 1),
        end_date=datetime.date(2028, 12, 31),
    )
    with pytest.raises(ValidationError, match="motif"):
        actions.do_terminate_convention(
            convention,
            reason=" ",
            terminated_on=datetime.date(2027, 1, 1),
            acting_user=world.liaison,
        )
    convention = actions.do_terminate_convention(
        convention,
        reason="Dissolution de la cellule",
        terminated_on=datetime.date(2027, 1, 1),
        acting_user=world.liaison,
    )
    assert convention.state_on(datetime.date(2026, 12, 31)) == S.IN_FORCE
    assert convention.state_on(datetime.date(2027, 1, 1)) == S.TERMINATED
    entry = AuditEntry.objects.filter(object_pk=str(convention.pk)).latest("pk")
    assert "Dissolution" not in str(entry.additional_data)
    assert "Dissolution" not in str(entry.changes)


def test_tacit_renewal_and_notice(world):
    convention = ConventionFactory(
        commune=world.tarascon,
        signed=True,
        effective_date=datetime.date(2026, 1, 1),
        end_date=datetime.date(2026, 12, 31),
        duration_months=12,
        tacit_renewal=True,
        notice_period_days=90,
    )
    assert convention.period_end_on(datetime.date(2027, 3, 1)) == datetime.date(2027, 12, 31)
    assert convention.notice_deadline_on(datetime.date(2027, 3, 1)) == datetime.date(2027, 10, 2)
    # Notice given in time: it ends with the running period.
    actions.do_record_non_renewal(convention, datetime.date(2027, 3, 1), acting_user=world.liaison)
    convention.refresh_from_db()
    assert convention.end_date == datetime.date(2027, 12, 31)
    assert convention.state_on(datetime.date(2028, 1, 1)) == S.EXPIRED


def test_late_notice_takes_effect_one_period_later(world):
    convention = ConventionFactory(
        commune=world.tarascon,
        signed=True,
        effective_date=datetime.date(2026, 1, 1),
        end_date=datetime.date(2026, 12, 31),
        duration_months=12,
        tacit_renewal=True,
        notice_period_days=90,
    )
    actions.do_record_non_renewal(convention, datetime.date(2026, 12, 1), acting_user=world.liaison)
    convention.refresh_from_db()
    assert convention.end_date == datetime.date(2027, 12, 31)


def test_add_months_keeps_month_ends():
    assert add_months(datetime.date(2026, 1, 31), 1) == datetime.date(2026, 2, 28)
    assert add_months(datetime.date(2026, 11, 30), 3) == datetime.date(2027, 2, 28)


def test_renewal_and_amendment_link_to_their_convention(world):
    protocol = ConventionFactory(
        commune=world.tarascon,
        signed=True,
        effective_date=datetime.date(2023, 1, 1),
        end_date=datetime.date(2025, 12, 31),
    )
    renewal = actions.do_create_convention(
        world.tarascon,
        protocol_data(kind=Convention.Kind.RENEWAL, parent=protocol),
        acting_user=world.referent,
    )
    amendment = actions.do_create_convention(
        world.tarascon,
        {
            "kind": Convention.Kind.AMENDMENT,
            "parent": protocol,
            "title": "Avenant n° 1",
            "effective_date": datetime.date(2024, 6, 1),
        },
        acting_user=world.referent,
    )
    assert set(protocol.children.all()) == {renewal, amendment}
    with pytest.raises(ValidationError, match="autre commune"):
        actions.do_create_convention(
            world.miramas,
            protocol_data(kind=Convention.Kind.RENEWAL, parent=protocol),
            acting_user=world.liaison,
        )


# -- bad input through the pages: clear message, nothing saved --------------------------------


def post_form(client, **fields):
    data = {
        "commune": fields.pop("commune"),
        "kind": "protocol",
        "title": "Protocole",
        "reference": "",
        "effective_date": "2026-01-01",
        "end_date": "",
        "duration_months": "",
        "renewal_months": "",
        "notice_period_days": "",
    }
    data.update(fields)
    return client.post(reverse("conventions:create"), data)


def test_create_through_the_page(world, as_user):
    response = post_form(as_user(world.referent), commune=world.tarascon.pk, end_date="2028-12-31")
    assert response.status_code == 302
    convention = Convention.objects.get()
    assert response["Location"] == reverse("conventions:detail", args=[convention.pk])
    assert convention.created_by == world.referent
    assert convention.status == S.DRAFT


def test_end_date_before_effective_date(world, as_user):
    response = post_form(as_user(world.referent), commune=world.tarascon.pk, end_date="2025-12-31")
    assert response.status_code == 400
    assert "La date de fin ne peut précéder la date d&#x27;effet." in response.content.decode()
    assert not Convention.objects.exists()


def test_missing_end_and_duration(world, as_user):
    response = post_form(as_user(world.referent), commune=world.tarascon.pk)
    assert response.status_code == 400
    assert "date de fin ou une durée" in response.content.decode()
    assert not Convention.objects.exists()


def test_referent_cannot_create_for_another_commune(world, as_user):
    response = post_form(as_user(world.referent), commune=world.miramas.pk, duration_months="36")
    assert response.status_code == 400
    assert not Convention.objects.exists()


def test_second_convention_in_force_for_the_same_period(world, as_user):
    existing = ConventionFactory(
        commune=world.tarascon,
        signed=True,
        effective_date=datetime.date(2025, 1, 1),
        end_date=datetime.date(2027, 12, 31),
    )
    response = post_form(as_user(world.liaison), commune=world.tarascon.pk, duration_months="36")
    assert response.status_code == 400
    assert "couvre déjà cette période" in response.content.decode()
    assert list(Convention.objects.all()) == [existing]
    # Another commune, or a period after the end, is fine.
    assert (
        post_form(
            as_user(world.liaison), commune=world.miramas.pk, duration_months="36"
        ).status_code
        == 302
    )
    assert (
        post_form(
            as_user(world.liaison),
            commune=world.tarascon.pk,
            effective_date="2028-01-01",
            duration_months="36",
        ).status_code
        == 302
    )


def test_terminated_convention_frees_the_period(world):
    old = ConventionFactory(
        commune=world.tarascon,
        signed=True,
        effective_date=datetime.date(2025, 1, 1),
        end_date=datetime.date(2027, 12, 31),
    )
    actions.do_terminate_convention(
        old,
        reason="Nouveau protocole",
        terminated_on=datetime.date(2026, 1, 1),
        acting_user=world.liaison,
    )
    actions.do_create_convention(world.tarascon, protocol_data(), acting_user=world.liaison)


def test_tacitly_renewing_convention_blocks_a_new_one(world):
    ConventionFactory(
        commune=world.tarascon,
        signed=True,
        effective_date=datetime.date(2020, 1, 1),
        end_date=datetime.date(2020, 12, 31),
        duration_months=12,
        tacit_renewal=True,
    )
    with pytest.raises(ValidationError, match="non-reconduction"):
        actions.do_create_convention(world.tarascon, protocol_data(), acting_user=world.liaison)


def test_signature_date_before_drafting_is_refused(world, as_user):
    today = timezone.localdate()
    convention = ConventionFactory(commune=world.tarascon, status=S.AWAITING_SIGNATURES)
    signatory = SignatoryFactory(convention=convention)
    actions.do_upload_document(convention, pdf_upload(), acting_user=world.liaison)
    client = as_user(world.referent)
    url = reverse("conventions:signature", args=[convention.pk, signatory.pk])
    response = client.post(url, {"signed_on": str(today - datetime.timedelta(days=1))})
    assert response.status_code == 400
    assert "ne peut précéder la rédaction" in response.content.decode()
    signatory.refresh_from_db()
    assert signatory.signed_on is None
    response = client.post(url, {"signed_on": str(today + datetime.timedelta(days=1))})
    assert response.status_code == 400
    assert "futur" in response.content.decode()
    assert client.post(url, {"signed_on": str(today)}).status_code == 302
    signatory.refresh_from_db()
    assert signatory.signed_on == today


def test_signed_convention_cannot_be_edited(world, as_user):
    convention = ConventionFactory(commune=world.tarascon, signed=True)
    response = as_user(world.referent).get(reverse("conventions:edit", args=[convention.pk]))
    assert response.status_code == 302


def test_page_transitions(world, as_user):
    convention = ConventionFactory(commune=world.tarascon)
    client = as_user(world.referent)
    response = client.post(
        reverse("conventions:signatory_add", args=[convention.pk]),
        {"name": "Maire de Tarascon", "capacity": "mayor", "capacity_detail": ""},
    )
    assert response.status_code == 302
    client.post(reverse("conventions:request_signatures", args=[convention.pk]))
    convention.refresh_from_db()
    assert convention.status == S.AWAITING_SIGNATURES
    page = client.get(reverse("conventions:detail", args=[convention.pk]))
    assert page.status_code == 200
    assert "Maire de Tarascon" in page.content.decode()
    response = client.post(
        reverse("conventions:terminate", args=[convention.pk]),
        {"terminated_on": "", "reason": ""},
    )
    assert response.status_code == 400
    convention.refresh_from_db()
    assert convention.status == S.AWAITING_SIGNATURES
