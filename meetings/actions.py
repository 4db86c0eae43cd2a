"""Write side of meetings. Every change happens here, in a transaction, with its audit trace.

Views check capabilities through ``meetings.access``; each action re-reads the meeting under a
row lock and re-checks the state it depends on (planned, held, locked), so a crafted POST, or two
clicks at once, cannot change approved minutes or approve twice. Model ``save()`` refuses the
same (models.py). Side effects (e-mails, the PDF) are queued through the outbox with ids only.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from cmer import permissions
from cmer.accounts.models import Commune, Role
from cmer.audit.core import record_event
from cmer.audit.models import Event
from cmer.queue import enqueue_on_commit

from . import access, tasks
from .models import (
    ActionItem,
    AgendaItem,
    Attendance,
    Decision,
    ExternalParticipant,
    Invitation,
    Meeting,
    MinutesAddendum,
    MinutesDocument,
    ReviewComment,
    locked_message,
)

if TYPE_CHECKING:
    from cases.models import Referral

Status = Meeting.Status
Minutes = Meeting.Minutes


def _locked_meeting(meeting: Meeting) -> Meeting:
    return Meeting.objects.select_for_update().select_related("commune").get(pk=meeting.pk)


def _require_referent(user: Any, commune: Commune) -> None:
    if not permissions.has_role(user, commune, Role.REFERENT):
        raise ValidationError(_("Seul le référent de la commune organise ses réunions."))


def _require_editable(meeting: Meeting) -> None:
    if meeting.is_locked:
        raise ValidationError(locked_message())
    if meeting.status == Status.CANCELLED:
        raise ValidationError(_("Cette réunion est annulée."))


def _require_held(meeting: Meeting) -> None:
    _require_editable(meeting)
    if meeting.status != Status.HELD:
        raise ValidationError(_("Indiquez d'abord que la réunion s'est tenue."))


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _refuse_names(meeting: Meeting, acting_user: Any, *texts: str) -> None:
    """Minutes name a referral by its reference and pseudonym only: refuse a text that holds
    the surname or a first name of a person whose referral is on this meeting's agenda.

    Only the referrals ``acting_user`` may read are checked, so that the refusal never tells
    someone a name they could not read (a member proposing a correction learns nothing).
    """
    items = list(
        AgendaItem.objects.filter(meeting=meeting, referral__isnull=False).select_related(
            "referral"
        )
    )
    readable = access.readable_referral_ids(
        acting_user, [item.referral_id for item in items if item.referral_id is not None]
    )
    folded = _folded(" ".join(texts))
    for item in items:
        if item.referral_id not in readable:
            continue
        referral = cast("Referral", item.referral)  # items filtered on referral__isnull=False
        names = [_folded(referral.surname).strip()]
        names += [_folded(part) for part in re.split(r"[\s,]+", referral.first_names)]
        for name in names:
            if len(name) < (2 if name == names[0] else 3):
                continue
            if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", folded):
                raise ValidationError(
                    _(
                        "Ce texte contient le nom ou le prénom de la personne du signalement "
                        "%(reference)s : dans le compte rendu, désignez-la par sa référence et "
                        "son pseudonyme."
                    )
                    % {"reference": referral.reference}
                )


def _check_schedule(starts_at: datetime.datetime, duration_minutes: int) -> None:
    if starts_at <= timezone.now():
        raise ValidationError(_("Une réunion planifiée a lieu dans le futur : vérifiez la date."))
    if not 15 <= duration_minutes <= 600:
        raise ValidationError(_("La durée doit être comprise entre 15 minutes et 10 heures."))


def _check_people(commune: Commune, chair: Any, invitees: Iterable[Any]) -> list[Any]:
    if not access.chair_choices(commune).filter(pk=chair.pk).exists():
        raise ValidationError(
            _("Le président de séance doit être membre ou référent de la cellule de la commune.")
        )
    people = {user.pk: user for user in invitees}
    people[chair.pk] = chair
    allowed = set(
        access.invitable_users(commune).filter(pk__in=list(people)).values_list("pk", flat=True)
    )
    refused = set(people) - allowed
    if refused:
        raise ValidationError(
            _(
                "Seuls les membres et le référent de la cellule de la commune, et le "
                "correspondant de la préfecture, peuvent être invités."
            )
        )
    return list(people.values())


def _check_chair_reads_agenda(meeting: Meeting, chair: Any) -> None:
    """A referral is on the agenda only if the chair may read it (issue 14), so the chair — a new
    one, or the same one kept while the meeting is moved, whose grant may have expired since —
    must read every referral already there. The refusal counts the items in the way and names
    none: neither a reference nor a person. An archived referral left on the agenda does not
    count: nobody reads an archive without stating a reason, so it would freeze the meeting."""
    from cases.models import Referral

    referral_ids = list(
        meeting.agenda_items.filter(referral__isnull=False)
        .exclude(referral__status=Referral.Status.ARCHIVED)
        .values_list("referral_id", flat=True)
    )
    blocking = len(set(referral_ids) - access.readable_referral_ids(chair, referral_ids))
    if blocking and chair.pk == meeting.chair_id:
        raise ValidationError(
            {
                "chair": ngettext(
                    "Le président de séance ne peut plus consulter %(count)d signalement "
                    "inscrit à l'ordre du jour (accès expiré ou retiré) : accordez-lui de "
                    "nouveau l'accès, ou changez de président.",
                    "Le président de séance ne peut plus consulter %(count)d signalements "
                    "inscrits à l'ordre du jour (accès expiré ou retiré) : accordez-lui de "
                    "nouveau l'accès, ou changez de président.",
                    blocking,
                )
                % {"count": blocking}
            }
        )
    if blocking:
        raise ValidationError(
            {
                "chair": ngettext(
                    "Le président de séance choisi ne peut pas consulter %(count)d signalement "
                    "inscrit à l'ordre du jour : accordez-lui l'accès, ou gardez le président "
                    "actuel.",
                    "Le président de séance choisi ne peut pas consulter %(count)d signalements "
                    "inscrits à l'ordre du jour : accordez-lui l'accès, ou gardez le président "
                    "actuel.",
                    blocking,
                )
                % {"count": blocking}
            }
        )


def _notify_invitees(meeting: Meeting) -> None:
    enqueue_on_commit(tasks.send_invitations, meeting.pk)


def do_plan_meeting(
    *,
    commune: Commune,
    starts_at: datetime.datetime,
    duration_minutes: int,
    place: str,
    chair: Any,
    invitees: Iterable[Any],
    acting_user: Any,
) -> Meeting:
    """Plan a meeting of ``commune``'s cell; the invitees get an e-mail with an ``.ics``."""
    _require_referent(acting_user, commune)
    _check_schedule(starts_at, duration_minutes)
    if not place.strip():
        raise ValidationError(_("Indiquez le lieu de la réunion."))
    people = _check_people(commune, chair, invitees)
    with transaction.atomic():
        meeting = Meeting.objects.create(
            commune=commune,
            starts_at=starts_at,
            duration_minutes=duration_minutes,
            place=place.strip(),
            chair=chair,
            created_by=acting_user,
        )
        for user in people:
            Invitation.objects.create(meeting=meeting, user=user)
        _notify_invitees(meeting)
    return meeting


def do_reschedule_meeting(
    meeting: Meeting,
    *,
    starts_at: datetime.datetime,
    duration_minutes: int,
    place: str,
    chair: Any,
    invitees: Iterable[Any],
    acting_user: Any,
) -> Meeting:
    """Change date, place, chair or invitees: everyone concerned is told (withdrawn ones too).
    The chair, new or kept, must be able to read every referral already on the agenda: checked
    at every change, since a grant may have expired or been revoked since the last one."""
    with transaction.atomic():
        meeting = _locked_meeting(meeting)
        _require_referent(acting_user, meeting.commune)
        if meeting.status != Status.PLANNED:
            raise ValidationError(_("Seule une réunion planifiée peut être modifiée."))
        _check_schedule(starts_at, duration_minutes)
        if not place.strip():
            raise ValidationError(_("Indiquez le lieu de la réunion."))
        people = {user.pk: user for user in _check_people(meeting.commune, chair, invitees)}
        _check_chair_reads_agenda(meeting, chair)
        meeting.starts_at = starts_at
        meeting.duration_minutes = duration_minutes
        meeting.place = place.strip()
        meeting.chair = chair
        meeting.sequence += 1
        meeting.save()
        now = timezone.now()
        current = {inv.user_id: inv for inv in meeting.invitations.all()}
        for user_id, invitation in current.items():
            if user_id not in people and invitation.withdrawn_at is None:
                invitation.withdrawn_at = now
                invitation.save()
            elif user_id in people and invitation.withdrawn_at is not None:
                invitation.withdrawn_at = None
                invitation.notified_sequence = -1  # invited again: a fresh invitation
                invitation.save()
        for user_id, user in people.items():
            if user_id not in current:
                Invitation.objects.create(meeting=meeting, user=user)
        _notify_invitees(meeting)
    return meeting


def do_cancel_meeting(meeting: Meeting, *, reason: str, acting_user: Any) -> Meeting:
    with transaction.atomic():
        meeting = _locked_meeting(meeting)
        _require_referent(acting_user, meeting.commune)
        if meeting.status != Status.PLANNED:
            raise ValidationError(_("Seule une réunion planifiée peut être annulée."))
        if not reason.strip():
            raise ValidationError(_("Indiquez le motif de l'annulation."))
        meeting.status = Status.CANCELLED
        meeting.cancel_reason = reason.strip()[:200]
        meeting.sequence += 1
        meeting.save()
        _notify_invitees(meeting)
    return meeting


def do_mark_held(meeting: Meeting, *, acting_user: Any) -> Meeting:
    """The meeting took place (from its day on): the minutes can be written."""
    with transaction.atomic():
        meeting = _locked_meeting(meeting)
        _require_referent(acting_user, meeting.commune)
        _require_editable(meeting)
        if meeting.status != Status.PLANNED:
            raise ValidationError(_("Cette réunion est déjà indiquée comme tenue."))
        if meeting.local_day > timezone.localdate():
            raise ValidationError(_("La réunion n'a pas encore eu lieu."))
        meeting.status = Status.HELD
        meeting.save()
    return meeting


# ---------------------------------------------------------------- participants and agenda


def do_add_external(
    meeting: Meeting, *, name: str, institution: str, acting_user: Any
) -> ExternalParticipant:
    with transaction.atomic():
        meeting = _locked_meeting(meeting)
        _require_referent(acting_user, meeting.commune)
        _require_editable(meeting)
        if not name.strip() or not institution.strip():
            raise ValidationError(_("Indiquez le nom et l'institution du participant."))
        return ExternalParticipant.objects.create(
            meeting=meeting, name=name.strip(), institution=institution.strip()
        )


def do_remove_external(external: ExternalParticipant, *, acting_user: Any) -> None:
    with transaction.atomic():
        meeting = _locked_meeting(external.meeting)
        _require_referent(acting_user, meeting.commune)
        _require_editable(meeting)
        external.delete()


def _next_position(meeting: Meeting) -> int:
    current = meeting.agenda_items.aggregate(m=Max("position"))["m"]
    return (current or 0) + 1


def do_add_topic(meeting: Meeting, *, title: str, acting_user: Any) -> AgendaItem:
    with transaction.atomic():
        meeting = _locked_meeting(meeting)
        _require_referent(acting_user, meeting.commune)
        _require_editable(meeting)
        if not title.strip():
            raise ValidationError(_("Indiquez le sujet."))
        _refuse_names(meeting, acting_user, title)
        return AgendaItem.objects.create(
            meeting=meeting, title=title.strip(), position=_next_position(meeting)
        )


def do_add_referral_item(meeting: Meeting, *, reference: str, acting_user: Any) -> AgendaItem:
    """Put a referral of the meeting's commune that the acting user and the chair may read on
    the agenda.

    Looked up by reference among the referrals the user may read in this commune only: a
    referral of another commune, or one the user may not read, is "not found" (same message).
    """
    with transaction.atomic():
        meeting = _locked_meeting(meeting)
        _require_referent(acting_user, meeting.commune)
        _require_editable(meeting)
        referral = (
            access.agenda_referrals_for(acting_user, meeting.commune)
            .filter(reference=reference.strip().upper())
            .first()
            if reference.strip()
            else None
        )
        if referral is None:
            raise ValidationError(
                _(
                    "Aucun signalement de la commune que vous pouvez consulter ne porte cette "
                    "référence."
                )
            )
        if meeting.chair_id != acting_user.pk and not access.readable_referral_ids(
            meeting.chair, [referral.pk]
        ):
            # The agenda holds referrals the chair may read (issue 14): the chair leads the
            # discussion. Said to the referent, who reads the referral anyway: no oracle.
            raise ValidationError(
                _(
                    "Le président de séance n'a pas accès à ce signalement : accordez-lui "
                    "l'accès, ou changez de président, avant de l'inscrire à l'ordre du jour."
                )
            )
        try:
            with transaction.atomic():
                return AgendaItem.objects.create(
                    meeting=meeting, referral=referral, position=_next_position(meeting)
                )
        except IntegrityError as exc:
            raise ValidationError(_("Ce signalement est déjà à l'ordre du jour.")) from exc


def do_save_notes(item: AgendaItem, *, notes: str, acting_user: Any) -> AgendaItem:
    with transaction.atomic():
        meeting = _locked_meeting(item.meeting)
        _require_referent(acting_user, meeting.commune)
        _require_held(meeting)
        _refuse_names(meeting, acting_user, notes)
        item = AgendaItem.objects.select_for_update().get(pk=item.pk)
        item.notes = notes.strip()
        item.save()
    return item


def do_record_attendance(
    meeting: Meeting,
    *,
    invitations: dict[int, str],
    externals: dict[int, str],
    acting_user: Any,
) -> None:
    """Attendance of each invitee and external participant (ids of this meeting only)."""
    valid = set(Attendance.values)
    if not set(invitations.values()) <= valid or not set(externals.values()) <= valid:
        raise ValidationError(_("Valeur de présence inconnue."))
    with transaction.atomic():
        meeting = _locked_meeting(meeting)
        _require_referent(acting_user, meeting.commune)
        _require_held(meeting)
        rows = {inv.pk: inv for inv in meeting.invitations.filter(withdrawn_at__isnull=True)}
        ext_rows = {ext.pk: ext for ext in meeting.externals.all()}
        if not set(invitations) <= set(rows) or not set(externals) <= set(ext_rows):
            raise ValidationError(_("Cette personne n'est pas invitée à cette réunion."))
        for pk, value in invitations.items():
            if rows[pk].attendance != value:
                rows[pk].attendance = value
                rows[pk].save()
        for pk, value in externals.items():
            if ext_rows[pk].attendance != value:
                ext_rows[pk].attendance = value
                ext_rows[pk].save()


def _timeline_text(meeting: Meeting, text: str) -> str:
    # The referral's timeline is written in the installation's language (French), whatever
    # language the chair reads the site in.
    with translation.override(settings.LANGUAGE_CODE):
        day = formats.date_format(meeting.local_day, "j F Y")
        return _("Réunion du %(day)s : %(decision)s") % {"day": day, "decision": text}


def do_add_decision(item: AgendaItem, *, text: str, acting_user: Any) -> Decision:
    """A decision; on a referral's item it is also written to the referral's timeline through
    cases' own action, so the referral's readers see it with its other decisions."""
    from cases import actions as case_actions
    from cases.models import TimelineEntry

    if not text.strip():
        raise ValidationError(_("La décision est vide."))
    with transaction.atomic():
        meeting = _locked_meeting(item.meeting)
        _require_referent(acting_user, meeting.commune)
        _require_held(meeting)
        _refuse_names(meeting, acting_user, text)
        item = AgendaItem.objects.select_related("referral").get(pk=item.pk)
        entry = None
        if item.referral_id is not None:
            entry = case_actions.do_add_timeline_entry(
                cast("Referral", item.referral),  # its referral_id is set
                kind=TimelineEntry.Kind.DECISION,
                text=_timeline_text(meeting, text.strip()),
                acting_user=acting_user,
            )
        return Decision.objects.create(
            agenda_item=item, text=text.strip(), author=acting_user, timeline_entry=entry
        )


def do_add_action_item(
    meeting: Meeting,
    *,
    what: str,
    owner: Any,
    due_on: datetime.date,
    acting_user: Any,
    agenda_item: AgendaItem | None = None,
) -> ActionItem:
    with transaction.atomic():
        meeting = _locked_meeting(meeting)
        _require_referent(acting_user, meeting.commune)
        _require_held(meeting)
        if not what.strip():
            raise ValidationError(_("Décrivez l'action à mener."))
        _refuse_names(meeting, acting_user, what)
        if due_on < meeting.local_day:
            raise ValidationError(_("L'échéance ne peut précéder la réunion."))
        if not meeting.invitations.filter(user=owner, withdrawn_at__isnull=True).exists():
            raise ValidationError(_("Le responsable doit être une personne invitée à la réunion."))
        if agenda_item is not None and agenda_item.meeting_id != meeting.pk:
            raise ValidationError(_("Ce point n'appartient pas à cette réunion."))
        return ActionItem.objects.create(
            meeting=meeting,
            agenda_item=agenda_item,
            what=what.strip(),
            owner=owner,
            due_on=due_on,
        )


def do_set_action_status(action: ActionItem, *, status: str, acting_user: Any) -> ActionItem:
    """The owner or the referent follows an action up; allowed after approval (not minutes)."""
    if status not in ActionItem.Status.values:
        raise ValidationError(_("État inconnu."))
    with transaction.atomic():
        action = (
            ActionItem.objects.select_for_update()
            .select_related("meeting__commune")
            .get(pk=action.pk)
        )
        if action.owner_id != acting_user.pk and not permissions.has_role(
            acting_user, action.meeting.commune, Role.REFERENT
        ):
            raise ValidationError(_("Seuls le responsable et le référent suivent cette action."))
        action.status = status
        action.save(update_fields=["status"])
    return action


# ---------------------------------------------------------------- minutes


def do_send_for_review(meeting: Meeting, *, review_until: datetime.date, acting_user: Any) -> None:
    """The draft goes to the attendees, who may propose corrections until ``review_until``."""
    with transaction.atomic():
        meeting = _locked_meeting(meeting)
        _require_referent(acting_user, meeting.commune)
        _require_held(meeting)
        if meeting.minutes_state != Minutes.DRAFT:
            raise ValidationError(_("Le compte rendu est déjà en relecture."))
        if review_until < timezone.localdate():
            raise ValidationError(_("La fin de la relecture ne peut être passée."))
        _require_attendance(meeting)
        meeting.minutes_state = Minutes.REVIEW
        meeting.review_until = review_until
        meeting.save()
        enqueue_on_commit(tasks.send_review_notice, meeting.pk)


def do_propose_correction(meeting: Meeting, *, text: str, acting_user: Any) -> ReviewComment:
    with transaction.atomic():
        meeting = _locked_meeting(meeting)
        if not access.review_open(meeting):
            raise ValidationError(_("La relecture de ce compte rendu est close."))
        if not meeting.invitations.filter(user=acting_user, withdrawn_at__isnull=True).exists():
            raise ValidationError(_("Seules les personnes invitées relisent le compte rendu."))
        if not text.strip():
            raise ValidationError(_("La correction proposée est vide."))
        _refuse_names(meeting, acting_user, text)
        return ReviewComment.objects.create(meeting=meeting, author=acting_user, text=text.strip())


def _require_attendance(meeting: Meeting) -> None:
    present = (
        meeting.invitations.filter(
            withdrawn_at__isnull=True, attendance=Attendance.PRESENT
        ).exists()
        or meeting.externals.filter(attendance=Attendance.PRESENT).exists()
    )
    if not present:
        raise ValidationError(
            _(
                "Renseignez les présences (au moins une personne présente) avant la relecture ou "
                "l'approbation."
            )
        )


def _queue_document(meeting: Meeting, acting_user: Any) -> MinutesDocument:
    version = (meeting.documents.aggregate(v=Max("version"))["v"] or 0) + 1
    document = MinutesDocument.objects.create(
        meeting=meeting, version=version, requested_by=acting_user
    )
    enqueue_on_commit(tasks.build_minutes_pdf, document.pk)
    return document


def do_approve_minutes(meeting: Meeting, *, acting_user: Any) -> MinutesDocument:
    """Lock the minutes and queue their PDF. Commits even if the broker is down (outbox)."""
    with transaction.atomic():
        meeting = _locked_meeting(meeting)
        _require_referent(acting_user, meeting.commune)
        _require_held(meeting)
        if meeting.minutes_state != Minutes.REVIEW:
            raise ValidationError(_("Envoyez d'abord le compte rendu en relecture."))
        _require_attendance(meeting)
        meeting.minutes_state = Minutes.APPROVED
        meeting.approved_at = timezone.now()
        meeting.approved_by = acting_user
        meeting.save()
        record_event(
            Event.CHANGE, actor=acting_user, target=meeting, data={"what": "minutes_approved"}
        )
        return _queue_document(meeting, acting_user)


def do_add_addendum(
    meeting: Meeting, *, reason: str, text: str, acting_user: Any
) -> MinutesAddendum:
    """A correction after approval: the original stays, a new PDF version is built."""
    if not reason.strip() or not text.strip():
        raise ValidationError(_("Un additif indique son texte et son motif."))
    with transaction.atomic():
        meeting = _locked_meeting(meeting)
        _require_referent(acting_user, meeting.commune)
        if not meeting.is_locked:
            raise ValidationError(
                _("Le compte rendu n'est pas encore approuvé : corrigez-le directement.")
            )
        _refuse_names(meeting, acting_user, reason, text)
        addendum = MinutesAddendum.objects.create(
            meeting=meeting, author=acting_user, reason=reason.strip(), text=text.strip()
        )
        _queue_document(meeting, acting_user)
    return addendum


def do_retry_document(document: MinutesDocument, *, acting_user: Any) -> MinutesDocument:
    """The chair asks again for a PDF whose build failed."""
    with transaction.atomic():
        document = (
            MinutesDocument.objects.select_for_update()
            .select_related("meeting__commune")
            .get(pk=document.pk)
        )
        _require_referent(acting_user, document.meeting.commune)
        if document.state != MinutesDocument.State.FAILED:
            raise ValidationError(_("Ce document n'est pas en échec."))
        document.state = MinutesDocument.State.PENDING
        document.error = ""
        document.save(update_fields=["state", "error"])
        enqueue_on_commit(tasks.build_minutes_pdf, document.pk)
    return document
