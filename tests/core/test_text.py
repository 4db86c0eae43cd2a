"""Accent folding, once in ``cmer.text``; the two keys built on it keep their stored shape."""

from __future__ import annotations

import pytest

from cmer.crypto import normalise_name
from cmer.text import strip_accents
from training.normalise import normalise_key


def test_strip_accents_drops_marks_and_keeps_undecomposable_letters():
    assert strip_accents("Éloïse Çà") == "Eloise Ca"
    assert strip_accents("Œuvre ßø") == "Œuvre ßø"
    assert strip_accents("") == ""
    assert strip_accents(None) == ""  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Élodie-Marie  D'ARC", "elodiemariedarc"),
        ("  Jean Dupont ", "jeandupont"),
        ("Œdipe", "œdipe"),  # blind indexes already stored depend on this exact shape
        ("Straße", "strasse"),
        ("ﬁlle", "fille"),  # compatibility decomposition
        ("", ""),
    ],
)
def test_normalise_name_for_the_blind_index(value, expected):
    assert normalise_name(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  Éric-Marie  D'ALMEIDA ", "eric marie d almeida"),
        ("Œuvre æ Æ", "oeuvre ae"),  # only lower-case æ is spelt out
        ("Straße", "strasse"),
        ("N°  12", "n 12"),
        ("", ""),
    ],
)
def test_normalise_key_for_training_matching(value, expected):
    assert normalise_key(value) == expected
