"""The age bracket a referral keeps for statistics: computed once, as of the filing day.

The date of birth and the approximate age are encrypted and erased by anonymisation; the
bracket is a clear column that survives it (issue 15: statistics count by age bracket). It is
computed as of the filing day, so that it does not drift as the person grows older: it says how
old the person was when the referral was made, which is what prevention statistics ask.

Pure functions (no model import): ``actions`` calls them when a draft is saved and when it is
filed, and the data migration that fills existing rows calls ``backfill`` with its historical
model, so a later change to the models cannot break the migration.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AgeBracket(models.TextChoices):
    # Minors are split finely because most referrals concern them and because the thresholds
    # mean something to a prevention reader: 13 is the age from which a minor may be held
    # criminally responsible (code de la justice pénale des mineurs, presumption below 13),
    # 16 the end of compulsory schooling, 18 majority; 18–24 is the young adults of youth
    # policy (missions locales) and the span the 25th-birthday retention rule (AU-038) covers;
    # 25 and over is everyone else. Wide enough that a bracket never singles a person out.
    UNDER_13 = "under_13", _("Moins de 13 ans")
    FROM_13_TO_15 = "13_15", _("13 à 15 ans")
    FROM_16_TO_17 = "16_17", _("16 à 17 ans")
    FROM_18_TO_24 = "18_24", _("18 à 24 ans")
    FROM_25 = "25_plus", _("25 ans et plus")
    # Neither a date of birth nor an age, but the agent said minor or adult (the older field
    # ``age_group``): kept apart rather than lost, so the minor/adult totals stay right.
    MINOR_UNSPECIFIED = "minor", _("Mineur, âge non précisé")
    ADULT_UNSPECIFIED = "adult", _("Majeur, âge non précisé")
    UNKNOWN = "unknown", _("Non précisé")


# Upper bound (inclusive) of each bracket given by an age; 25 and over above the last one.
_BY_AGE = (
    (12, AgeBracket.UNDER_13),
    (15, AgeBracket.FROM_13_TO_15),
    (17, AgeBracket.FROM_16_TO_17),
    (24, AgeBracket.FROM_18_TO_24),
)


def age_on(birth: datetime.date, day: datetime.date) -> int:
    """Completed years on ``day`` (one more on the birthday itself). Someone born on 29 February
    is a year older on 1 March of a common year."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def bracket_for_age(age: int) -> str:
    for upper, bracket in _BY_AGE:
        if age <= upper:
            return bracket
    return AgeBracket.FROM_25


def _parse_birth(value: Any) -> datetime.date | None:
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _parse_age(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        age = int(value)
    except (TypeError, ValueError):
        return None
    return age if age >= 0 else None


def bracket_for(
    *,
    birth_date: datetime.date | str | None,
    approximate_age: int | str | None,
    age_group: str,
    filed_on: datetime.date,
) -> str:
    """The bracket on ``filed_on``: from the date of birth, else the approximate age (as given
    when filing), else the minor/adult flag, else unknown."""
    birth = _parse_birth(birth_date)
    if birth is not None and birth <= filed_on:
        return bracket_for_age(age_on(birth, filed_on))
    age = _parse_age(approximate_age)
    if age is not None:
        return bracket_for_age(age)
    # ``Referral.AgeGroup`` values (not imported: the migration calls this module).
    if age_group == "minor":
        return AgeBracket.MINOR_UNSPECIFIED
    if age_group == "adult":
        return AgeBracket.ADULT_UNSPECIFIED
    return AgeBracket.UNKNOWN


def filing_day(submitted_at: datetime.datetime | None) -> datetime.date:
    """The local day of filing; today for a draft (recomputed when it is filed)."""
    if submitted_at is None:
        return timezone.localdate()
    return timezone.localdate(submitted_at)


def backfill(referral_model: Any, *, batch_size: int = 500) -> int:
    """Fill ``age_bracket`` on every existing referral (the data migration's function). Reads the
    encrypted date of birth and age through the model's fields (decrypted on read), writes in
    batches of ``batch_size`` (one UPDATE statement per batch). An anonymised referral has
    neither any more: it falls back to its minor/adult flag. Returns the rows changed."""
    changed = 0
    pending: list[Any] = []
    rows = referral_model._base_manager.only(
        "pk", "birth_date", "approximate_age", "age_group", "submitted_at", "age_bracket"
    ).order_by("pk")
    for referral in rows.iterator(chunk_size=batch_size):
        bracket = bracket_for(
            birth_date=referral.birth_date,
            approximate_age=referral.approximate_age,
            age_group=referral.age_group,
            filed_on=filing_day(referral.submitted_at),
        )
        if bracket != referral.age_bracket:
            referral.age_bracket = bracket
            pending.append(referral)
        if len(pending) >= batch_size:
            changed += referral_model._base_manager.bulk_update(pending, ["age_bracket"])
            pending = []
    if pending:
        changed += referral_model._base_manager.bulk_update(pending, ["age_bracket"])
    return changed
