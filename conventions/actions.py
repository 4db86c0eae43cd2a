"""Write side of conventions: each action is atomic, audited, and queues tasks on commit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest

from cmer.audit.core import record_event
from cmer.audit.models import Event

from .models import CharterAcknowledgement, CharterVersion


def do_acknowledge_charters(
    user: Any, versions: Iterable[CharterVersion], *, request: HttpRequest | None = None
) -> list[CharterAcknowledgement]:
    """Record that ``user`` read and accepted each charter version (once per version)."""
    done = []
    for version in versions:
        try:
            with transaction.atomic():
                ack = CharterAcknowledgement.objects.create(user=user, charter=version)
                record_event(
                    Event.CHANGE,
                    request=request,
                    actor=user,
                    target=ack,
                    data={"charter": "acknowledged", "charter_version": version.pk},
                )
        except IntegrityError:
            continue  # already acknowledged (double submit)
        done.append(ack)
    return done
