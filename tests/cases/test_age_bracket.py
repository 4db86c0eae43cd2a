"""The age bracket kept for statistics: set as of the filing day, from the date of birth, else the
approximate age, else the minor/adult flag; frozen once filed; kept by anonymisation; filled on
existing rows by the data migration."""

from __future__ import annotations

import datetime
import importlib
import zoneinfo

import pytest
import time_machine
from django.apps import apps
from django.core.exceptions import ValidationError

from cases import actions, age_brackets
from cases.age_brackets import AgeBracket, backfill, bracket_for
from cases.models import Referral
from tests.cases.helpers import content, file_referral

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
# Filed on 15 March 2026 at noon, local time.
FILED = datetime.datetime(2026, 3, 15, 12, 0, tzinfo=PARIS)


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


def _filed(world, moment=FILED, **overrides) -> Referral:
    with time_machine.travel(moment, tick=False):
        referral = file_referral(world.agent, world.tarascon, **overrides)
    referral.refresh_from_db()
    return referral


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("born", "bracket"),
    [
        # Each boundary: the day before the birthday, and the birthday itself (the filing day).
        (datetime.date(2013, 3, 16), AgeBracket.UNDER_13),  # 12, 13 tomorrow
        (datetime.date(2013, 3, 15), AgeBracket.FROM_13_TO_15),  # 13 today
        (datetime.date(2010, 3, 16), AgeBracket.FROM_13_TO_15),  # 15
        (datetime.date(2010, 3, 15), AgeBracket.FROM_16_TO_17),  # 16 today
        (datetime.date(2008, 3, 16), AgeBracket.FROM_16_TO_17),  # 17, 18 tomorrow
        (datetime.date(2008, 3, 15), AgeBracket.FROM_18_TO_24),  # 18 today
        (datetime.date(2001, 3, 16), AgeBracket.FROM_18_TO_24),  # 24, 25 tomorrow
        (datetime.date(2001, 3, 15), AgeBracket.FROM_25),  # 25 today
        (datetime.date(2020, 1, 1), AgeBracket.UNDER_13),
    ],
)
def test_bracket_from_the_birth_date_on_the_filing_day(world, born, bracket):
    referral = _filed(world, birth_date=born)
    assert referral.age_bracket == bracket


@pytest.mark.django_db
def test_the_filing_day_is_the_local_day(world):
    # 00:30 in Paris is still 14 March in UTC: the person is already 18 on the local day.
    moment = datetime.datetime(2026, 3, 15, 0, 30, tzinfo=PARIS)
    referral = _filed(world, moment, birth_date=datetime.date(2008, 3, 15))
    assert referral.age_bracket == AgeBracket.FROM_18_TO_24


@pytest.mark.django_db
def test_bracket_is_set_again_when_filed_then_never_drifts(world):
    # Drafted the day before the 18th birthday, filed on it: the filing day counts.
    with time_machine.travel(FILED - datetime.timedelta(days=1), tick=False):
        draft = file_referral(
            world.agent, world.tarascon, submit=False, birth_date=datetime.date(2008, 3, 15)
        )
    assert draft.age_bracket == AgeBracket.FROM_16_TO_17
    with time_machine.travel(FILED, tick=False):
        actions.do_submit_referral(draft, acting_user=world.agent)
    draft.refresh_from_db()
    assert draft.age_bracket == AgeBracket.FROM_18_TO_24
    # Years later the person is older; the referral still says how old they were when filed.
    with time_machine.travel(FILED + datetime.timedelta(days=3 * 365), tick=False):
        referral = Referral.objects.get(pk=draft.pk)
        assert referral.age_bracket == AgeBracket.FROM_18_TO_24
        referral.age_bracket = AgeBracket.FROM_25
        with pytest.raises(ValidationError):
            referral.save()


@pytest.mark.django_db
def test_a_draft_edit_that_changes_the_birth_date_changes_the_bracket(world):
    with time_machine.travel(FILED, tick=False):
        draft = file_referral(world.agent, world.tarascon, submit=False)
        actions.do_save_draft(
            acting_user=world.agent,
            commune=world.tarascon,
            content=content(birth_date=None, approximate_age=14),
            attachments=[],
            referral=draft,
        )
    draft.refresh_from_db()
    assert draft.age_bracket == AgeBracket.FROM_13_TO_15


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("age", "bracket"),
    [
        (12, AgeBracket.UNDER_13),
        (13, AgeBracket.FROM_13_TO_15),
        (17, AgeBracket.FROM_16_TO_17),
        (18, AgeBracket.FROM_18_TO_24),
        (24, AgeBracket.FROM_18_TO_24),
        (25, AgeBracket.FROM_25),
        (61, AgeBracket.FROM_25),
    ],
)
def test_bracket_from_the_approximate_age_only(world, age, bracket):
    referral = _filed(world, birth_date=None, approximate_age=age)
    assert referral.age_bracket == bracket


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("age_group", "bracket"),
    [
        (Referral.AgeGroup.UNKNOWN, AgeBracket.UNKNOWN),
        (Referral.AgeGroup.MINOR, AgeBracket.MINOR_UNSPECIFIED),
        (Referral.AgeGroup.ADULT, AgeBracket.ADULT_UNSPECIFIED),
    ],
)
def test_without_birth_date_or_age(world, age_group, bracket):
    referral = _filed(world, birth_date=None, approximate_age=None, age_group=age_group)
    assert referral.age_bracket == bracket


def test_bad_stored_values_fall_back():
    day = datetime.date(2026, 3, 15)
    # Unreadable date, a birth date after filing (a typo), an unreadable or negative age.
    assert bracket_for(birth_date="15/03/2010", approximate_age="", age_group="", filed_on=day) == (
        AgeBracket.UNKNOWN
    )
    assert bracket_for(
        birth_date="2027-01-01", approximate_age="30", age_group="", filed_on=day
    ) == (AgeBracket.FROM_25)
    assert bracket_for(birth_date="", approximate_age="vingt", age_group="minor", filed_on=day) == (
        AgeBracket.MINOR_UNSPECIFIED
    )
    assert bracket_for(birth_date="", approximate_age="-3", age_group="", filed_on=day) == (
        AgeBracket.UNKNOWN
    )
    # Born on 29 February: a year older on 1 March of a common year.
    born = datetime.date(2008, 2, 29)
    assert age_brackets.age_on(born, datetime.date(2026, 2, 28)) == 17
    assert age_brackets.age_on(born, datetime.date(2026, 3, 1)) == 18


@pytest.mark.django_db
def test_bracket_is_kept_by_anonymisation(world):
    from cases.retention import anonymise_referrals

    referral = _filed(world, birth_date=datetime.date(2011, 6, 1))
    assert referral.age_bracket == AgeBracket.FROM_13_TO_15
    anonymise_referrals([referral.pk])
    referral.refresh_from_db()
    assert referral.anonymised_at is not None
    assert referral.birth_date == "" and referral.surname == ""
    assert referral.age_bracket == AgeBracket.FROM_13_TO_15


def _forget_brackets() -> None:
    Referral.objects.update(age_bracket=AgeBracket.UNKNOWN)


@pytest.mark.django_db
def test_backfill_fills_existing_rows_as_of_their_filing_day(world):
    from cases.retention import anonymise_referrals

    # Filed in 2026 at 17; the backfill runs in 2030: the bracket is the one of 2026.
    born_17 = _filed(world, birth_date=datetime.date(2008, 3, 16))
    by_age = _filed(world, birth_date=None, approximate_age=30)
    flagged = _filed(world, birth_date=None, approximate_age=None, age_group="minor")
    nothing = _filed(world, birth_date=None, approximate_age=None)
    gone = _filed(world, birth_date=datetime.date(2000, 1, 1), age_group="adult")
    anonymise_referrals([gone.pk])
    with time_machine.travel(FILED, tick=False):
        draft = file_referral(
            world.agent, world.tarascon, submit=False, birth_date=datetime.date(2013, 3, 15)
        )
    _forget_brackets()
    with time_machine.travel(datetime.datetime(2030, 1, 1, 12, tzinfo=PARIS), tick=False):
        changed = backfill(Referral, batch_size=2)
    found = dict(Referral.objects.values_list("pk", "age_bracket"))
    assert found == {
        born_17.pk: AgeBracket.FROM_16_TO_17,
        by_age.pk: AgeBracket.FROM_25,
        flagged.pk: AgeBracket.MINOR_UNSPECIFIED,
        nothing.pk: AgeBracket.UNKNOWN,
        # Anonymised: no birth date any more, the minor/adult flag remains.
        gone.pk: AgeBracket.ADULT_UNSPECIFIED,
        # A draft is not filed: its age today (16 in 2030), set again when it is filed.
        draft.pk: AgeBracket.FROM_16_TO_17,
    }
    assert changed == 5  # every row but the unknown one
    # Running it again (the same day) changes nothing.
    with time_machine.travel(datetime.datetime(2030, 1, 1, 12, tzinfo=PARIS), tick=False):
        assert backfill(Referral) == 0


@pytest.mark.django_db
def test_the_migration_calls_the_backfill(world):
    referral = _filed(world, birth_date=datetime.date(2013, 3, 15))
    _forget_brackets()
    migration = importlib.import_module("cases.migrations.0008_age_bracket")
    migration.fill_age_brackets(apps, None)
    referral.refresh_from_db()
    assert referral.age_bracket == AgeBracket.FROM_13_TO_15
