"""What the referral pages share."""

from __future__ import annotations

from django.core.exceptions import ValidationError


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)
