"""Lifting a legal hold before its end (the judicial request is over): only the DPO of the
referral's department, with a reason, POST only; recorded in the trail without the reason; the
referral is subject to the rules again at the next run and its certificate no longer lists it as
held. A refused lift changes nothing."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.utils import timezone

from cases.models import LegalHold, Referral
from cmer.accounts.models import Role
from cmer.audit.models import AuditEntry
from cmer.retention import runner
from tests.conftest import make_user

from .helpers import at, closed

pytestmark = pytest.mark.django_db

REASON = "Fin de la procédure Dupont, courrier du parquet"


def a_hold(world, *, until: datetime.date | None = None) -> LegalHold:
    # Closed on 15 March 2026: its archive ends on 15 March 2029.
    referral = closed(world, at(2026, 3, 15))
    return LegalHold.objects.create(
        referral=referral,
        reason="Réquisition du parquet",
        until=until or datetime.date(2030, 1, 1),
        placed_by=world.dpo,
    )


def lift_url(hold: LegalHold) -> str:
    return f"/conservation/gels/{hold.pk}/lever/"


def snapshot(hold: LegalHold) -> dict:
    return LegalHold.objects.filter(pk=hold.pk).values().get()


def test_the_dpo_lifts_a_hold_and_the_referral_goes_at_the_next_run(as_user, world):
    hold = a_hold(world)
    referral = hold.referral
    with time_machine.travel(at(2029, 4, 1), tick=False):
        assert [item.label for item in runner.plan(timezone.localdate()).held] == [
            referral.reference
        ]
    client = as_user(world.dpo)
    page = client.get("/conservation/").content.decode()
    holds = page.split('data-testid="holds"')[1].split("</ul>")[0]
    assert lift_url(hold) in holds and f'id="lift{hold.pk}_reason"' in holds
    response = client.post(lift_url(hold), {"reason": REASON})
    assert response.status_code == 302
    hold.refresh_from_db()
    assert hold.lifted_by == world.dpo and hold.lifted_at is not None
    assert hold.lift_reason == REASON
    # The trail says the hold was lifted (named by the referral's reference), never why.
    entry = AuditEntry.objects.filter(object_repr=referral.reference, changes__contains="lifted_at")
    assert entry.count() == 1
    assert "Dupont" not in str(entry.get().changes) and "parquet" not in str(entry.get().changes)
    page = client.get("/conservation/").content.decode()
    assert referral.reference not in page.split('data-testid="holds"')[1].split("</ul>")[0]
    # Subject to the rules again: the next run anonymises it, the certificate holds no hold.
    with time_machine.travel(at(2029, 4, 1), tick=False):
        outcome = runner.apply()
    assert outcome.run.results["archive"]["items"] == [referral.reference]
    assert outcome.run.held == []
    assert "held count=0 items=\n" in outcome.run.text + "\n"
    referral.refresh_from_db()
    assert referral.anonymised_at is not None and referral.surname == ""
    hold.refresh_from_db()
    assert hold.lift_reason == "" and hold.reason == ""  # erased with the referral


def test_another_hold_on_the_same_referral_still_holds_it(as_user, world):
    hold = a_hold(world)
    LegalHold.objects.create(
        referral=hold.referral,
        reason="Seconde réquisition",
        until=datetime.date(2029, 12, 31),
        placed_by=world.dpo,
    )
    assert as_user(world.dpo).post(lift_url(hold), {"reason": REASON}).status_code == 302
    with time_machine.travel(at(2029, 4, 1), tick=False):
        outcome = runner.apply()
    assert outcome.run.held == [hold.referral.reference]
    assert outcome.run.results["archive"]["count"] == 0


@pytest.mark.parametrize(
    "persona", ("referent", "member", "agent", "liaison", "coordinator", "admin", "other_referent")
)
def test_nobody_but_the_dpo_lifts_a_hold(as_user, world, persona):
    hold = a_hold(world)
    before = snapshot(hold)
    response = as_user(getattr(world, persona)).post(lift_url(hold), {"reason": REASON})
    assert response.status_code == 404
    assert snapshot(hold) == before


def test_the_dpo_of_another_department_gets_404(as_user, world):
    hold = a_hold(world)
    before = snapshot(hold)
    other_dpo = make_user("dpo@pref30.test", Role.DPO, department=world.other_department)
    client = as_user(other_dpo)
    assert client.post(lift_url(hold), {"reason": REASON}).status_code == 404
    assert snapshot(hold) == before
    # The denial is in the trail (an existing object refused), like every other 404 of the kind.
    assert AuditEntry.objects.filter(event="denied", object_pk=str(hold.pk)).exists()


def test_a_guessed_id_is_404_and_get_changes_nothing(client, as_user, world):
    hold = a_hold(world)
    before = snapshot(hold)
    dpo = as_user(world.dpo)
    assert (
        dpo.post(f"/conservation/gels/{hold.pk + 1000}/lever/", {"reason": REASON}).status_code
        == 404
    )
    assert dpo.get(lift_url(hold), {"reason": REASON}).status_code == 405
    assert client.post(lift_url(hold), {"reason": REASON}).status_code == 302  # to the login
    assert snapshot(hold) == before


@pytest.mark.parametrize("reason", ["", "   ", "court"])
def test_a_lift_without_a_reason_is_refused_and_nothing_changes(as_user, world, reason):
    hold = a_hold(world)
    before = snapshot(hold)
    client = as_user(world.dpo)
    entries = AuditEntry.objects.count()
    response = client.post(lift_url(hold), {"reason": reason})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Indiquez le motif de la levée" in html or "Ce champ est obligatoire" in html
    # The refused form is shown again, open, under its hold.
    assert f'id="lift{hold.pk}_reason"' in html and "<details open" in html
    assert snapshot(hold) == before
    assert AuditEntry.objects.count() == entries


def test_an_ended_or_lifted_hold_is_not_lifted_again(as_user, world):
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    ended = a_hold(world, until=yesterday)
    client = as_user(world.dpo)
    before = snapshot(ended)
    response = client.post(lift_url(ended), {"reason": REASON})
    assert response.status_code == 400 and "a déjà pris fin" in response.content.decode()
    assert snapshot(ended) == before

    running = a_hold(world)
    assert client.post(lift_url(running), {"reason": REASON}).status_code == 302
    lifted = snapshot(running)
    entries = AuditEntry.objects.count()
    response = client.post(lift_url(running), {"reason": "Une autre raison, plus tard"})
    assert response.status_code == 400 and "déjà été levé" in response.content.decode()
    assert snapshot(running) == lifted
    assert AuditEntry.objects.count() == entries


def test_a_hold_is_never_changed_but_by_its_lift(world):
    from django.core.exceptions import ValidationError

    hold = a_hold(world)
    hold.until = datetime.date(2035, 1, 1)
    with pytest.raises(ValidationError):
        hold.save()
    with pytest.raises(ValidationError):
        hold.save(update_fields=["until"])
    assert Referral.objects.count() == 1
