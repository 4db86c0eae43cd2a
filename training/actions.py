"""Write side of training: every change goes through a ``do_*`` function in a transaction.

Imports use ``bulk_create``/``bulk_update`` (10,000 rows in seconds), which bypass auditlog: each
confirmed import writes one explicit audit entry with its counts instead.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from cmer import antivirus
from cmer.accounts.models import Commune, Department
from cmer.audit.core import record_event
from cmer.audit.models import Event
from cmer.permissions import ALLOWED, Decision, denied

from .models import (
    Attendance,
    AttendanceImport,
    Attestation,
    AttestationBundle,
    ServiceHeadcount,
    Trainee,
    TrainingSession,
    make_name_key,
)
from .parsing import ParseResult

BATCH = 500

# Attestation zips are always built by a Celery task: 30 attestations took 4.4 s to render,
# too long for a request (issue 13). A run holds its bundle for BUNDLE_LEASE: longer than the
# hard time limit (no live run outlasts it), shorter than the visibility timeout (the message of
# a killed worker comes back after that, and must find the lease over). A bundle nobody has
# worked on for BUNDLE_REQUEUE_AFTER is queued again (its message was lost); one still pending
# after BUNDLE_GIVE_UP, or after BUNDLE_MAX_ATTEMPTS runs that never finished, is failed and
# the user may ask again.
BUNDLE_LEASE = datetime.timedelta(
    seconds=(settings.CELERY_TASK_TIME_LIMIT + settings.CELERY_VISIBILITY_TIMEOUT) / 2
)
BUNDLE_REQUEUE_AFTER = datetime.timedelta(minutes=15)
BUNDLE_GIVE_UP = datetime.timedelta(hours=1)
BUNDLE_MAX_ATTEMPTS = 3


# Tasks are queued by name (training.tasks imports this module: no import circle).
CONFIRM_IMPORT_TASK = "training.confirm_attendance_import"
BUILD_BUNDLE_TASK = "training.build_attestation_bundle"
# Stored when an import's run failed for a reason that is not a business refusal; the page
# words it in the reader's language.
FAILURE_ERROR = "error"


class ActionRefused(Exception):
    """A business rule refused the action; the message is shown to the user."""


# Sessions ------------------------------------------------------------------------------------


def _apply_scope(session: TrainingSession, scope: Commune | Department) -> None:
    if isinstance(scope, Commune):
        session.commune, session.department = scope, None
    else:
        session.commune, session.department = None, scope


@transaction.atomic
def do_create_session(
    session: TrainingSession, *, scope: Commune | Department, acting_user: Any
) -> TrainingSession:
    _apply_scope(session, scope)
    session.created_by = acting_user
    session.save()
    return session


@transaction.atomic
def do_update_session(
    session: TrainingSession, *, scope: Commune | Department, acting_user: Any
) -> TrainingSession:
    # Attendance is matched in the registry of the session's department: keep it there.
    new_department = scope.pk if isinstance(scope, Department) else scope.department_id
    if session.attendances.exists() and new_department != session.scope_department_id:
        raise ActionRefused(
            _("Des présences sont enregistrées : la session ne peut changer de département.")
        )
    _apply_scope(session, scope)
    session.save()
    return session


def can_mark_held(session: TrainingSession) -> Decision:
    if session.status == TrainingSession.Status.HELD:
        return denied(_("La session est déjà marquée comme tenue."))
    if session.date > timezone.localdate():
        return denied(_("La session n'a pas encore eu lieu."))
    return ALLOWED


@transaction.atomic
def do_mark_session_held(session: TrainingSession, *, acting_user: Any) -> None:
    decision = can_mark_held(session)
    if not decision:
        raise ActionRefused(decision.reason)
    session.status = TrainingSession.Status.HELD
    session.save(update_fields=["status"])


def can_import_attendance(session: TrainingSession) -> Decision:
    if session.status != TrainingSession.Status.HELD:
        return denied(_("Marquez d'abord la session comme tenue pour importer les présences."))
    return ALLOWED


def can_issue_attestations(session: TrainingSession) -> Decision:
    if session.status != TrainingSession.Status.HELD:
        return denied(_("Les attestations sont délivrées une fois la session tenue."))
    return ALLOWED


# Attendance import ---------------------------------------------------------------------------


def do_stage_import(
    session: TrainingSession,
    *,
    data: bytes,
    filename: str,
    parsed: ParseResult,
    acting_user: Any,
) -> AttendanceImport:
    """Keep the uploaded file (private storage, SHA-256) and its parsed rows, awaiting review.

    The file passes the antivirus first, outside the transaction, so that a detection's audit
    entry outlives the refusal (``ValidationError``; ``cmer.antivirus``).
    """
    decision = can_import_attendance(session)
    if not decision:
        raise ActionRefused(decision.reason)
    antivirus.require_clean(
        data, where="training.attendance", acting_user=acting_user, target=session
    )
    with transaction.atomic():
        return _stage_import(
            session, data=data, filename=filename, parsed=parsed, acting_user=acting_user
        )


def _stage_import(
    session: TrainingSession,
    *,
    data: bytes,
    filename: str,
    parsed: ParseResult,
    acting_user: Any,
) -> AttendanceImport:
    staged = AttendanceImport(
        session=session,
        original_name=(filename or "")[-200:],
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        file_format=parsed.file_format,
        columns=parsed.columns,
        rows=parsed.rows,
        rejected=parsed.rejected,
        duplicates=parsed.duplicates,
        warnings=[str(w) for w in parsed.warnings],
        created_by=acting_user,
    )
    # A random name on disk: the original name may contain a person's name.
    staged.file.save(f"{uuid.uuid4().hex}.{parsed.file_format}", ContentFile(data), save=False)
    try:
        staged.save()
    except Exception:
        # Invariant 4: a failed upload leaves nothing behind, not even the file.
        staged.file.delete(save=False)
        raise
    return staged


@dataclass
class ImportPlan:
    """What confirming an import would do, computed the same way for preview and confirm."""

    matches: dict[int, Trainee | None] = field(default_factory=dict)
    new_trainees: int = 0
    new_attendances: int = 0
    updated_attendances: int = 0
    unchanged: int = 0
    untouched_existing: int = 0


def _chunks(values: Iterable[Any], size: int = BATCH) -> Iterator[list[Any]]:
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def match_trainees(department_id: int, rows: list[dict[str, Any]]) -> dict[int, Trainee | None]:
    """For each row (by line), the registry's trainee: same e-mail, else same name + organisation.

    A row with an e-mail may adopt a registry entry that has none; each trainee is matched to
    at most one row of a file.
    """
    emails = {row["email"] for row in rows if row["email"]}
    by_email: dict[str, Trainee] = {}
    for chunk in _chunks(sorted(emails)):
        for known in Trainee.objects.filter(department_id=department_id, email__in=chunk):
            by_email[known.email] = known
    keys = {
        make_name_key(row["last_name"], row["first_name"], row["organisation"])
        for row in rows
        if not (row["email"] and row["email"] in by_email)
    }
    by_name: dict[str, list[Trainee]] = {}
    for chunk in _chunks(sorted(keys)):
        for known in Trainee.objects.filter(
            department_id=department_id, name_key__in=chunk
        ).order_by("pk"):
            by_name.setdefault(known.name_key, []).append(known)
    used: set[int] = set()
    matches: dict[int, Trainee | None] = {}
    for row in rows:
        trainee = by_email.get(row["email"]) if row["email"] else None
        if trainee is None:
            key = make_name_key(row["last_name"], row["first_name"], row["organisation"])
            candidates = [t for t in by_name.get(key, []) if t.pk not in used]
            if row["email"]:
                candidates = [t for t in candidates if not t.email]
            trainee = candidates[0] if candidates else None
        if trainee is not None and trainee.pk in used:
            trainee = None
        if trainee is not None:
            used.add(trainee.pk)
        matches[row["line"]] = trainee
    return matches


def plan_import(staged: AttendanceImport) -> ImportPlan:
    session = staged.session
    plan = ImportPlan(matches=match_trainees(session.scope_department_id, staged.rows))
    existing = dict(Attendance.objects.filter(session=session).values_list("trainee_id", "status"))
    existing_remarks = dict(
        Attendance.objects.filter(session=session).values_list("trainee_id", "remark")
    )
    has_remark = "remark" in staged.columns
    seen = set()
    for row in staged.rows:
        trainee = plan.matches[row["line"]]
        if trainee is None:
            plan.new_trainees += 1
            plan.new_attendances += 1
            continue
        seen.add(trainee.pk)
        if trainee.pk not in existing:
            plan.new_attendances += 1
        elif existing[trainee.pk] != row["status"] or (
            has_remark and existing_remarks[trainee.pk] != row["remark"]
        ):
            plan.updated_attendances += 1
        else:
            plan.unchanged += 1
    plan.untouched_existing = len(set(existing) - seen)
    return plan


def _update_trainee(trainee: Trainee, row: dict[str, Any]) -> bool:
    """Fill in what the file knows better; never blank out a known value."""
    changed = False
    for name in ("first_name", "service", "organisation", "email"):
        value = row[name]
        if value and getattr(trainee, name) != value:
            setattr(trainee, name, value)
            changed = True
    if changed:
        trainee.refresh_keys()
    return changed


def _attendance_for(
    row: dict[str, Any],
    trainee: Trainee,
    existing: dict[int, Attendance],
    staged: AttendanceImport,
    has_remark: bool,
    now: datetime.datetime,
) -> tuple[Attendance, bool]:
    """The attendance for one row, and whether it is new (or None-changed → skipped)."""
    attendance = existing.get(trainee.pk)
    if attendance is None:
        return (
            Attendance(
                session=staged.session,
                trainee=trainee,
                status=row["status"],
                remark=row["remark"],
                source_import=staged,
                updated_at=now,
            ),
            True,
        )
    attendance.status = row["status"]
    if has_remark:
        attendance.remark = row["remark"]
    attendance.source_import = staged
    attendance.updated_at = now
    return attendance, False


@transaction.atomic
def do_request_confirm_import(staged: AttendanceImport, *, acting_user: Any) -> AttendanceImport:
    """The coordinator confirms a preview: the worker applies it (``confirm_attendance_import``).

    10,000 rows take seconds: never inside a request (issue 13). The import shows "Import en
    cours" until the task has applied it, or gone back to its preview with the reason.
    """
    from cmer.queue import enqueue_on_commit

    staged = AttendanceImport.objects.select_for_update(of=("self",)).get(pk=staged.pk)
    if staged.state != AttendanceImport.State.PREVIEW:
        raise ActionRefused(_("Cet import a déjà été confirmé ou abandonné."))
    decision = can_import_attendance(staged.session)
    if not decision:
        raise ActionRefused(decision.reason)
    staged.state = AttendanceImport.State.CONFIRMING
    staged.confirm_requested_by = acting_user
    staged.confirm_requested_at = timezone.now()
    staged.failure = ""
    staged.save(update_fields=["state", "confirm_requested_by", "confirm_requested_at", "failure"])
    enqueue_on_commit(CONFIRM_IMPORT_TASK, staged.pk)
    return staged


def mark_import_failed(import_id: int, reason: str) -> None:
    """A run that failed wrote nothing (its transaction rolled back): back to the preview."""
    with transaction.atomic():
        staged = (
            AttendanceImport.objects.select_for_update()
            .filter(pk=import_id, state=AttendanceImport.State.CONFIRMING)
            .first()
        )
        if staged is None:
            return
        staged.state = AttendanceImport.State.PREVIEW
        staged.failure = reason[:300]
        staged.save(update_fields=["state", "failure"])


def do_confirm_import(
    staged: AttendanceImport, *, acting_user: Any, effect_key: str | None = None
) -> dict[str, int]:
    """Apply a confirmed (or previewed) import, all or nothing. Re-importing updates, never
    duplicates.

    ``effect_key``: the task delivery's key (``cmer.outbox.effects``), claimed in the same
    transaction as the rows: a redelivered message finds it and writes nothing twice; a run
    that fails rolls the claim back with everything else.
    """
    from cmer.outbox.effects import claim

    with transaction.atomic():
        staged = (
            # of=("self",): the session's commune is nullable (outer join), which PostgreSQL
            # cannot lock; only the import row needs the lock.
            AttendanceImport.objects.select_for_update(of=("self",))
            .select_related("session", "session__commune")
            .get(pk=staged.pk)
        )
        if staged.state not in {AttendanceImport.State.PREVIEW, AttendanceImport.State.CONFIRMING}:
            raise ActionRefused(_("Cet import a déjà été confirmé ou abandonné."))
        decision = can_import_attendance(staged.session)
        if not decision:
            raise ActionRefused(decision.reason)
        if effect_key is not None:
            with claim(effect_key) as first:
                if not first:
                    return dict(staged.result)
        return _apply_import(staged, acting_user=acting_user)


def _apply_import(staged: AttendanceImport, *, acting_user: Any) -> dict[str, int]:
    """The rows of ``staged`` (locked by the caller's transaction) into the registry."""
    session = staged.session
    department_id = session.scope_department_id
    now = timezone.now()
    matches = match_trainees(department_id, staged.rows)

    new_trainees: list[Trainee] = []
    changed_trainees: list[Trainee] = []
    resolved: list[tuple[dict[str, Any], Trainee]] = []
    for row in staged.rows:
        trainee = matches[row["line"]]
        if trainee is None:
            trainee = Trainee(
                department_id=department_id,
                last_name=row["last_name"],
                first_name=row["first_name"],
                email=row["email"],
                service=row["service"],
                organisation=row["organisation"],
                created_at=now,
            )
            trainee.refresh_keys()
            new_trainees.append(trainee)
        elif _update_trainee(trainee, row):
            changed_trainees.append(trainee)
        resolved.append((row, trainee))
    Trainee.objects.bulk_create(new_trainees, batch_size=BATCH)
    Trainee.objects.bulk_update(
        changed_trainees,
        ["first_name", "service", "organisation", "email", "name_key", "service_key"],
        batch_size=BATCH,
    )

    existing = {a.trainee_id: a for a in Attendance.objects.filter(session=session)}
    has_remark = "remark" in staged.columns
    created: list[Attendance] = []
    updated: list[Attendance] = []
    unchanged = 0
    for row, trainee in resolved:
        before = existing.get(trainee.pk)
        snapshot = (before.status, before.remark) if before else None
        attendance, is_new = _attendance_for(row, trainee, existing, staged, has_remark, now)
        if is_new:
            created.append(attendance)
        elif snapshot != (attendance.status, attendance.remark):
            updated.append(attendance)
        else:
            unchanged += 1
    Attendance.objects.bulk_create(created, batch_size=BATCH)
    Attendance.objects.bulk_update(
        updated, ["status", "remark", "source_import", "updated_at"], batch_size=BATCH
    )
    # Only an updated attendance can have had an attestation (new ones have none yet).
    withdrawn, restored = sync_attestations([a.pk for a in updated], now=now)

    result = {
        "new_trainees": len(new_trainees),
        "updated_trainees": len(changed_trainees),
        "new_attendances": len(created),
        "updated_attendances": len(updated),
        "unchanged": unchanged,
        "withdrawn_attestations": withdrawn,
        "restored_attestations": restored,
    }
    staged.state = AttendanceImport.State.CONFIRMED
    staged.confirmed_at = now
    staged.result = result
    staged.save(update_fields=["state", "confirmed_at", "result"])
    record_event(
        Event.CHANGE,
        actor=acting_user,
        target=staged,
        data={"what": "attendance_import", "session": session.pk, **result},
    )
    return result


@transaction.atomic
def do_cancel_import(staged: AttendanceImport, *, acting_user: Any) -> None:
    """Abandon a preview: its rows and file are dropped (nothing was imported)."""
    staged = AttendanceImport.objects.select_for_update().get(pk=staged.pk)
    if staged.state != AttendanceImport.State.PREVIEW:
        raise ActionRefused(_("Cet import a déjà été confirmé ou abandonné."))
    # A required field, saved with the upload (_stage_import): never without a name.
    name, storage = cast(str, staged.file.name), staged.file.storage
    staged.state = AttendanceImport.State.CANCELLED
    staged.rows, staged.rejected, staged.duplicates = [], [], []
    staged.save(update_fields=["state", "rows", "rejected", "duplicates"])
    transaction.on_commit(lambda: storage.delete(name))


@transaction.atomic
def do_update_attendance(attendance: Attendance, *, acting_user: Any) -> Attendance:
    """Save an edited attendance; its attestation is withdrawn (or valid again) with it."""
    now = timezone.now()
    attendance.updated_at = now
    attendance.save()
    sync_attestations([attendance.pk], now=now)
    return attendance


def sync_attestations(attendance_ids: list[int], *, now: datetime.datetime) -> tuple[int, int]:
    """Withdraw the attestations of attendances no longer "present", restore those present
    again. Returns (withdrawn, restored). Saved one by one: each change is in the audit trail.
    """
    withdrawn = restored = 0
    for chunk in _chunks(attendance_ids):
        for attestation in Attestation.objects.filter(attendance_id__in=chunk).select_related(
            "attendance__session"
        ):
            present = attestation.attendance.status == Attendance.Status.PRESENT
            if not present and attestation.withdrawn_at is None:
                attestation.withdrawn_at = now
                withdrawn += 1
            elif present and attestation.withdrawn_at is not None:
                attestation.withdrawn_at = None
                restored += 1
            else:
                continue
            attestation.save(update_fields=["withdrawn_at"])
    return withdrawn, restored


# Attestations --------------------------------------------------------------------------------


def ensure_attestations(attendances: list[Attendance]) -> dict[int, Attestation]:
    """The attestation of each present attendance, created once (the code never changes)."""
    ids = [a.pk for a in attendances]
    found = {a.attendance_id: a for a in Attestation.objects.filter(attendance_id__in=ids)}
    for attendance in attendances:
        if attendance.pk not in found:
            found[attendance.pk] = Attestation.objects.create(attendance=attendance)
    return found


def render_attestations(
    session: TrainingSession, attendances: list[Attendance], *, reader: Any = None
) -> bytes:
    """One PDF, one page per attendee. With ``reader`` (a download), each page's foot names
    who extracted it and when (``outputs.extract_line``); the worker's zip has none, its
    ``LISEZMOI.txt`` is added at download."""
    from django.conf import settings

    from cmer.pdf import render_pdf, static_file_url

    codes = ensure_attestations(attendances)
    from .outputs import extract_line, neutralise

    # Names as imported ("=Dumas" stays text), neutralised like every output.
    items = [
        {
            "attendance": a,
            "trainee": a.trainee,
            "name": neutralise(a.trainee.full_name),
            "group": neutralise(a.trainee.group_label),
            "code": codes[a.pk].code,
        }
        for a in attendances
    ]
    try:
        font_regular = static_file_url("dsfr/dist/fonts/Marianne-Regular.woff2")
        font_bold = static_file_url("dsfr/dist/fonts/Marianne-Bold.woff2")
    except FileNotFoundError:  # pragma: no cover - fonts ship with django-dsfr
        font_regular = font_bold = ""
    context = {
        "session": session,
        "items": items,
        "verify_url": settings.SITE_URL.rstrip("/") + "/formations/verifier/",
        "issued_on": timezone.localdate(),
        "reader_line": extract_line(reader, timezone.now()) if reader is not None else "",
        "font_regular": font_regular,
        "font_bold": font_bold,
    }
    return render_pdf("training/attestation_pdf.html", context)


def present_attendances(session: TrainingSession) -> list[Attendance]:
    return list(
        session.attendances.filter(status=Attendance.Status.PRESENT)
        .select_related("trainee")
        .order_by("trainee__last_name", "trainee__first_name", "pk")
    )


@transaction.atomic
def do_request_bundle(session: TrainingSession, *, acting_user: Any) -> AttestationBundle:
    """Ask for the zip of every attestation; a Celery task builds it (see BUNDLE_LEASE)."""
    from cmer.queue import enqueue_on_commit

    decision = can_issue_attestations(session)
    if not decision:
        raise ActionRefused(decision.reason)
    count = session.attendances.filter(status=Attendance.Status.PRESENT).count()
    if count == 0:
        raise ActionRefused(_("Aucune personne présente : aucune attestation à produire."))
    bundle = AttestationBundle.objects.create(
        session=session, requested_by=acting_user, count=count
    )
    enqueue_on_commit(BUILD_BUNDLE_TASK, bundle.pk)
    return bundle


def start_bundle_run(bundle_id: int) -> bool:
    """Claim a pending bundle for one run of the build task. False: nothing to do now.

    Refused while another run holds the lease (a duplicate message); a bundle whose runs kept
    dying (BUNDLE_MAX_ATTEMPTS) is failed instead of being tried for ever.
    """
    now = timezone.now()
    with transaction.atomic():
        bundle = AttestationBundle.objects.select_for_update().filter(pk=bundle_id).first()
        if bundle is None or bundle.state != AttestationBundle.State.PENDING:
            return False
        if bundle.started_at is not None and bundle.started_at > now - BUNDLE_LEASE:
            return False
        if bundle.attempts >= BUNDLE_MAX_ATTEMPTS:
            _fail(bundle, now)
            return False
        bundle.attempts += 1
        bundle.started_at = now
        bundle.save(update_fields=["attempts", "started_at"])
    return True


def release_bundle_run(bundle_id: int) -> None:
    """A run ended without a result but will be retried: free the lease for the retry."""
    AttestationBundle.objects.filter(pk=bundle_id, state=AttestationBundle.State.PENDING).update(
        started_at=None
    )


def _fail(bundle: AttestationBundle, now: datetime.datetime) -> None:
    bundle.state = AttestationBundle.State.FAILED
    bundle.finished_at = now
    bundle.save(update_fields=["state", "finished_at"])


def sweep_stale_bundles() -> tuple[int, int]:
    """Beat, every few minutes: fail bundles pending too long, queue again the forgotten ones.

    Returns (failed, queued again).
    """
    from cmer.queue import enqueue_on_commit

    now = timezone.now()
    failed = requeued = 0
    pending = AttestationBundle.objects.filter(state=AttestationBundle.State.PENDING)
    for bundle_id in pending.values_list("pk", flat=True):
        with transaction.atomic():
            bundle = (
                AttestationBundle.objects.select_for_update()
                .filter(pk=bundle_id, state=AttestationBundle.State.PENDING)
                .first()
            )
            if bundle is None:
                continue
            if bundle.requested_at < now - BUNDLE_GIVE_UP:
                _fail(bundle, now)
                failed += 1
            elif (bundle.started_at or bundle.requested_at) < now - BUNDLE_REQUEUE_AFTER:
                # Worked on by nobody for a while: the message was lost (Redis emptied, or a
                # worker killed without redelivery). A duplicate is harmless: see the lease.
                # started_at marks this sweep with a lease already over: a run may start at
                # once, and the next sweep queues again only BUNDLE_REQUEUE_AFTER later.
                bundle.started_at = now - BUNDLE_LEASE
                bundle.save(update_fields=["started_at"])
                enqueue_on_commit(BUILD_BUNDLE_TASK, bundle.pk)
                requeued += 1
    return failed, requeued


def build_bundle(bundle_id: int) -> None:
    """Build (idempotently) the zip of a pending bundle and store it privately."""
    from pypdf import PdfReader, PdfWriter

    bundle = (
        AttestationBundle.objects.select_related(
            "session", "session__commune", "session__department"
        )
        .filter(pk=bundle_id)
        .first()
    )
    if bundle is None or bundle.state != AttestationBundle.State.PENDING:
        return
    session = bundle.session
    attendances = present_attendances(session)
    combined = render_attestations(session, attendances)
    attestations = Attestation.objects.filter(attendance__in=attendances)
    codes = {a.attendance_id: a.code for a in attestations}
    reader = PdfReader(io.BytesIO(combined))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("attestations.pdf", combined)
        for number, (attendance, page) in enumerate(
            zip(attendances, reader.pages, strict=True), start=1
        ):
            writer = PdfWriter()
            writer.add_page(page)
            writer.compress_identical_objects(remove_duplicates=True, remove_unreferenced=True)
            single = io.BytesIO()
            writer.write(single)
            trainee = attendance.trainee
            slug = slugify(f"{trainee.last_name} {trainee.first_name}")[:60] or "participant"
            archive.writestr(
                f"attestation-{number:03d}-{slug}-{codes[attendance.pk]}.pdf", single.getvalue()
            )
    data = buffer.getvalue()
    with transaction.atomic():
        bundle = AttestationBundle.objects.select_for_update().get(pk=bundle_id)
        if bundle.state != AttestationBundle.State.PENDING:
            return
        bundle.file.save(f"{uuid.uuid4().hex}.zip", ContentFile(data), save=False)
        bundle.sha256 = hashlib.sha256(data).hexdigest()
        bundle.count = len(attendances)
        bundle.state = AttestationBundle.State.READY
        bundle.finished_at = timezone.now()
        bundle.save()


def mark_bundle_failed(bundle_id: int) -> None:
    with transaction.atomic():
        bundle = AttestationBundle.objects.select_for_update().filter(pk=bundle_id).first()
        if bundle is not None and bundle.state == AttestationBundle.State.PENDING:
            _fail(bundle, timezone.now())


# Headcounts ----------------------------------------------------------------------------------


@transaction.atomic
def do_save_headcount(
    *, scope: Commune | Department, year: int, service: str, headcount: int, acting_user: Any
) -> ServiceHeadcount:
    """Enter or correct the headcount of a service for a year (one row per service and year)."""
    from .normalise import normalise_key

    lookup: dict[str, Any] = {"year": year, "service_key": normalise_key(service)}
    if isinstance(scope, Commune):
        lookup["commune"] = scope
    else:
        lookup["department"] = scope
    row = ServiceHeadcount.objects.filter(**lookup).first()
    if row is None:
        row = ServiceHeadcount(**{k: v for k, v in lookup.items() if k != "service_key"})
    row.service = service.strip()
    row.headcount = headcount
    row.save()
    return row


@transaction.atomic
def do_delete_headcount(row: ServiceHeadcount, *, acting_user: Any) -> None:
    row.delete()
