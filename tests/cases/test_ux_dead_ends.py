"""Issue 16, dead ends and traps on referral pages: archive links, transmission offered only
where it can happen, no blank draft, filing confirmed after validation, DSFR errors in place,
"who accessed" grouped and paginated, shared items in words."""

from __future__ import annotations

import pytest

from cases import actions
from cases.models import Referral, ReferralUserObjectPermission
from tests.cases.helpers import file_referral, form_data

pytestmark = pytest.mark.django_db

CREATE = "/signalements/nouveau/"


def _closed(world) -> Referral:
    referral = file_referral(world.agent, world.tarascon)
    actions.do_change_status(
        referral,
        to_status=Referral.Status.CLOSED,
        acting_user=world.referent,
        close_reason="no_further_action",
    )
    return referral


def test_the_archive_list_links_the_archive_page_that_answers(as_user, world):
    referral = _closed(world)
    actions.do_archive_referral(referral, acting_user=world.referent)
    client = as_user(world.referent)
    page = client.get("/signalements/archives/").content.decode()
    assert f'href="/signalements/{referral.pk}/archive/"' in page
    assert f'href="/signalements/{referral.pk}/"' not in page
    assert client.get(f"/signalements/{referral.pk}/archive/").status_code == 200


@pytest.mark.parametrize("status", ["submitted", "closed"])
def test_transmission_is_not_offered_where_it_cannot_happen(as_user, world, status):
    referral = _closed(world) if status == "closed" else file_referral(world.agent, world.tarascon)
    page = as_user(world.referent).get(f"/signalements/{referral.pk}/").content.decode()
    assert f"/signalements/{referral.pk}/transmission/" not in page
    assert "Passez d'abord" not in page
    if status == "submitted":
        assert 'data-testid="transmit-later"' in page


def test_an_assessed_referral_without_protocol_says_why_without_a_dead_link(as_user, world):
    referral = file_referral(world.agent, world.tarascon)
    actions.do_change_status(
        referral, to_status=Referral.Status.IN_ASSESSMENT, acting_user=world.referent
    )
    page = as_user(world.referent).get(f"/signalements/{referral.pk}/").content.decode()
    assert 'data-testid="transmit-blocked"' in page
    assert "protocole" in page
    assert f"/signalements/{referral.pk}/transmission/" not in page


def test_an_empty_draft_is_not_created(as_user, world):
    blank = {"age_group": "unknown", "urgency": "normal", "save": "1"}
    response = as_user(world.agent).post(CREATE, blank)
    assert response.status_code == 200
    assert "Le brouillon est vide" in response.content.decode()
    assert not Referral.objects.exists()


def test_filing_asks_for_confirmation_only_after_validation(as_user, world):
    client = as_user(world.agent)
    data = form_data(submit="1", facts="", source="")
    del data["confirmed"]
    response = client.post(CREATE, data)
    page = response.content.decode()
    assert response.status_code == 200 and not Referral.objects.exists()
    assert 'data-testid="error-summary"' in page and "data-cmer-focus" in page
    assert 'href="#id_facts"' in page and 'href="#id_source"' in page
    assert 'data-testid="submit-confirmation"' not in page
    # Complete: saved as a draft, then the confirmation; filed only once confirmed.
    data = form_data(submit="1")
    del data["confirmed"]
    response = client.post(CREATE, data)
    draft = Referral.objects.get()
    assert draft.status == Referral.Status.DRAFT
    assert response["Location"] == f"/signalements/{draft.pk}/brouillon/?confirmer=1"
    page = client.get(f"/signalements/{draft.pk}/brouillon/?confirmer=1").content.decode()
    assert 'data-testid="submit-confirmation"' in page
    client.post(f"/signalements/{draft.pk}/brouillon/", form_data(submit="1"))
    draft.refresh_from_db()
    assert draft.status == Referral.Status.SUBMITTED


def test_the_facts_and_origin_carry_the_required_marker(as_user, world):
    page = as_user(world.agent).get(CREATE).content.decode()
    label = page.split('for="id_facts"')[1].split("</label>")[0]
    assert 'fr-required-marker" aria-hidden="true"> *' in label
    assert "Obligatoire pour déposer" in label
    assert 'for="id_source"' in page and page.count("fr-required-marker") >= 2


def test_a_bad_grant_or_revoke_shows_dsfr_errors_in_place_and_writes_nothing(as_user, world):
    referral = file_referral(world.agent, world.tarascon)
    client = as_user(world.referent)
    response = client.post(f"/signalements/{referral.pk}/acces/", {"member": world.member.pk})
    page = response.content.decode()
    assert response.status_code == 400
    assert 'data-testid="error-summary"' in page and "fr-input-group--error" in page
    assert not ReferralUserObjectPermission.objects.exists()
    import datetime

    from django.utils import timezone

    actions.do_grant_access(
        referral,
        member=world.member,
        contribute=False,
        reason="Suivi éducatif",
        expires_on=timezone.localdate() + datetime.timedelta(days=30),
        acting_user=world.referent,
    )
    grant = ReferralUserObjectPermission.objects.get()
    page = client.get(f"/signalements/{referral.pk}/").content.decode()
    # The revoke reason has a real label, the form no browser bubble, the button a confirmation.
    assert f'<label for="revoke{grant.pk}_reason"' in page.replace('class="fr-label" ', "") or (
        f'for="revoke{grant.pk}_reason"' in page
    )
    assert "placeholder=" not in page.split(f"/acces/{grant.pk}/retrait/")[1].split("</form>")[0]
    assert "Retirer l&#x27;accès de" in page or "Retirer l'accès de" in page
    response = client.post(f"/signalements/{referral.pk}/acces/{grant.pk}/retrait/", {"reason": ""})
    assert response.status_code == 400
    assert 'data-testid="error-summary"' in response.content.decode()
    assert ReferralUserObjectPermission.objects.filter(pk=grant.pk).exists()


def test_shared_items_are_named_in_words(as_user, world):
    from cases.models import Transmission

    referral = file_referral(world.agent, world.tarascon)
    Transmission.objects.create(
        referral=referral,
        transmitted_by=world.referent,
        shared_items=["identity", "facts"],
        reason="Menaces",
    )
    page = as_user(world.referent).get(f"/signalements/{referral.pk}/").content.decode()
    assert "Identité de la personne, Faits observés" in page
    assert "identity, facts" not in page


def test_who_accessed_is_grouped_per_person_and_kind_and_paginated(
    as_user, world, django_assert_max_num_queries
):
    referral = file_referral(world.agent, world.tarascon)
    client = as_user(world.referent)
    for _ in range(5):
        client.get(f"/signalements/{referral.pk}/")
    page = client.get(f"/signalements/{referral.pk}/").content.decode()
    log = page.split('data-testid="access-log"')[1].split("</ul>")[0]
    reads = [line for line in log.split("<li>") if world.referent.email in line]
    assert len(reads) == 1  # six reads by the referent: one line
    assert "6 fois" in reads[0] and "consultation de la fiche" in reads[0]
    assert "(detail)" not in page
    # Many people: pages of 20 lines.
    from cmer.audit.core import record_event
    from cmer.audit.models import Event
    from tests.factories import UserFactory

    for index in range(25):
        someone = UserFactory(email=f"reader{index}@tarascon.test")
        record_event(Event.ACCESS, actor=someone, target=referral, data={"what": "detail"})
    page = client.get(f"/signalements/{referral.pk}/").content.decode()
    log = page.split('data-testid="access-log"')[1].split("</ul>")[0]
    assert log.count("<li>") == 20
    assert "?consultations=2#consultations" in page
    second = client.get(f"/signalements/{referral.pk}/?consultations=2").content.decode()
    total = second.split('data-testid="access-log"')[1].split("</ul>")[0].count("<li>") + 20
    assert total >= 26  # the 25 readers and the referent, at least
