"""Internal codes that must never reach people: the values stored by the models' choices and by
the audit trail (what a read was, which event). Searched in the text a page shows (issue 16).

Read from the code itself, so a new choice is checked as soon as it exists. E-mail addresses are
taken out of the text first (``referent@…`` is a person's address, not a code).
"""

from __future__ import annotations

import functools
import re

# Stored values that are also ordinary French words (or a number) on a page.
FRENCH_WORDS = {
    "normal",
    "manuel",
    "public",
    "service",
    "commune",
    "date",
    "total",
    "autre",
    "absent",
    "association",
    "associations",
    "danger",
    "note",
    "archive",
    "agent",
    "export",
    "change",
    "liaison",
    "minutes",  # the locked minutes' read, and "5 minutes" on the code page
}


@functools.cache
def internal_codes() -> frozenset[str]:
    from django.apps import apps

    from cmer.audit.labels import READS
    from cmer.audit.models import Event

    codes: set[str] = set(READS) | set(Event.values)
    for model in apps.get_models():
        if model._meta.app_label not in {
            "cases",
            "meetings",
            "conventions",
            "training",
            "accounts",
        }:
            continue
        for field in model._meta.get_fields():
            choices = getattr(field, "choices", None) or []
            for value, _label in choices:
                if isinstance(value, str):
                    codes.add(value)
    from cases.models import Transmission
    from cmer.accounts.models import Role

    codes |= set(Role.values) | set(Transmission.Item.values)  # the latter kept in a JSON list
    return frozenset(
        code
        for code in codes
        if re.fullmatch(r"[a-z][a-z_]{2,}", code) and code not in FRENCH_WORDS
    )


_EMAIL = re.compile(r"\S+@\S+")


def codes_shown(text: str) -> list[str]:
    """The internal codes found as words in ``text`` (a page's visible text)."""
    words = set(re.findall(r"[A-Za-z_]+", _EMAIL.sub(" ", text)))
    return sorted(words & internal_codes())


def assert_no_internal_code(page) -> None:
    found = codes_shown(page.locator("body").inner_text())
    assert not found, f"internal codes shown on {page.url}: {found}"
