"""Retention settings: safe defaults, refused at start-up outside the law's bounds."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ImproperlyConfigured

from cmer.retention import rules
from tests.core.test_settings import PRODUCTION_ENV, manage


def test_defaults_follow_the_cnil_reference():
    values = rules.read_environment({})
    assert values == {
        "RETENTION_ARCHIVE_YEARS": 3,
        "RETENTION_AGE_LIMIT": 25,
        "RETENTION_DRAFT_DAYS": 30,
        "RETENTION_TRAINING_YEARS": 5,
        "RETENTION_CONVENTION_YEARS": 10,
        "AUDIT_MIN_RETENTION_MONTHS": 6,
        "RETENTION_AGE_RULE": True,
    }


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("RETENTION_ARCHIVE_YEARS", "4", "3 ans"),
        ("RETENTION_AGE_LIMIT", "17", "majorité"),
        ("RETENTION_AGE_LIMIT", "26", "25 ans"),
        ("AUDIT_MIN_RETENTION_MONTHS", "3", "6 mois"),
        ("RETENTION_DRAFT_DAYS", "0", "de 1 à 90"),
        ("RETENTION_TRAINING_YEARS", "cinq", "nombre entier"),
        ("RETENTION_AGE_RULE", "peut-être", "true ou false"),
    ],
)
def test_values_against_the_law_are_refused_naming_the_variable(name, value, words):
    with pytest.raises(ImproperlyConfigured) as refused:
        rules.read_environment({name: value})
    message = str(refused.value)
    assert message.startswith(f"{name} : ")
    assert words in message


def test_the_bounds_themselves_are_accepted():
    values = rules.read_environment(
        {"RETENTION_ARCHIVE_YEARS": "0", "RETENTION_AGE_LIMIT": "18", "RETENTION_AGE_RULE": "off"}
    )
    assert values["RETENTION_ARCHIVE_YEARS"] == 0
    assert values["RETENTION_AGE_LIMIT"] == 18
    assert values["RETENTION_AGE_RULE"] is False


@pytest.mark.parametrize(
    ("name", "value"), [("RETENTION_ARCHIVE_YEARS", "5"), ("RETENTION_AGE_LIMIT", "16")]
)
def test_the_process_refuses_to_start(name, value):
    """In production as locally: the law's bounds do not depend on DEBUG."""
    for env in (PRODUCTION_ENV, {"DJANGO_DEBUG": "true", "CMER_TESTING": "false"}):
        result = manage("check", env={**env, name: value})
        assert result.returncode != 0
        assert f"{name} : {value} refusé" in result.stderr


def test_rule_table_follows_the_settings(settings):
    settings.RETENTION_ARCHIVE_YEARS = 2
    settings.RETENTION_TRAINING_YEARS = 7
    table = {row.rule: row for row in rules.rule_table(age_rule_enabled=False)}
    assert "2 ans" in table[rules.Rule.ARCHIVE].period
    assert "7 ans" in table[rules.Rule.TRAINING].period
    assert table[rules.Rule.AGE_LIMIT].enabled is False
    assert table[rules.Rule.AUDIT].applied_by_daily_job is False
    applied = len(rules.APPLIED_RULES)
    assert [row.rule for row in rules.rule_table()][:applied] == list(rules.APPLIED_RULES)


def test_years_on_29_february_end_on_the_earlier_day():
    assert rules.add_years(datetime.date(2024, 2, 29), 1) == datetime.date(2025, 2, 28)
    assert rules.add_years(datetime.date(2024, 2, 29), 4) == datetime.date(2028, 2, 29)
