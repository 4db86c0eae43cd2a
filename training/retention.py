"""Retention of training records (``cmer.retention.rules``, rule ``training``): a session's
attendance records, the attendance files imported for it, its attestations and their zips are
deleted ``RETENTION_TRAINING_YEARS`` after the session; the session itself stays (title, date,
place: no one's name), and a trainee of the registry whose last attendance went goes too.

Called by the daily job (``cmer.retention.runner``), which records one audit entry per run with
the counts: the deletions here bypass django-auditlog's per-row entries (a session holds up to
10,000 attendance rows).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from cmer.retention import registry
from cmer.retention.registry import DueItem, FilesNotRemoved, Removed
from cmer.retention.rules import Rule, add_years, periods

from .models import (
    Attendance,
    AttendanceImport,
    Attestation,
    AttestationBundle,
    Trainee,
    TrainingSession,
)


def _with_records() -> Q:
    return (
        Q(Exists(Attendance.objects.filter(session=OuterRef("pk"))))
        | Q(Exists(AttendanceImport.objects.filter(session=OuterRef("pk"))))
        | Q(Exists(AttestationBundle.objects.filter(session=OuterRef("pk"))))
    )


def due_sessions(
    until: datetime.date,
    commune_ids: Iterable[int] | None = None,
    department_ids: Iterable[int] | None = None,
) -> list[DueItem]:
    """Sessions that still hold records and whose period ends on or before ``until``; scoped to
    these communes and departments when given (the DPO's page)."""
    years = periods().training_years
    sessions = TrainingSession.objects.filter(_with_records(), date__lte=add_years(until, -years))
    if commune_ids is not None or department_ids is not None:
        sessions = sessions.filter(
            Q(commune_id__in=list(commune_ids or []))
            | Q(department_id__in=list(department_ids or []))
        )
    return [
        DueItem(Rule.TRAINING, pk, f"session-{pk}", commune, add_years(day, years))
        for pk, commune, day in sessions.values_list("pk", "commune_id", "date").order_by("date")
    ]


def _erase_rows(queryset: QuerySet) -> int:
    return queryset._raw_delete(queryset.db)


def purge_sessions(ids: Iterable[int], *, until: datetime.date) -> Removed:
    """Delete the records of these sessions (re-checked: still past their period): the
    sessions' labels, the number of records (attendances, attestations, imports, bundles,
    trainees left without attendance) and of files deleted, checked gone before the commit."""
    years = periods().training_years
    with transaction.atomic():
        sessions = list(
            TrainingSession.objects.select_for_update()
            .filter(pk__in=list(ids), date__lte=add_years(until, -years))
            .values_list("pk", flat=True)
        )
        if not sessions:
            return Removed([])
        attendances = Attendance.objects.filter(session_id__in=sessions)
        trainees = set(attendances.values_list("trainee_id", flat=True))
        imports = AttendanceImport.objects.filter(session_id__in=sessions)
        bundles = AttestationBundle.objects.filter(session_id__in=sessions)
        names = [n for n in imports.values_list("file", flat=True) if n]
        names += [n for n in bundles.values_list("file", flat=True) if n]
        records = _erase_rows(Attestation.objects.filter(attendance__session_id__in=sessions))
        records += _erase_rows(attendances)
        records += _erase_rows(imports)
        records += _erase_rows(bundles)
        records += _erase_rows(
            Trainee.objects.filter(pk__in=trainees).exclude(
                Exists(Attendance.objects.filter(trainee=OuterRef("pk")))
            )
        )
        for name in names:
            default_storage.delete(name)
        if any(default_storage.exists(name) for name in names):
            raise FilesNotRemoved("a training file is still stored")
    return Removed([f"session-{pk}" for pk in sessions], records, len(names))


def register() -> None:
    """Called by ``TrainingConfig.ready``: the training rule, for the core."""
    registry.register(
        "training",
        due=lambda scope: due_sessions(scope.until, scope.commune_ids, scope.department_ids),
        apply={Rule.TRAINING: lambda ids, today: purge_sessions(ids, until=today)},
    )
