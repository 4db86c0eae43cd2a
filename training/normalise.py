"""Text normalisation shared by matching (trainees, services) and header recognition."""

from __future__ import annotations

import re
import unicodedata

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def normalise_key(value: str) -> str:
    """``"  Éric-Marie  D'ALMEIDA "`` → ``"eric marie d almeida"``: accents, case, punctuation."""
    decomposed = unicodedata.normalize("NFKD", value or "")
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    ascii_only = ascii_only.replace("œ", "oe").replace("Œ", "oe").replace("æ", "ae")
    return _NON_ALNUM.sub(" ", ascii_only.casefold()).strip()
