"""How a referral appears in meetings, minutes and PDFs: reference and pseudonym, never a name.

"TAR-2026-0007 — J. D., 16–17 ans": initials (first given name, then surname) and an age
bracket on the day of the meeting, from the birth date, else the approximate age, else the
minor/adult flag. Written once, used by the pages, the PDF and the timeline entries.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.utils.translation import gettext as _

# Upper bounds (inclusive) of the brackets; wide enough that a bracket never singles a person
# out, fine enough around 18 for what the cell must know (minor or not).
BRACKETS = ((12, "0–12"), (15, "13–15"), (17, "16–17"), (20, "18–20"), (25, "21–25"))


def _initial(text: str) -> str:
    for word in text.replace("-", " ").split():
        for char in word:
            if char.isalpha():
                return f"{char.upper()}."
    return ""


def age_on(birth: datetime.date, day: datetime.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def age_bracket(referral: Any, on: datetime.date) -> str:
    age: int | None = None
    birth = referral.birth_date_value
    if birth is not None:
        age = age_on(birth, on)
    elif referral.approximate_age:
        try:
            age = int(referral.approximate_age)
        except ValueError:
            age = None
    if age is not None:
        for upper, label in BRACKETS:
            if age <= upper:
                return _("%(bracket)s ans") % {"bracket": label}
        return _("26 ans et plus")
    if referral.age_group == "minor":
        return _("mineur")
    if referral.age_group == "adult":
        return _("majeur")
    return _("âge non précisé")


def pseudonym(referral: Any, on: datetime.date) -> str:
    """Initials and age bracket, e.g. "J. D., 16–17 ans" (no reference)."""
    initials = " ".join(
        part for part in (_initial(referral.first_names), _initial(referral.surname)) if part
    )
    return f"{initials or '—'}, {age_bracket(referral, on)}"


def label(referral: Any, on: datetime.date) -> str:
    """What the agenda, the minutes and the PDF show: "TAR-2026-0007 — J. D., 16–17 ans"."""
    return f"{referral.reference} — {pseudonym(referral, on)}"
