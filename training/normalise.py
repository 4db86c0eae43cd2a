"""Text normalisation shared by matching (trainees, services) and header recognition."""

from __future__ import annotations

import re

from cmer.text import strip_accents

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def normalise_key(value: str) -> str:
    """``"  Éric-Marie  D'ALMEIDA "`` → ``"eric marie d almeida"``: accents, case, punctuation."""
    if value.__class__ is str and value.isascii():  # most names: nothing to decompose or fold
        ascii_only = value
    else:
        ascii_only = strip_accents(value).replace("œ", "oe").replace("Œ", "oe").replace("æ", "ae")
    return _NON_ALNUM.sub(" ", ascii_only.casefold()).strip()
