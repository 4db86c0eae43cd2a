"""The DPO's switch of the 25th-birthday rule (AU-038: "where that rule applies").

The settings give its initial state (``RETENTION_AGE_RULE``); once the DPO switched it, the latest
``AgeRuleChange`` wins. Each switch has a reason and is in the audit trail (django-auditlog's
entry of the row, reason included: a decision of the controller, no personal data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from .models import AgeRuleChange
from .rules import periods

REASON_MIN_LENGTH = 10


@dataclass(frozen=True)
class AgeRuleState:
    enabled: bool
    latest: AgeRuleChange | None

    @property
    def from_settings(self) -> bool:
        return self.latest is None


def age_rule_state() -> AgeRuleState:
    latest = AgeRuleChange.objects.select_related("changed_by").first()
    if latest is None:
        return AgeRuleState(periods().age_rule_default, None)
    return AgeRuleState(latest.enabled, latest)


def age_rule_enabled() -> bool:
    return age_rule_state().enabled


def do_switch_age_rule(*, enabled: bool, reason: str, acting_user: Any) -> AgeRuleChange:
    """Switch the rule on or off with a reason. Refused (nothing written) without a reason, or
    when the rule is already in that state."""
    reason = reason.strip()
    if len(reason) < REASON_MIN_LENGTH:
        raise ValidationError(
            _("Indiquez le motif du changement (au moins %(n)s caractères).")
            % {"n": REASON_MIN_LENGTH}
        )
    with transaction.atomic():
        # One switch at a time: the latest row decides, so two DPOs cannot both "switch on".
        AgeRuleChange.objects.select_for_update().first()
        if age_rule_enabled() == enabled:
            raise ValidationError(
                _("La règle des 25 ans est déjà appliquée.")
                if enabled
                else _("La règle des 25 ans est déjà suspendue.")
            )
        return AgeRuleChange.objects.create(enabled=enabled, reason=reason, changed_by=acting_user)
