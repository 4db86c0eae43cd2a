"""Accent folding: the one place where text loses its accents before it is compared.

Two comparisons build on it, each keeping its own rule because stored values depend on it: the
blind index of a person's name (``cmer.crypto.normalise_name``: letters and digits only, so
"D'Arc" and "DARC" index alike) and the matching keys of the training app
(``training.normalise.normalise_key``: words kept apart by one space).
"""

from __future__ import annotations

import unicodedata


def strip_accents(value: str) -> str:
    """Compatibility-decompose ``value`` and drop the combining marks: "Éloïse" → "Eloise".

    Letters that do not decompose (œ, æ, ø, ß) are kept as they are; callers fold them.
    """
    decomposed = unicodedata.normalize("NFKD", value or "")
    return "".join(char for char in decomposed if not unicodedata.combining(char))
