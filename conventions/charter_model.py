"""The model confidentiality charter shipped with the app (DESIGN.md: every scope starts with it).

Each commune and each department gets it as version 0 when it is created (``ensure_model``,
called from a ``post_save`` receiver and from migration 0003 for those that existed before), so
the charter gate always applies. A referent or liaison replaces it by publishing version 1 and
later ones (``actions.do_publish_charter``). Version 0 has no publisher: the app ships it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

MODEL_VERSION = 0
MODEL_FILE = Path(__file__).with_name("charter_model.fr.txt")


@cache
def model_text() -> str:
    """The French text of the model charter (a legal text: French only)."""
    return MODEL_FILE.read_text(encoding="utf-8").strip()


def ensure_model(
    charter_model: Any, *, commune_id: int | None = None, department_id: int | None = None
) -> None:
    """Give the scope its model charter unless it has a version already (idempotent).

    ``charter_model``: the CharterVersion class (the historical one inside a migration).
    """
    scope = (
        {"commune_id": commune_id} if commune_id is not None else {"department_id": department_id}
    )
    if charter_model.objects.filter(**scope).exists():
        return
    charter_model.objects.create(
        version=MODEL_VERSION, text=model_text(), published_by=None, **scope
    )
