"""Write side of referrals. Every change happens here, in a transaction, with its audit trace.

Views call ``do_*`` functions after checking capabilities through ``cases.access``; each function
re-checks the state it depends on under a row lock, so two referents clicking at once cannot
produce two references or two transmissions.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from cmer import antivirus
from cmer.accounts.models import Commune, Role
from cmer.audit.core import record_event
from cmer.audit.models import Event
from cmer.crypto import blind_index, normalise_name
from cmer.queue import enqueue_on_commit

from . import age_brackets, files, tasks
from .access import can_transmit
from .models import (
    AccessReason,
    Attachment,
    Referral,
    ReferralUserObjectPermission,
    StateInformation,
    TimelineEntry,
    Transmission,
)

Status = Referral.Status

# Status changes the referent makes by hand (transmission and archiving have their own actions).
MANUAL_TRANSITIONS: dict[str, set[str]] = {
    Status.SUBMITTED: {Status.IN_ASSESSMENT, Status.CLOSED},
    Status.IN_ASSESSMENT: {Status.FOLLOWED_UP, Status.CLOSED},
    Status.FOLLOWED_UP: {Status.CLOSED},
    Status.TRANSMITTED: {Status.FOLLOWED_UP, Status.CLOSED},
}


@dataclass
class ReferralContent:
    surname: str = ""
    first_names: str = ""
    birth_date: datetime.date | None = None
    approximate_age: int | None = None
    residence_commune: str = ""
    address: str = ""
    age_group: str = Referral.AgeGroup.UNKNOWN
    facts: str = ""
    facts_place: str = ""
    facts_date: datetime.date | None = None
    source: str = ""
    author_service: str = ""
    urgency: str = Referral.Urgency.NORMAL
    categories: Iterable[Any] = ()


def person_indexes(surname: str, first_names: str, birth_year: int | str | None) -> tuple[str, str]:
    """Blind indexes (name, name + birth year); empty when there is no full name."""
    name = normalise_name(surname), normalise_name(first_names)
    if not all(name):
        return "", ""
    year = str(birth_year or "")
    return blind_index(*name), (blind_index(*name, year) if year else "")


def _birth_year(content: ReferralContent) -> int | None:
    # An approximate age is too fuzzy for an exact index; the name index still warns.
    return content.birth_date.year if content.birth_date else None


def _apply_content(referral: Referral, content: ReferralContent) -> None:
    referral.surname = content.surname.strip()
    referral.first_names = content.first_names.strip()
    referral.birth_date = content.birth_date.isoformat() if content.birth_date else ""
    referral.approximate_age = (
        str(content.approximate_age) if content.approximate_age is not None else ""
    )
    referral.residence_commune = content.residence_commune.strip()
    referral.address = content.address.strip()
    referral.age_group = content.age_group or Referral.AgeGroup.UNKNOWN
    if content.birth_date:
        today = timezone.localdate()
        adult = (today.year - content.birth_date.year) - (
            (today.month, today.day) < (content.birth_date.month, content.birth_date.day)
        ) >= 18
        referral.age_group = Referral.AgeGroup.ADULT if adult else Referral.AgeGroup.MINOR
    elif content.approximate_age is not None and referral.age_group == Referral.AgeGroup.UNKNOWN:
        referral.age_group = (
            Referral.AgeGroup.ADULT if content.approximate_age >= 18 else Referral.AgeGroup.MINOR
        )
    _set_age_bracket(referral)
    referral.facts = content.facts.strip()
    referral.facts_place = content.facts_place.strip()
    referral.facts_date = content.facts_date
    referral.source = content.source
    referral.author_service = content.author_service.strip()
    referral.urgency = content.urgency
    referral.name_index, referral.name_year_index = person_indexes(
        referral.surname, referral.first_names, _birth_year(content)
    )


def _set_age_bracket(referral: Referral) -> None:
    """The bracket as of the filing day (today for a draft: set again when it is filed, after
    which the date of birth and age are frozen, so it never drifts)."""
    referral.age_bracket = age_brackets.bracket_for(
        birth_date=referral.birth_date,
        approximate_age=referral.approximate_age,
        age_group=referral.age_group,
        filed_on=age_brackets.filing_day(referral.submitted_at),
    )


def _require_clean(
    checked: list[files.CheckedFile],
    *,
    acting_user: Any,
    commune: Commune,
    referral: Referral | None,
) -> None:
    """Every file past the antivirus before the transaction that stores any of them: a
    detection's audit entry must outlive the refusal (see ``cmer.antivirus``)."""
    for item in checked:
        antivirus.require_clean(
            item.content,
            where="cases.attachment",
            acting_user=acting_user,
            target=referral,
            target_model=Referral,
            commune=commune,
        )


def _store_attachments(
    referral: Referral, checked: list[files.CheckedFile], acting_user: Any
) -> None:
    written: list[str] = []
    try:
        for item in checked:
            name = files.write_encrypted(item.content)
            written.append(name)
            Attachment.objects.create(
                referral=referral,
                stored_name=name,
                display_name=item.display_name,
                content_type=item.content_type,
                size=len(item.content),
                sha256=item.sha256,
                uploaded_by=acting_user,
            )
    except Exception:
        for name in written:
            files.delete_stored(name)
        raise


def do_save_draft(
    *,
    acting_user: Any,
    commune: Commune,
    content: ReferralContent,
    attachments: list[files.CheckedFile],
    referral: Referral | None = None,
) -> Referral:
    """Create or update a draft. Only its author edits it, only while it is a draft."""
    _require_clean(attachments, acting_user=acting_user, commune=commune, referral=referral)
    with transaction.atomic():
        if referral is None:
            referral = Referral(commune=commune, author=acting_user)
        else:
            referral = Referral.objects.select_for_update().get(pk=referral.pk)
            if referral.author_id != acting_user.pk or not referral.is_draft:
                raise ValidationError(_("Ce signalement n'est plus modifiable."))
        _apply_content(referral, content)
        referral.save()
        referral.categories.set(list(content.categories))
        _store_attachments(referral, attachments, acting_user)
    return referral


def validate_for_submission(referral: Referral) -> None:
    errors = []
    if not referral.has_identity():
        errors.append(_("Indiquez au moins un élément d'identification de la personne."))
    if not referral.facts:
        errors.append(_("Décrivez les faits observés."))
    if not referral.source:
        errors.append(_("Indiquez l'origine du signalement."))
    if errors:
        raise ValidationError(errors)


def _next_number(commune: Commune, year: int) -> int:
    # The commune row lock serialises numbering per commune; the unique constraint backs it.
    Commune.objects.select_for_update().get(pk=commune.pk)
    current = Referral.objects.filter(commune=commune, year=year).aggregate(m=Max("number"))["m"]
    return (current or 0) + 1


def _record_status(
    referral: Referral, to_status: str, *, acting_user: Any, reason: str = ""
) -> None:
    """Save ``referral`` (locked by the caller) in ``to_status`` and write the timeline's
    status entry: every status change goes through here, so the timeline tells them all."""
    previous = referral.status
    referral.status = to_status
    referral.save()
    TimelineEntry.objects.create(
        referral=referral,
        kind=TimelineEntry.Kind.STATUS,
        author=acting_user,
        from_status=previous,
        to_status=to_status,
        reason=reason.strip(),
    )


def do_submit_referral(referral: Referral, *, acting_user: Any) -> Referral:
    """Freeze the text, give the reference, and alert the commune's referents."""
    with transaction.atomic():
        referral = Referral.objects.select_for_update().get(pk=referral.pk)
        if referral.author_id != acting_user.pk or not referral.is_draft:
            raise ValidationError(_("Ce signalement a déjà été déposé."))
        validate_for_submission(referral)
        now = timezone.now()
        year = timezone.localdate().year
        referral.year = year
        referral.number = _next_number(referral.commune, year)
        referral.reference = f"{referral.commune.reference_prefix}-{year}-{referral.number:04d}"
        referral.submitted_at = now
        _set_age_bracket(referral)
        _record_status(referral, Status.SUBMITTED, acting_user=acting_user)
        enqueue_on_commit(tasks.notify_referents, referral.pk, "submitted")
    return referral


def do_discard_draft(referral: Referral, *, acting_user: Any) -> None:
    with transaction.atomic():
        referral = Referral.objects.select_for_update().get(pk=referral.pk)
        if referral.author_id != acting_user.pk or not referral.is_draft:
            raise ValidationError(_("Seul un brouillon peut être supprimé."))
        names = list(referral.attachments.values_list("stored_name", flat=True))
        referral.delete()
        transaction.on_commit(lambda: files.delete_stored(*names))


def do_add_attachments(
    referral: Referral, checked: list[files.CheckedFile], *, acting_user: Any
) -> None:
    _require_clean(checked, acting_user=acting_user, commune=referral.commune, referral=referral)
    with transaction.atomic():
        _store_attachments(referral, checked, acting_user)


def do_add_timeline_entry(
    referral: Referral, *, kind: str, text: str, acting_user: Any, reason: str = ""
) -> TimelineEntry:
    if kind not in {TimelineEntry.Kind.NOTE, TimelineEntry.Kind.DECISION}:
        raise ValidationError(_("Type d'entrée inconnu."))
    with transaction.atomic():
        return TimelineEntry.objects.create(
            referral=referral, kind=kind, text=text.strip(), reason=reason, author=acting_user
        )


def do_add_addendum(referral: Referral, *, text: str, reason: str, acting_user: Any) -> None:
    if not reason.strip() or not text.strip():
        raise ValidationError(_("Un complément indique son texte et son motif."))
    with transaction.atomic():
        TimelineEntry.objects.create(
            referral=referral,
            kind=TimelineEntry.Kind.ADDENDUM,
            text=text.strip(),
            reason=reason.strip(),
            author=acting_user,
        )


def do_change_status(
    referral: Referral,
    *,
    to_status: str,
    acting_user: Any,
    reason: str = "",
    close_reason: str = "",
) -> Referral:
    with transaction.atomic():
        referral = Referral.objects.select_for_update().get(pk=referral.pk)
        allowed = MANUAL_TRANSITIONS.get(referral.status, set())
        if to_status not in allowed:
            raise ValidationError(_("Ce changement de statut n'est pas possible."))
        if to_status == Status.CLOSED:
            if close_reason not in Referral.CloseReason.values:
                raise ValidationError(_("Choisissez le motif de clôture."))
            referral.close_reason = close_reason
            referral.closed_at = timezone.now()
        _record_status(referral, to_status, acting_user=acting_user, reason=reason)
    return referral


def do_archive_referral(referral: Referral, *, acting_user: Any) -> Referral:
    with transaction.atomic():
        referral = Referral.objects.select_for_update().get(pk=referral.pk)
        if referral.status != Status.CLOSED:
            raise ValidationError(_("Seul un signalement clos peut être archivé."))
        referral.archived_at = timezone.now()
        _record_status(referral, Status.ARCHIVED, acting_user=acting_user)
        ReferralUserObjectPermission.objects.filter(content_object=referral).delete()
    return referral


def do_open_archive(request: Any, referral: Referral, *, reason: str) -> None:
    from .access import remember_archive_open

    with transaction.atomic():
        # The reason is content: kept encrypted, the trail names the row that holds it.
        stated = AccessReason.objects.create(
            referral=referral,
            kind=AccessReason.Kind.ARCHIVE_OPEN,
            reason=reason.strip(),
            author=request.user,
        )
        record_event(
            Event.ARCHIVE_READ, request=request, target=referral, data={"reason_id": stated.pk}
        )
    remember_archive_open(request, referral.pk)


def grantable_members(referral: Referral) -> QuerySet:
    from cmer.accounts.models import Membership, User

    member_ids = (
        Membership.objects.active()
        .filter(role=Role.CELL_MEMBER, commune=referral.commune)
        .values("user_id")
    )
    return User.objects.filter(pk__in=member_ids, is_active=True).order_by("last_name", "email")


def do_grant_access(
    referral: Referral,
    *,
    member: Any,
    contribute: bool,
    reason: str,
    expires_on: datetime.date,
    acting_user: Any,
) -> ReferralUserObjectPermission:
    if not grantable_members(referral).filter(pk=member.pk).exists():
        raise ValidationError(_("Cette personne n'est pas membre de la cellule de la commune."))
    if expires_on <= timezone.localdate():
        raise ValidationError(_("L'échéance doit être dans le futur."))
    if not reason.strip():
        raise ValidationError(_("Indiquez pourquoi cette personne doit en connaître."))
    codename = "contribute_referral" if contribute else "view_referral"
    expires_at = timezone.make_aware(
        datetime.datetime.combine(expires_on, datetime.time(23, 59, 59))
    )
    with transaction.atomic():
        ReferralUserObjectPermission.objects.filter(content_object=referral, user=member).delete()
        grant = ReferralUserObjectPermission.objects.create(
            content_object=referral,
            user=member,
            permission=Permission.objects.get(codename=codename, content_type__app_label="cases"),
            reason=reason.strip(),
            expires_at=expires_at,
            granted_by=acting_user,
        )
        record_event(
            Event.GRANT,
            actor=acting_user,
            target=referral,
            data={
                "grantee_id": member.pk,
                "grantee_email": member.email,
                "level": codename,
                "grant_id": grant.pk,  # the reason is on the grant, encrypted
                "expires_at": expires_at.isoformat(),
            },
        )
        enqueue_on_commit(tasks.notify_user, member.pk, referral.pk, "granted")
    return grant


def do_revoke_access(grant: ReferralUserObjectPermission, *, reason: str, acting_user: Any) -> None:
    with transaction.atomic():
        referral = grant.content_object
        # The reason is content: kept encrypted, the trail names the row that holds it.
        stated = AccessReason.objects.create(
            referral=referral,
            kind=AccessReason.Kind.REVOKE,
            reason=reason.strip(),
            author=acting_user,
        )
        record_event(
            Event.REVOKE,
            actor=acting_user,
            target=referral,
            data={
                "grantee_id": grant.user_id,
                "grantee_email": grant.user.email,
                "reason_id": stated.pk,
            },
        )
        grant.delete()


def do_transmit(
    referral: Referral, *, items: list[str], reason: str, acting_user: Any
) -> Transmission:
    with transaction.atomic():
        referral = (
            Referral.objects.select_for_update().select_related("commune").get(pk=referral.pk)
        )
        decision = can_transmit(referral)
        if not decision:
            raise ValidationError(decision.reason)
        if not items or not set(items) <= set(Transmission.Item.values):
            raise ValidationError(_("Choisissez ce qui est partagé avec la préfecture."))
        if not reason.strip():
            raise ValidationError(_("Indiquez le motif de la transmission."))
        try:
            transmission = Transmission.objects.create(
                referral=referral,
                transmitted_by=acting_user,
                shared_items=sorted(items),
                reason=reason.strip(),
            )
        except IntegrityError as exc:
            raise ValidationError(_("Ce signalement a déjà été transmis.")) from exc
        _record_status(referral, Status.TRANSMITTED, acting_user=acting_user, reason=reason)
        record_event(
            Event.TRANSMIT,
            actor=acting_user,
            target=referral,
            data={"shared_items": sorted(items)},
        )
        enqueue_on_commit(tasks.notify_liaisons, referral.pk)
    return transmission


def _feedback(
    referral: Referral, kind: str, text: str, acting_user: Any, notify: tuple[Any, ...]
) -> TimelineEntry:
    if not text.strip():
        raise ValidationError(_("Le retour est vide."))
    with transaction.atomic():
        entry = TimelineEntry.objects.create(
            referral=referral, kind=kind, text=text.strip(), author=acting_user
        )
        enqueue_on_commit(*notify)
    return entry


def do_prefecture_feedback(referral: Referral, *, text: str, acting_user: Any) -> TimelineEntry:
    """The liaison's feedback on a transmitted referral; the commune's referents are told."""
    notify = (tasks.notify_referents, referral.pk, "feedback")
    return _feedback(referral, TimelineEntry.Kind.PREFECTURE_FEEDBACK, text, acting_user, notify)


def do_agent_feedback(referral: Referral, *, text: str, acting_user: Any) -> TimelineEntry:
    """What the referent chooses to tell the reporting agent; the agent is told."""
    notify = (tasks.notify_user, referral.author_id, referral.pk, "feedback")
    return _feedback(referral, TimelineEntry.Kind.AGENT_FEEDBACK, text, acting_user, notify)


def do_save_state_information(info: StateInformation, *, acting_user: Any) -> StateInformation:
    with transaction.atomic():
        # A referral_id: the referral exists (a foreign key).
        if info.referral_id and cast(Referral, info.referral).commune_id != info.commune_id:
            raise ValidationError(_("Le signalement choisi n'appartient pas à cette commune."))
        info.author = acting_user
        info.save()
    return info


# What the liaison's form (``StateInformationForm``) gives a new State information.
STATE_INFORMATION_FIELDS = (
    "commune",
    "case",
    "person",
    "content",
    "prosecutor_agreement_by",
    "prosecutor_agreed_on",
    "services_agreement_by",
    "services_agreed_on",
)


def do_create_state_information(
    data: dict[str, Any], *, referral: Referral | None, acting_user: Any
) -> StateInformation:
    """A new, unsent State information from the liaison's valid form (``referral`` found by
    ``access.transmitted_by_reference``, or none)."""
    info = StateInformation(
        referral=referral, **{name: data[name] for name in STATE_INFORMATION_FIELDS}
    )
    return do_save_state_information(info, acting_user=acting_user)


def do_send_state_information(info: StateInformation, *, acting_user: Any) -> StateInformation:
    with transaction.atomic():
        info = StateInformation.objects.select_for_update().get(pk=info.pk)
        if info.status == StateInformation.Status.SENT:
            raise ValidationError(_("Cette information a déjà été envoyée."))
        if not info.agreements_recorded():
            raise ValidationError(
                _(
                    "L'accord du parquet et celui des services (qui, quand) doivent être "
                    "enregistrés avant l'envoi."
                )
            )
        info.status = StateInformation.Status.SENT
        info.sent_at = timezone.now()
        info.save()
        enqueue_on_commit(tasks.notify_commune_referents, info.commune_id, "state_information")
    return info


def _same_person_q(name_index: str, name_year_index: str) -> Q:
    # Same normalised name, and the same birth year when both sides know it.
    q = Q(name_index=name_index)
    if name_year_index:
        q &= Q(name_year_index=name_year_index) | Q(name_year_index="")
    return q


def duplicates_of(referral: Referral) -> QuerySet[Referral]:
    """Other referrals of the same commune about the same person (blind index match)."""
    if not referral.name_index:
        return Referral.objects.none()
    return (
        Referral.objects.filter(
            _same_person_q(referral.name_index, referral.name_year_index),
            commune_id=referral.commune_id,
        )
        .exclude(pk=referral.pk)
        .exclude(status=Status.DRAFT)
        .order_by("-submitted_at")
    )


def search_person(
    commune_ids: Iterable[int], *, surname: str, first_names: str, birth_year: int | None
) -> QuerySet[Referral]:
    """Find referrals about a person through the blind index only (no plaintext search)."""
    name_index, name_year_index = person_indexes(surname, first_names, birth_year)
    if not name_index:
        return Referral.objects.none()
    return Referral.objects.filter(
        _same_person_q(name_index, name_year_index), commune_id__in=list(commune_ids)
    ).exclude(status=Status.DRAFT)
