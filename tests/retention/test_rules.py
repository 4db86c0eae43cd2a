"""Each retention rule with frozen time: drafts, archive → anonymisation, the 25th birthday on and
off, legal hold, training and convention periods; idempotence."""

from __future__ import annotations

import datetime

import pytest
import time_machine

from cases.models import LegalHold, Referral
from cases.retention import age_limit_day
from cmer.retention import runner
from cmer.retention.models import AgeRuleChange
from cmer.retention.rules import Rule
from tests.cases.helpers import PDF_BYTES, file_referral

from .helpers import at, closed

pytestmark = pytest.mark.django_db


def run(when: datetime.datetime, *, dry_run: bool = False) -> runner.Outcome:
    with time_machine.travel(when, tick=False):
        return runner.apply(dry_run=dry_run)


def counts(outcome: runner.Outcome) -> dict[str, int]:
    return {rule: data["count"] for rule, data in outcome.run.results.items()}


def test_a_draft_never_submitted_goes_30_days_after_its_last_change(world, private_storage):
    with time_machine.travel(at(2026, 1, 1), tick=False):
        draft = file_referral(
            world.agent,
            world.tarascon,
            submit=False,
            attachments=[("note.pdf", "application/pdf", PDF_BYTES)],
        )
    stored = private_storage / "attachments" / draft.attachments.get().stored_name
    assert stored.exists()
    submitted = closed(world, at(2026, 1, 1))
    # Day 30 after the last change: still there; day 31: gone, with its file.
    assert run(at(2026, 1, 30)).run.results["draft"]["count"] == 0
    assert Referral.objects.filter(pk=draft.pk).exists()
    outcome = run(at(2026, 1, 31))
    assert outcome.run.results["draft"]["items"] == [f"brouillon-{draft.pk}"]
    assert outcome.run.results["draft"]["files"] == 1
    assert not Referral.objects.filter(pk=draft.pk).exists()
    assert not stored.exists()
    assert Referral.objects.filter(pk=submitted.pk).exists()


def test_the_archive_ends_three_years_after_archiving(world):
    referral = closed(world, at(2026, 3, 15))
    dry = run(at(2029, 3, 14), dry_run=True)
    assert dry.plan.counts()["archive"] == 0
    assert run(at(2029, 3, 14)).run.results["archive"]["count"] == 0
    referral.refresh_from_db()
    assert referral.anonymised_at is None and referral.surname == "Dupont"
    outcome = run(at(2029, 3, 15))
    assert outcome.run.results["archive"]["items"] == [referral.reference]
    referral.refresh_from_db()
    assert referral.anonymised_at is not None and referral.surname == ""


def test_a_closed_referral_nobody_archived_counts_from_its_closing(world, settings):
    settings.RETENTION_ARCHIVE_YEARS = 1
    referral = closed(world, at(2026, 3, 15), archive=False)
    assert run(at(2027, 3, 15)).run.results["archive"]["items"] == [referral.reference]


def test_the_25th_birthday_rule_on_and_off(world):
    # Born 10 January 2002: 25 on 10 January 2027, long before the archive ends.
    young = closed(world, at(2026, 6, 1), birth_date=datetime.date(2002, 1, 10))
    active = file_referral(world.agent, world.tarascon, birth_date=datetime.date(2002, 1, 11))
    AgeRuleChange.objects.create(enabled=False, reason="Délibération de test", changed_by=world.dpo)
    assert run(at(2027, 1, 20)).run.results["age_limit"]["count"] == 0
    AgeRuleChange.objects.create(enabled=True, reason="Délibération de test", changed_by=world.dpo)
    assert run(at(2027, 1, 9)).run.results["age_limit"]["count"] == 0
    outcome = run(at(2027, 1, 10))
    assert outcome.run.results["age_limit"]["items"] == [young.reference]
    # Whatever its status: the referral still followed goes the next day.
    assert run(at(2027, 1, 11)).run.results["age_limit"]["items"] == [active.reference]


def test_the_age_rule_default_comes_from_settings(world, settings):
    settings.RETENTION_AGE_RULE = False
    closed(world, at(2026, 6, 1), birth_date=datetime.date(2002, 1, 10))
    assert run(at(2027, 2, 1)).run.results["age_limit"]["count"] == 0


def test_an_approximate_age_counts_from_the_earliest_possible_birthday():
    filed = datetime.date(2026, 6, 1)
    # 20 at filing: 25 at the latest on 1 June 2031, at the earliest on 2 June 2030.
    assert age_limit_day("", "20", filed, 25) == datetime.date(2030, 6, 2)
    assert age_limit_day("", "30", filed, 25) == filed
    assert age_limit_day("", "", filed, 25) is None
    assert age_limit_day("2008-05-17", "", filed, 25) == datetime.date(2033, 5, 17)


def test_a_legal_hold_skips_the_referral_until_its_end(world):
    referral = closed(world, at(2026, 3, 15))
    other = closed(world, at(2026, 3, 15))
    LegalHold.objects.create(
        referral=referral,
        reason="Réquisition du parquet",
        until=datetime.date(2029, 6, 30),
        placed_by=world.dpo,
    )
    outcome = run(at(2029, 4, 1))
    assert outcome.run.results["archive"]["items"] == [other.reference]
    assert outcome.run.held == [referral.reference]
    assert f"held count=1 items={referral.reference}" in outcome.run.text
    referral.refresh_from_db()
    assert referral.anonymised_at is None and referral.surname == "Dupont"
    # The hold ends on 30 June (inclusive): anonymised on 1 July, its reason with the rest.
    assert run(at(2029, 6, 30)).run.held == [referral.reference]
    outcome = run(at(2029, 7, 1))
    assert outcome.run.results["archive"]["items"] == [referral.reference]
    assert LegalHold.objects.get(referral=referral).reason == ""


def test_running_twice_changes_nothing_more(world):
    referral = closed(world, at(2026, 3, 15))
    with time_machine.travel(at(2026, 3, 15), tick=False):
        draft = file_referral(world.agent, world.tarascon, submit=False)
    first = run(at(2029, 4, 1))
    assert counts(first)["archive"] == 1 and counts(first)["draft"] == 1
    referral.refresh_from_db()
    snapshot = Referral.objects.filter(pk=referral.pk).values().get()
    second = run(at(2029, 4, 1, 11))
    assert all(count == 0 for count in counts(second).values())
    assert Referral.objects.filter(pk=referral.pk).values().get() == snapshot
    assert not Referral.objects.filter(pk=draft.pk).exists()
    assert second.run.pk != first.run.pk


def test_dry_run_lists_by_rule_and_changes_nothing(world):
    referral = closed(world, at(2026, 3, 15))
    outcome = run(at(2029, 4, 1), dry_run=True)
    assert outcome.run is None
    assert [item.label for item in outcome.plan.items[Rule.ARCHIVE]] == [referral.reference]
    referral.refresh_from_db()
    assert referral.anonymised_at is None
    from cmer.retention.models import RetentionRun

    assert not RetentionRun.objects.exists()


def test_an_open_referral_anonymised_by_the_age_rule_takes_nothing_more(as_user, world):
    referral = file_referral(world.agent, world.tarascon, birth_date=datetime.date(2002, 1, 10))
    run(at(2027, 1, 10))
    referral.refresh_from_db()
    assert referral.anonymised_at is not None and referral.status == Referral.Status.SUBMITTED
    referent = as_user(world.referent)
    page = referent.get(f"/signalements/{referral.pk}/").content.decode()
    assert referral.reference in page and "Dupont" not in page
    assert 'data-testid="anonymised"' in page
    note = referent.post(f"/signalements/{referral.pk}/notes/", {"kind": "note", "text": "Après"})
    assert note.status_code == 404
    addendum = as_user(world.agent).post(
        f"/signalements/{referral.pk}/complement/", {"text": "Après", "reason": "Oubli"}
    )
    assert addendum.status_code == 404
    assert not referral.timeline.filter(kind__in=["note", "addendum"]).exists()
