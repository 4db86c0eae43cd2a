"""Retention of referrals (CNIL AU-038): what is due under which rule, anonymisation, the deletion
of forgotten drafts, legal holds. The periods are in ``cmer.retention.rules``; the daily job
(``cmer.retention.runner``) and the DPO's pages call this module.

**Anonymisation** erases, in a few statements per batch of referrals (never one per row):

- on the referral, every encrypted field (found by type: identity, facts, place) and
  ``rules.REFERRAL_CLEAR_FIELDS_ERASED`` (blind indexes, date of the facts, filing service);
- on every model that points to a referral (found from the referral's reverse relations,
  hidden ones included, so a new one is covered without anyone remembering it): its encrypted
  fields (notes, addenda, reasons, the transmission's reason, State information, a legal
  hold's reason), or the rows themselves for attachments (files deleted from storage and
  checked gone), access reasons and grants;
- on the agenda of a meeting: the item keeps the pseudonym line as its title ("TAR-2026-0007 —
  J. D., 16–17 ans") and loses its link to the referral; a decision loses its link to the
  referral's timeline entry.

It keeps the reference, the dates, categories, status, urgency, age group and age bracket (as of
filing, ``cases.age_brackets``), source, outcome and commune: the statistics read nothing else. The
writes bypass django-auditlog on purpose (one entry per row would name thousands of rows for one
decision): each run records one explicit audit entry with its counts, and its signed certificate
lists the references.

Information from the State **not linked to a referral** has its own rule (``state_info``, see
``cmer.retention.rules``): erased (every encrypted field) at the end of the intermediate archive
counted from its receipt, or deleted when the liaison never sent it.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import ForeignObjectRel, Max, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from cmer.crypto import EncryptedTextField
from cmer.retention import registry
from cmer.retention.registry import DueItem, FilesNotRemoved, Holds, Removed, Scope
from cmer.retention.rules import REFERRAL_CLEAR_FIELDS_ERASED, Rule, add_years, periods

from . import files
from .models import (
    AccessReason,
    Attachment,
    LegalHold,
    Referral,
    ReferralGroupObjectPermission,
    ReferralUserObjectPermission,
    StateInformation,
)

Status = Referral.Status
# Rows that go entirely with the referral's content (the rest keep their row, content erased).
DELETED_WITH_CONTENT: tuple[type[models.Model], ...] = (
    Attachment,
    AccessReason,
    ReferralUserObjectPermission,
    ReferralGroupObjectPermission,
)
LEGAL_HOLD_MAX_YEARS = 10


def local_date(moment: datetime.datetime) -> datetime.date:
    return timezone.localtime(moment).date()


def day_start(day: datetime.date) -> datetime.datetime:
    """Local midnight starting ``day``, aware."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def encrypted_field_names(model: type[models.Model]) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]


def dependents() -> list[tuple[type[models.Model], str]]:
    """(model, name of its foreign key to Referral) for every model pointing to a referral."""
    found = []
    # Hidden relations too (``related_name="+"``: access reasons, group grants).
    for relation in Referral._meta.get_fields(include_hidden=True):
        if relation.auto_created and not relation.concrete and not relation.many_to_many:
            # Auto-created and not concrete: a reverse relation (ForeignObjectRel).
            reverse = cast(ForeignObjectRel, relation)
            found.append((reverse.related_model, reverse.field.name))
    return found


def _on_delete(model: type[models.Model], key: str) -> Any:
    """What ``model``'s foreign key ``key`` to Referral (``dependents()``) does on deletion."""
    return cast(models.ForeignKey, model._meta.get_field(key)).remote_field.on_delete


def _scoped(queryset: QuerySet, commune_ids: Iterable[int] | None) -> QuerySet:
    return queryset if commune_ids is None else queryset.filter(commune_id__in=list(commune_ids))


def running_holds(on: datetime.date) -> QuerySet[LegalHold]:
    """Holds that still suspend the rules on ``on``: not ended, not lifted."""
    return LegalHold.objects.filter(until__gte=on, lifted_at__isnull=True)


def holds_until(referral_ids: Iterable[int], on: datetime.date) -> dict[int, datetime.date]:
    """The end of the latest legal hold still running on ``on``, per held referral. One query."""
    return dict(
        running_holds(on)
        .filter(referral_id__in=list(referral_ids))
        .values("referral_id")
        .annotate(last=Max("until"))
        .values_list("referral_id", "last")
    )


def due_drafts(until: datetime.date, commune_ids: Iterable[int] | None = None) -> list[DueItem]:
    """Drafts never submitted, due ``draft_days`` after their last change, on or before
    ``until``."""
    days = periods().draft_days
    latest_change = day_start(until - datetime.timedelta(days=days - 1))
    rows = _scoped(
        Referral.objects.filter(status=Status.DRAFT, updated_at__lt=latest_change), commune_ids
    ).values_list("pk", "commune_id", "updated_at")
    return [
        DueItem(
            Rule.DRAFT,
            pk,
            f"brouillon-{pk}",
            commune,
            local_date(updated) + datetime.timedelta(days=days),
        )
        for pk, commune, updated in rows
    ]


def _archive_items(until: datetime.date, commune_ids: Iterable[int] | None) -> list[DueItem]:
    years = periods().archive_years
    limit = day_start(add_years(until, -years) + datetime.timedelta(days=1))
    rows = (
        _scoped(
            Referral.objects.filter(
                status__in=(Status.CLOSED, Status.ARCHIVED), anonymised_at__isnull=True
            ),
            commune_ids,
        )
        .annotate(since=Coalesce("archived_at", "closed_at", "updated_at"))
        .filter(since__lt=limit)
        .values_list("pk", "reference", "commune_id", "since")
    )
    return [
        DueItem(Rule.ARCHIVE, pk, reference, commune, add_years(local_date(since), years))
        for pk, reference, commune, since in rows
    ]


def age_limit_day(
    birth_date: str, approximate_age: str, filed: datetime.date, limit: int
) -> datetime.date | None:
    """The day the person reaches ``limit`` years: from the birth date, else the earliest day
    it can be from the age given at filing (never a day late), else None (unknown)."""
    if birth_date:
        try:
            return add_years(datetime.date.fromisoformat(birth_date), limit)
        except ValueError:
            pass
    try:
        age = int(approximate_age)
    except (TypeError, ValueError):
        return None
    if age >= limit:
        return filed
    # Aged ``age`` on the filing day: born at most age + 1 years before, the day after.
    return add_years(filed, limit - age - 1) + datetime.timedelta(days=1)


def _age_items(until: datetime.date, commune_ids: Iterable[int] | None) -> list[DueItem]:
    """Birth dates are encrypted: read (id, birth date, age, filing date) and compute in Python,
    in chunks; only referrals not anonymised that hold a birth date or an age."""
    limit = periods().age_limit
    rows = (
        _scoped(Referral.objects.filter(anonymised_at__isnull=True), commune_ids)
        .exclude(status=Status.DRAFT)
        .exclude(birth_date="", approximate_age="")
        .values_list(
            "pk",
            "reference",
            "commune_id",
            "birth_date",
            "approximate_age",
            "submitted_at",
            "created_at",
        )
    )
    items = []
    for pk, reference, commune, birth, age, submitted, created in rows.iterator(chunk_size=2000):
        day = age_limit_day(birth, age, local_date(submitted or created), limit)
        if day is not None and day <= until:
            items.append(DueItem(Rule.AGE_LIMIT, pk, reference, commune, day))
    return items


def due_referrals(
    until: datetime.date,
    *,
    age_rule: bool,
    commune_ids: Iterable[int] | None = None,
    today: datetime.date | None = None,
) -> list[DueItem]:
    """Every referral due on or before ``until``: forgotten drafts, end of the archive, the age
    limit (when ``age_rule``). One item per referral, under the rule that falls first (the
    archive on a tie). Held referrals carry the end of their hold when it runs past
    ``max(today, due day)``: they are skipped."""
    today = today or timezone.localdate()
    commune_ids = None if commune_ids is None else list(commune_ids)
    by_referral: dict[int, DueItem] = {}
    candidates = _archive_items(until, commune_ids)
    if age_rule:
        candidates += _age_items(until, commune_ids)
    order = {Rule.ARCHIVE: 0, Rule.AGE_LIMIT: 1}
    for item in candidates:
        current = by_referral.get(item.pk)
        if current is None or (item.due_on, order[item.rule]) < (
            current.due_on,
            order[current.rule],
        ):
            by_referral[item.pk] = item
    holds = holds_until(by_referral, today)
    items = due_drafts(until, commune_ids)
    for pk, item in by_referral.items():
        end = holds.get(pk)
        if end is not None and end >= max(today, item.due_on):
            item = DueItem(item.rule, pk, item.label, item.commune_id, item.due_on, end)
        items.append(item)
    return sorted(items, key=lambda i: (i.due_on, i.label))


def _state_information_limits(until: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """(received before, created before): what is due on or before ``until`` under the
    ``state_info`` rule (``cmer.retention.rules``: the intermediate archive from receipt; a
    draft never sent, like a forgotten referral draft)."""
    p = periods()
    received = day_start(add_years(until, -p.archive_years) + datetime.timedelta(days=1))
    created = day_start(until - datetime.timedelta(days=p.draft_days - 1))
    return received, created


def _state_information_due(until: datetime.date) -> QuerySet[StateInformation]:
    """Information not linked to a referral (linked, it is erased with its referral) due on or
    before ``until``. ``content`` is required: an empty one was erased by an earlier run, so a
    second run finds nothing more (the model has no ``anonymised_at``)."""
    received, created = _state_information_limits(until)
    InfoStatus = StateInformation.Status
    return StateInformation.objects.filter(referral__isnull=True).filter(
        Q(status=InfoStatus.SENT, sent_at__lt=received) & ~Q(content="")
        | Q(status=InfoStatus.DRAFT, created_at__lt=created)
    )


def due_state_information(
    until: datetime.date, commune_ids: Iterable[int] | None = None
) -> list[DueItem]:
    p = periods()
    rows = _scoped(_state_information_due(until), commune_ids).values_list(
        "pk", "commune_id", "status", "sent_at", "created_at"
    )
    items = []
    for pk, commune, status, sent_at, created_at in rows:
        if status == StateInformation.Status.SENT:
            day = add_years(local_date(sent_at), p.archive_years)
        else:
            day = local_date(created_at) + datetime.timedelta(days=p.draft_days)
        items.append(DueItem(Rule.STATE_INFO, pk, f"information-{pk}", commune, day))
    return sorted(items, key=lambda i: (i.due_on, i.pk))


# --- writes --------------------------------------------------------------------------------------


def _erase_rows(queryset: QuerySet) -> int:
    """DELETE in one statement, without django-auditlog's per-row entries (see the module's
    docstring: the run records one entry). Only for rows with no dependent rows left."""
    return queryset._raw_delete(queryset.db)


def _remove_files(names: list[str]) -> int:
    for name in names:
        files.delete_stored(name)
    remaining = [name for name in names if files.stored_path(name).exists()]
    if remaining:
        raise FilesNotRemoved(f"{len(remaining)} attachment file(s) still stored")
    return len(names)


def _unlink_agenda(ids: list[int]) -> None:
    """The meeting keeps the pseudonym line, computed now (before the identity goes) for the
    meeting's day, and loses the link to the referral."""
    from meetings.models import AgendaItem, Decision
    from meetings.pseudonym import label

    items = AgendaItem.objects.filter(referral_id__in=ids).select_related("referral", "meeting")
    for item in items:
        title = label(item.referral, item.meeting.local_day)[:200]
        AgendaItem.objects.filter(pk=item.pk).update(title=title, referral=None)
    Decision.objects.filter(timeline_entry__referral_id__in=ids).update(timeline_entry=None)


def anonymise_referrals(ids: Iterable[int], *, today: datetime.date | None = None) -> Removed:
    """Anonymise these referrals in one transaction (see the module's docstring). Re-checked
    under a row lock: one anonymised meanwhile, or held since it was planned, is left alone.
    The attachment files are deleted and checked gone before the commit; if one stays, the
    whole batch is rolled back (``FilesNotRemoved``) and the next run tries again."""
    today = today or timezone.localdate()
    now = timezone.now()
    with transaction.atomic():
        held = running_holds(today).values("referral_id")
        rows = list(
            Referral.objects.select_for_update()
            .filter(pk__in=list(ids), anonymised_at__isnull=True)
            .exclude(status=Status.DRAFT)
            .exclude(pk__in=held)
            .order_by("pk")
            .values_list("pk", "reference")
        )
        if not rows:
            return Removed([])
        locked = [pk for pk, _reference in rows]
        stored = list(
            Attachment.objects.filter(referral_id__in=locked).values_list("stored_name", flat=True)
        )
        _unlink_agenda(locked)
        deleted = 0
        for model, key in dependents():
            if model._meta.label == "meetings.AgendaItem":
                continue  # _unlink_agenda
            queryset = model._base_manager.filter(**{f"{key}__in": locked})
            if model in DELETED_WITH_CONTENT:
                deleted += _erase_rows(queryset)
                continue
            names = encrypted_field_names(model)
            if names:
                queryset.update(**dict.fromkeys(names, ""))
        erased: dict[str, Any] = dict.fromkeys(encrypted_field_names(Referral), "")
        for name in REFERRAL_CLEAR_FIELDS_ERASED:
            erased[name] = None if Referral._meta.get_field(name).null else ""
        Referral.objects.filter(pk__in=locked).update(anonymised_at=now, **erased)
        removed = _remove_files(stored)
    return Removed([reference for _pk, reference in rows], deleted, removed)


def erase_state_information(ids: Iterable[int], *, today: datetime.date | None = None) -> Removed:
    """Erase (received) or delete (never sent) this information not linked to a referral, in
    one transaction of a few statements; re-checked under a row lock, so one sent, linked or
    erased since it was planned is left alone. Like anonymisation, the writes bypass
    django-auditlog: the run records one entry with its counts."""
    today = today or timezone.localdate()
    with transaction.atomic():
        rows = list(
            _state_information_due(today)
            .select_for_update()
            .filter(pk__in=list(ids))
            .order_by("pk")
            .values_list("pk", "status")
        )
        drafts = [pk for pk, status in rows if status == StateInformation.Status.DRAFT]
        received = [pk for pk, status in rows if status != StateInformation.Status.DRAFT]
        deleted = _erase_rows(StateInformation.objects.filter(pk__in=drafts)) if drafts else 0
        if received:
            StateInformation.objects.filter(pk__in=received).update(
                **dict.fromkeys(encrypted_field_names(StateInformation), "")
            )
    return Removed([f"information-{pk}" for pk, _status in rows], deleted)


def delete_drafts(ids: Iterable[int], *, until: datetime.date | None = None) -> Removed:
    """Delete these forgotten drafts and their attachments (files checked gone), re-checked
    under a row lock: a draft changed or submitted since it was planned is left alone."""
    until = until or timezone.localdate()
    latest_change = day_start(until - datetime.timedelta(days=periods().draft_days - 1))
    with transaction.atomic():
        locked = list(
            Referral.objects.select_for_update()
            .filter(pk__in=list(ids), status=Status.DRAFT, updated_at__lt=latest_change)
            .values_list("pk", flat=True)
        )
        # A row that protects its referral (a legal hold, an agenda item, State information)
        # is never erased with a draft: such a draft waits (none should exist: they need a
        # reference).
        for model, key in dependents():
            if _on_delete(model, key) is models.PROTECT:
                kept = model._base_manager.filter(**{f"{key}__in": locked}).values_list(key)
                kept_ids = {pk for (pk,) in kept}
                locked = [pk for pk in locked if pk not in kept_ids]
        if not locked:
            return Removed([])
        stored = list(
            Attachment.objects.filter(referral_id__in=locked).values_list("stored_name", flat=True)
        )
        for model, key in dependents():
            if _on_delete(model, key) is not models.PROTECT:
                _erase_rows(model._base_manager.filter(**{f"{key}__in": locked}))
        _erase_rows(Referral.objects.filter(pk__in=locked))
        removed = _remove_files(stored)
    return Removed([f"brouillon-{pk}" for pk in locked], len(locked), removed)


def do_place_legal_hold(
    *,
    reference: str,
    reason: str,
    until: datetime.date | None,
    commune_ids: Iterable[int],
    acting_user: Any,
) -> LegalHold:
    """The DPO suspends retention for one referral of their communes, with a reason and an end
    date; recorded in the trail (the hold's creation, named by the referral's reference; the
    reason is masked there, kept encrypted here). Refused with a reason, nothing written."""
    reference = reference.strip().upper()
    reason = reason.strip()
    today = timezone.localdate()
    errors = []
    if not reference:
        errors.append(_("Indiquez la référence du signalement (par exemple TAR-2026-0007)."))
    if not reason:
        errors.append(_("Indiquez le motif du gel (réquisition, procédure en cours)."))
    if until is None:
        errors.append(_("Indiquez la date de fin du gel."))
    elif until <= today:
        errors.append(_("La date de fin du gel doit être dans le futur."))
    elif until > add_years(today, LEGAL_HOLD_MAX_YEARS):
        errors.append(
            _("Un gel dure au plus %(n)s ans : posez-en un nouveau à son terme si besoin.")
            % {"n": LEGAL_HOLD_MAX_YEARS}
        )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        referral = (
            Referral.objects.select_for_update()
            .filter(Q(reference=reference), commune_id__in=list(commune_ids))
            .first()
        )
        if referral is None:
            raise ValidationError(
                _("Aucun signalement de votre département ne porte la référence %(reference)s.")
                % {"reference": reference}
            )
        if referral.anonymised_at is not None:
            raise ValidationError(
                _("Ce signalement est déjà anonymisé : il ne reste rien à conserver.")
            )
        return LegalHold.objects.create(
            referral=referral,
            reason=reason,
            until=cast(datetime.date, until),  # None is refused above
            placed_by=acting_user,
        )


LIFT_REASON_MIN_LENGTH = 10


def holds_of(commune_ids: Iterable[int]) -> QuerySet[LegalHold]:
    """Every hold (running, ended or lifted) on a referral of these communes: what the DPO of
    those communes may lift. Anything else is a 404 (``cmer.permissions.get_or_404``)."""
    return LegalHold.objects.filter(referral__commune_id__in=list(commune_ids)).select_related(
        "referral"
    )


def do_lift_legal_hold(hold: LegalHold, *, reason: str, acting_user: Any) -> LegalHold:
    """The DPO lifts a running hold before its end (the judicial request is over), with a
    reason. The referral is subject to the rules again from the next run. Recorded in the trail
    by django-auditlog's entry of the change (named by the referral's reference; the reason is
    masked there, kept encrypted here and erased with the referral). Refused with a reason,
    nothing written: no reason, a hold already lifted or ended."""
    reason = reason.strip()
    if len(reason) < LIFT_REASON_MIN_LENGTH:
        raise ValidationError(
            _("Indiquez le motif de la levée (au moins %(n)s caractères).")
            % {"n": LIFT_REASON_MIN_LENGTH}
        )
    today = timezone.localdate()
    with transaction.atomic():
        # Locked: two DPOs lifting the same hold, or a run anonymising the referral meanwhile.
        hold = LegalHold.objects.select_for_update().get(pk=hold.pk)
        if hold.lifted_at is not None:
            raise ValidationError(
                _("Ce gel a déjà été levé le %(day)s.")
                % {"day": local_date(hold.lifted_at).strftime("%d/%m/%Y")}
            )
        if hold.until < today:
            raise ValidationError(
                _("Ce gel a déjà pris fin le %(day)s : il n'y a rien à lever.")
                % {"day": hold.until.strftime("%d/%m/%Y")}
            )
        hold.lifted_at = timezone.now()
        hold.lifted_by = acting_user
        hold.lift_reason = reason
        hold.save(update_fields=sorted(LegalHold.LIFT_FIELDS))
    return hold


def active_holds(commune_ids: Iterable[int], on: datetime.date | None = None) -> QuerySet:
    """Holds still running, newest first, for the DPO's page (reference and dates only)."""
    on = on or timezone.localdate()
    return (
        running_holds(on)
        .filter(referral__commune_id__in=list(commune_ids))
        .select_related("referral", "placed_by")
        .only(
            "until",
            "placed_at",
            "referral__reference",
            "referral__commune_id",
            "placed_by__email",
            "placed_by__first_name",
            "placed_by__last_name",
        )
    )


def _due(scope: Scope) -> list[DueItem]:
    return due_referrals(
        scope.until, age_rule=scope.age_rule, commune_ids=scope.commune_ids, today=scope.today
    ) + due_state_information(scope.until, scope.commune_ids)


def _delete_drafts(ids: list[int], today: datetime.date) -> Removed:
    return delete_drafts(ids, until=today)


def _anonymise(ids: list[int], today: datetime.date) -> Removed:
    return anonymise_referrals(ids, today=today)


def _erase_state_information(ids: list[int], today: datetime.date) -> Removed:
    return erase_state_information(ids, today=today)


def register() -> None:
    """Called by ``CasesConfig.ready``: the referral rules and the legal holds, for the core."""
    registry.register(
        "cases",
        due=_due,
        apply={
            Rule.DRAFT: _delete_drafts,
            Rule.ARCHIVE: _anonymise,
            Rule.AGE_LIMIT: _anonymise,
            Rule.STATE_INFO: _erase_state_information,
        },
    )
    registry.register_holds(
        Holds(
            place=do_place_legal_hold,
            running=active_holds,
            of=holds_of,
            lift=do_lift_legal_hold,
        )
    )
