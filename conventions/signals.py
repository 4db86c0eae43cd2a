"""A new commune or department starts with the model charter in force (charter_model.py)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from cmer.accounts.models import Commune, Department

from .charter_model import ensure_model


@receiver(post_save, sender=Commune, dispatch_uid="conventions.model_charter_commune")
def model_charter_for_commune(
    sender: Any, instance: Commune, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if created and not raw:
        from .models import CharterVersion

        ensure_model(CharterVersion, commune_id=instance.pk)


@receiver(post_save, sender=Department, dispatch_uid="conventions.model_charter_department")
def model_charter_for_department(
    sender: Any, instance: Department, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if created and not raw:
        from .models import CharterVersion

        ensure_model(CharterVersion, department_id=instance.pk)
