"""Information from the State not linked to a referral (a municipal employee, a person the social
services support): its own rule, with frozen time. Sent: erased (every encrypted field) at the
end of the intermediate archive counted from its receipt; never sent: deleted like a forgotten
draft. In the dry run, the run's counts, the certificate, the DPO's page and the register."""

from __future__ import annotations

import datetime

import pytest
import time_machine

from cases import actions
from cases.models import StateInformation
from cases.retention import encrypted_field_names
from cmer.audit.models import AuditEntry, Event
from cmer.retention import runner
from cmer.retention.rules import Rule

from .helpers import at, closed

pytestmark = pytest.mark.django_db

AGREEMENTS = {
    "prosecutor_agreement_by": "Substitut Martin",
    "prosecutor_agreed_on": datetime.date(2026, 3, 1),
    "services_agreement_by": "DDSP",
    "services_agreed_on": datetime.date(2026, 3, 2),
}


def information(
    world, when: datetime.datetime, *, send: bool = True, referral=None, commune=None
) -> StateInformation:
    with time_machine.travel(when, tick=False):
        info = actions.do_create_state_information(
            {
                "commune": commune or world.tarascon,
                "case": StateInformation.Case.EMPLOYEE,
                "person": "Jeanne Dupont, agent des espaces verts",
                "content": "Signalée par la DGSI pour propos violents",
                **AGREEMENTS,
            },
            referral=referral,
            acting_user=world.liaison,
        )
        if send:
            info = actions.do_send_state_information(info, acting_user=world.liaison)
    return info


def run(when: datetime.datetime, *, dry_run: bool = False) -> runner.Outcome:
    with time_machine.travel(when, tick=False):
        return runner.apply(dry_run=dry_run)


def label(info: StateInformation) -> str:
    return f"information-{info.pk}"


def test_sent_information_is_erased_at_the_end_of_the_archive_from_its_receipt(world):
    info = information(world, at(2026, 3, 15))
    assert run(at(2029, 3, 14)).run.results["state_info"]["count"] == 0
    info.refresh_from_db()
    assert info.content and info.person
    outcome = run(at(2029, 3, 15))
    assert outcome.run.results["state_info"]["items"] == [label(info)]
    info.refresh_from_db()
    # Every encrypted field, found by type (a new one is covered without anyone remembering).
    names = encrypted_field_names(StateInformation)
    assert {"person", "content"} <= set(names)
    assert {name: getattr(info, name) for name in names} == dict.fromkeys(names, "")
    # What was shared, on whose agreement, when, by whom, with whom: kept.
    assert info.case == StateInformation.Case.EMPLOYEE and info.commune == world.tarascon
    assert info.status == StateInformation.Status.SENT and info.author == world.liaison
    assert info.prosecutor_agreement_by == "Substitut Martin"
    assert info.sent_at is not None


def test_the_clock_starts_at_receipt_not_at_the_draft(world):
    with time_machine.travel(at(2026, 3, 1), tick=False):
        info = actions.do_create_state_information(
            {
                "commune": world.tarascon,
                "case": StateInformation.Case.SOCIAL_SERVICES,
                "person": "Jeanne Dupont",
                "content": "Suivie par le parquet",
                **AGREEMENTS,
            },
            referral=None,
            acting_user=world.liaison,
        )
    with time_machine.travel(at(2026, 3, 20), tick=False):
        actions.do_send_state_information(info, acting_user=world.liaison)
    assert run(at(2029, 3, 19)).run.results["state_info"]["count"] == 0
    assert run(at(2029, 3, 20)).run.results["state_info"]["items"] == [label(info)]


def test_a_draft_never_sent_is_deleted_like_a_forgotten_referral_draft(world):
    draft = information(world, at(2026, 1, 1), send=False)
    sent = information(world, at(2026, 1, 1))
    assert run(at(2026, 1, 30)).run.results["state_info"]["count"] == 0
    assert StateInformation.objects.filter(pk=draft.pk).exists()
    outcome = run(at(2026, 1, 31))
    assert outcome.run.results["state_info"]["items"] == [label(draft)]
    assert outcome.run.results["state_info"]["records"] == 1
    assert not StateInformation.objects.filter(pk=draft.pk).exists()
    sent.refresh_from_db()
    assert sent.content  # received: kept for its archive period


def test_information_linked_to_a_referral_follows_the_referral(world):
    referral = closed(world, at(2027, 3, 15))
    linked = information(world, at(2026, 3, 15), referral=referral)
    outcome = run(at(2029, 6, 1))
    assert outcome.run.results["state_info"]["count"] == 0
    linked.refresh_from_db()
    assert linked.content  # erased with its referral, in 2030 (tests/retention/test_anonymisation)


def test_running_twice_changes_nothing_more(world):
    info = information(world, at(2026, 3, 15))
    first = run(at(2029, 4, 1))
    assert first.run.results["state_info"]["count"] == 1
    snapshot = StateInformation.objects.filter(pk=info.pk).values().get()
    second = run(at(2029, 4, 1, 11))
    assert second.run.results["state_info"]["count"] == 0
    assert StateInformation.objects.filter(pk=info.pk).values().get() == snapshot
    assert run(at(2031, 1, 1), dry_run=True).plan.counts()["state_info"] == 0


def test_the_dry_run_counts_it_and_changes_nothing(world):
    info = information(world, at(2026, 3, 15))
    draft = information(world, at(2029, 2, 1), send=False)
    outcome = run(at(2029, 4, 1), dry_run=True)
    assert outcome.plan.counts()["state_info"] == 2
    assert sorted(item.label for item in outcome.plan.items[Rule.STATE_INFO]) == sorted(
        [label(info), label(draft)]
    )
    info.refresh_from_db()
    assert info.content and StateInformation.objects.filter(pk=draft.pk).exists()


def test_the_run_certificate_and_trail_count_it_without_a_name(world):
    info = information(world, at(2026, 3, 15))
    outcome = run(at(2029, 4, 1))
    assert f"rule=state_info count=1 records=0 files=0 items={label(info)}" in outcome.run.text
    entry = AuditEntry.objects.get(event=Event.RETENTION)
    assert entry.additional_data["counts"]["state_info"] == 1
    assert "Dupont" not in outcome.run.text and "Dupont" not in str(entry.additional_data)


def test_the_dpo_sees_the_rule_and_what_goes_soon_in_their_department_only(as_user, world):
    from cmer.accounts.models import Role
    from tests.conftest import make_user

    # Received 20 December 2023 (before the memberships of the test: made directly).
    info = StateInformation.objects.create(
        commune=world.tarascon,
        author=world.liaison,
        case=StateInformation.Case.EMPLOYEE,
        person="Jeanne Dupont",
        content="Propos violents",
        status=StateInformation.Status.SENT,
        sent_at=at(2023, 12, 20),
        **AGREEMENTS,
    )
    with time_machine.travel(at(2026, 12, 1), tick=False):
        dpo = as_user(world.dpo)
        html = dpo.get("/conservation/").content.decode()
        register = dpo.get("/registre/").content.decode()
        other_dpo = make_user("dpo@pref30.test", Role.DPO, department=world.other_department)
        other = as_user(other_dpo).get("/conservation/").content.decode()
    rules = html.split('data-testid="rules"')[1].split("</table>")[0]
    assert "Informations de l&#x27;État sans signalement lié" in rules
    upcoming = html.split('data-testid="upcoming"')[1].split("</table>")[0]
    assert f"{label(info)} (20/12/2026)" in upcoming
    assert "Dupont" not in html
    assert label(info) not in other
    retention = register.split('data-testid="retention"')[1].split("</table>")[0]
    assert "Informations de l&#x27;État sans signalement lié" in retention
