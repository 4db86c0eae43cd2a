"""Retention of convention documents (``cmer.retention.rules``, rule ``convention``): the signed
PDF versions of a convention are deleted ``RETENTION_CONVENTION_YEARS`` after its end (expiry of
its last period, or termination); the convention itself stays (parties, dates, signatories).

Called by the daily job (``cmer.retention.runner``), which records one audit entry per run.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from cmer.retention import registry
from cmer.retention.registry import DueItem, FilesNotRemoved, Removed
from cmer.retention.rules import Rule, add_years, periods

from .models import Convention, Signatory, SignedDocument


def ended_on(convention: Convention, today: datetime.date) -> datetime.date | None:
    """The day a convention ended, or None while it runs (or never ran)."""
    if convention.status == Convention.Status.TERMINATED:
        return convention.terminated_on
    if convention.state_on(today) == Convention.Status.EXPIRED:
        return convention.period_end_on(today)
    return None


def due_conventions(
    until: datetime.date,
    commune_ids: Iterable[int] | None = None,
    today: datetime.date | None = None,
) -> list[DueItem]:
    """Conventions holding documents whose period ends on or before ``until``. Few rows: the
    dates are computed in Python (tacit renewals, terminations)."""
    today = today or timezone.localdate()
    years = periods().convention_years
    conventions = Convention.objects.filter(
        Exists(SignedDocument.objects.filter(convention=OuterRef("pk")))
    ).exclude(status__in=(Convention.Status.DRAFT, Convention.Status.AWAITING_SIGNATURES))
    if commune_ids is not None:
        conventions = conventions.filter(commune_id__in=list(commune_ids))
    items = []
    for convention in conventions.with_sides():
        end = ended_on(convention, today)
        if end is not None and add_years(end, years) <= until:
            label = convention.reference or f"convention-{convention.pk}"
            items.append(
                DueItem(
                    Rule.CONVENTION,
                    convention.pk,
                    label,
                    convention.commune_id,
                    add_years(end, years),
                )
            )
    return sorted(items, key=lambda i: i.due_on)


def purge_documents(ids: Iterable[int], *, until: datetime.date) -> Removed:
    """Delete the documents of these conventions (re-checked: still past their period).
    Returns the conventions' labels, the number of documents and of files deleted (checked
    gone before the commit)."""
    years = periods().convention_years
    with transaction.atomic():
        conventions = [
            c
            for c in Convention.objects.select_for_update().filter(pk__in=list(ids))
            if (end := ended_on(c, until)) is not None and add_years(end, years) <= until
        ]
        if not conventions:
            return Removed([])
        pks = [c.pk for c in conventions]
        documents = SignedDocument.objects.filter(convention_id__in=pks)
        names = [n for n in documents.values_list("file", flat=True) if n]
        # A signatory keeps its signature (who, when); the version it covered is gone.
        Signatory.objects.filter(convention_id__in=pks, signed_document__isnull=False).update(
            signed_document=None
        )
        count = documents._raw_delete(documents.db)
        for name in names:
            default_storage.delete(name)
        if any(default_storage.exists(name) for name in names):
            raise FilesNotRemoved("a convention document is still stored")
    return Removed([c.reference or f"convention-{c.pk}" for c in conventions], count, len(names))


def register() -> None:
    """Called by ``ConventionsConfig.ready``: the convention rule, for the core."""
    registry.register(
        "conventions",
        due=lambda scope: due_conventions(scope.until, scope.commune_ids, scope.today),
        apply={Rule.CONVENTION: lambda ids, today: purge_documents(ids, until=today)},
    )
