"""Cell meetings and their minutes.

A meeting belongs to one commune. It is planned by a referent (invitations with an ``.ics``),
held, then its minutes are drafted (attendance, notes per agenda item, decisions, action items),
sent to the attendees for review and approved by the chair: from then on they are **locked**.
A later correction is an addendum (author, date, reason) shown after the original; each approved
version is rendered once to a PDF (``MinutesDocument``), stamped per reader at download.

Locking is enforced here (``save``/``delete`` refuse) behind ``actions.py``, like the referral's
frozen text: a crafted request that slips past a view still cannot change approved minutes.
Notes, decisions, action items, corrections and addenda are encrypted at rest. A referral appears
on the agenda by a foreign key only: its reference and pseudonym are computed when shown.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cmer.accounts.models import Commune
from cmer.crypto import EncryptedTextField

# A planned meeting whose time has passed is "to be confirmed" for this many days (the chair
# marks it held after the fact), then shown as not held.
CONFIRM_WITHIN_DAYS = 7

# Short on purpose (CNIL): minutes record what was decided, not a transcript.
NOTES_MAX_LENGTH = 2000
DECISION_MAX_LENGTH = 500
SHORT_TEXT_MAX_LENGTH = 300


def locked_message() -> str:
    return str(_("Le compte rendu est approuvé et verrouillé : ajoutez un additif."))


class Attendance(models.TextChoices):
    UNKNOWN = "unknown", _("Non renseignée")
    PRESENT = "present", _("Présent")
    EXCUSED = "excused", _("Excusé")
    ABSENT = "absent", _("Absent")


class Meeting(models.Model):
    class Status(models.TextChoices):
        PLANNED = "planned", _("Planifiée")
        HELD = "held", _("Tenue")
        CANCELLED = "cancelled", _("Annulée")

    class Shown(models.TextChoices):
        """What pages show: the stored status read against the clock (``shown_state_at``)."""

        UPCOMING = "upcoming", _("Planifiée")
        TO_CONFIRM = "to_confirm", _("Tenue à confirmer")
        NOT_HELD = "not_held", _("Non tenue")
        HELD = "held", _("Tenue")
        CANCELLED = "cancelled", _("Annulée")

    class Minutes(models.TextChoices):
        DRAFT = "draft", _("Brouillon")
        REVIEW = "review", _("En relecture")
        APPROVED = "approved", _("Approuvé")

    commune = models.ForeignKey(
        Commune, on_delete=models.PROTECT, related_name="meetings", verbose_name=_("commune")
    )
    starts_at = models.DateTimeField(_("date et heure"))
    duration_minutes = models.PositiveSmallIntegerField(_("durée (minutes)"), default=120)
    place = models.CharField(_("lieu"), max_length=200)
    chair = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("président de séance"),
    )
    status = models.CharField(
        _("statut"), max_length=10, choices=Status.choices, default=Status.PLANNED
    )
    minutes_state = models.CharField(
        _("compte rendu"), max_length=10, choices=Minutes.choices, default=Minutes.DRAFT
    )
    cancel_reason = models.CharField(_("motif d'annulation"), max_length=200, blank=True)
    review_until = models.DateField(_("relecture jusqu'au"), null=True, blank=True)
    approved_at = models.DateTimeField(_("approuvé le"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # SEQUENCE of the iCalendar event: raised at each reschedule or cancellation.
    sequence = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("réunion de la cellule")
        verbose_name_plural = _("réunions de la cellule")
        ordering = ["-starts_at", "-pk"]
        default_permissions = ()
        indexes = [models.Index(fields=["commune", "starts_at"])]

    def __str__(self) -> str:
        # What the audit trail and page titles show: no place, no names.
        return f"réunion {self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Defence in depth behind actions.py: approved minutes never change.
        if getattr(self, "_loaded_minutes_state", None) == self.Minutes.APPROVED:
            raise ValidationError(locked_message())
        super().save(*args, **kwargs)
        self._loaded_minutes_state = self.minutes_state

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValidationError(_("Une réunion ne se supprime pas : annulez-la."))

    @classmethod
    # Left unannotated: django-stubs describes Django 6's signature (a fetch_mode argument
    # Django 5.2 does not pass), and an unannotated method is not checked.
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._loaded_minutes_state = instance.__dict__.get("minutes_state")
        return instance

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(*args, **kwargs)
        self._loaded_minutes_state = self.minutes_state

    @property
    def is_locked(self) -> bool:
        return self.minutes_state == self.Minutes.APPROVED

    @property
    def ends_at(self) -> Any:
        return self.starts_at + datetime.timedelta(minutes=self.duration_minutes)

    @property
    def local_day(self) -> Any:
        return timezone.localtime(self.starts_at).date()

    def shown_state_at(self, now: datetime.datetime) -> str:
        """The state as pages show it, from the stored status and the date.

        A meeting stays "planned" in the database until the chair says it was held (or cancels
        it): once its time has come it is "to be confirmed" for ``CONFIRM_WITHIN_DAYS`` days
        (the chair may mark it held after the fact), then "not held" — so the liaison's
        calendar never shows a past meeting as still planned.
        """
        if self.status == self.Status.CANCELLED:
            return self.Shown.CANCELLED
        if self.status == self.Status.HELD:
            return self.Shown.HELD
        if self.starts_at > now:
            return self.Shown.UPCOMING
        today = timezone.localdate(now)
        if (today - self.local_day).days <= CONFIRM_WITHIN_DAYS:
            return self.Shown.TO_CONFIRM
        return self.Shown.NOT_HELD

    @property
    def shown_state(self) -> str:
        return self.shown_state_at(timezone.now())

    @property
    def shown_state_label(self) -> str:
        return str(self.Shown(self.shown_state).label)


def meeting_is_locked(meeting_id: int | None) -> bool:
    if meeting_id is None:
        return False
    return Meeting.objects.filter(pk=meeting_id, minutes_state=Meeting.Minutes.APPROVED).exists()


class PartOfMinutes(models.Model):
    """A row that belongs to a meeting's minutes: frozen once they are approved."""

    # Fields that may still change after approval (follow-up, not the minutes' text).
    MUTABLE_AFTER_APPROVAL: tuple[str, ...] = ()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if meeting_is_locked(self._meeting_id()):
            update_fields = kwargs.get("update_fields")
            if (
                self.pk is None
                or not update_fields
                or not set(update_fields) <= set(self.MUTABLE_AFTER_APPROVAL)
            ):
                raise ValidationError(locked_message())
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        if meeting_is_locked(self._meeting_id()):
            raise ValidationError(locked_message())
        return super().delete(*args, **kwargs)

    def _meeting_id(self) -> int | None:
        return self.meeting_id  # type: ignore[attr-defined]

    @property
    def audit_commune_id(self) -> int | None:
        meeting_id = self._meeting_id()
        if meeting_id is None:  # not attached yet (filter(pk=None) would find nothing either)
            return None
        return Meeting.objects.filter(pk=meeting_id).values_list("commune_id", flat=True).first()


class Invitation(PartOfMinutes):
    """An invited cell member, referent or liaison, and their attendance."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="invitations")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="meeting_invitations"
    )
    attendance = models.CharField(
        _("présence"), max_length=10, choices=Attendance.choices, default=Attendance.UNKNOWN
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    # The meeting's ``sequence`` this invitee was last told about (invitation, change, cancel).
    notified_sequence = models.IntegerField(default=-1)
    review_notified_at = models.DateTimeField(null=True, blank=True)
    invited_at = models.DateTimeField(default=timezone.now)

    MUTABLE_AFTER_APPROVAL = ("notified_sequence", "review_notified_at")

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        constraints = [
            models.UniqueConstraint(fields=["meeting", "user"], name="meeting_invitation_unique")
        ]

    def __str__(self) -> str:
        return f"invitation {self.pk}"


class ExternalParticipant(PartOfMinutes):
    """Someone without an account (social worker, national education): listed, never notified."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="externals")
    name = models.CharField(_("nom et prénom"), max_length=150)
    institution = models.CharField(_("institution"), max_length=150)
    attendance = models.CharField(
        _("présence"), max_length=10, choices=Attendance.choices, default=Attendance.UNKNOWN
    )

    class Meta:
        verbose_name = _("participant extérieur")
        verbose_name_plural = _("participants extérieurs")
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"participant extérieur {self.pk}"


class AgendaItem(PartOfMinutes):
    """A free topic, or a referral of the commune shown by reference and pseudonym only."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="agenda_items")
    position = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(_("sujet"), max_length=200, blank=True)
    referral = models.ForeignKey(
        "cases.Referral",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="meeting_items",
        verbose_name=_("signalement"),
    )
    notes = EncryptedTextField(_("notes"), max_length=NOTES_MAX_LENGTH, blank=True)

    class Meta:
        verbose_name = _("point de l'ordre du jour")
        verbose_name_plural = _("points de l'ordre du jour")
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["meeting", "referral"],
                condition=Q(referral__isnull=False),
                name="meeting_agenda_referral_once",
            )
        ]

    def __str__(self) -> str:
        return f"point {self.pk}"


class Decision(PartOfMinutes):
    """A decision on an agenda item; on a referral's item it is also written to its timeline."""

    agenda_item = models.ForeignKey(AgendaItem, on_delete=models.CASCADE, related_name="decisions")
    text = EncryptedTextField(_("décision"), max_length=DECISION_MAX_LENGTH)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    timeline_entry = models.OneToOneField(
        "cases.TimelineEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("décision")
        verbose_name_plural = _("décisions")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"décision {self.pk}"

    def _meeting_id(self) -> int | None:
        return (
            AgendaItem.objects.filter(pk=self.agenda_item_id)
            .values_list("meeting_id", flat=True)
            .first()
        )


class ActionItem(PartOfMinutes):
    """What, who, by when. Its status is follow-up: it may change after the minutes are locked."""

    class Status(models.TextChoices):
        OPEN = "open", _("À faire")
        DONE = "done", _("Fait")
        CANCELLED = "cancelled", _("Abandonné")

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="action_items")
    agenda_item = models.ForeignKey(
        AgendaItem, on_delete=models.CASCADE, null=True, blank=True, related_name="action_items"
    )
    what = EncryptedTextField(_("action"), max_length=SHORT_TEXT_MAX_LENGTH)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="meeting_actions",
        verbose_name=_("responsable"),
    )
    due_on = models.DateField(_("échéance"))
    status = models.CharField(_("état"), max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    # One reminder e-mail, planned by beat then sent by a task (see tasks.py).
    reminder_queued_at = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)

    MUTABLE_AFTER_APPROVAL = ("status", "reminder_queued_at", "reminder_sent_at")

    class Meta:
        verbose_name = _("action à mener")
        verbose_name_plural = _("actions à mener")
        ordering = ["due_on", "pk"]
        indexes = [models.Index(fields=["status", "due_on"])]

    def __str__(self) -> str:
        return f"action {self.pk}"


class ReviewComment(PartOfMinutes):
    """A correction an attendee proposes during the review window; the chair reads it."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="review_comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = EncryptedTextField(_("correction proposée"), max_length=1000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("proposition de correction")
        verbose_name_plural = _("propositions de correction")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"correction {self.pk}"


class MinutesAddendum(models.Model):
    """A correction after approval: author, date, reason; shown after the original. Append-only."""

    meeting = models.ForeignKey(Meeting, on_delete=models.PROTECT, related_name="addenda")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    reason = EncryptedTextField(_("motif"), max_length=SHORT_TEXT_MAX_LENGTH)
    text = EncryptedTextField(_("additif"), max_length=1000)

    class Meta:
        verbose_name = _("additif au compte rendu")
        verbose_name_plural = _("additifs au compte rendu")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"additif {self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValidationError(_("Un additif ne se modifie pas : ajoutez-en un autre."))
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValidationError(_("Un additif ne se supprime pas."))

    @property
    def audit_commune_id(self) -> int | None:
        return (
            Meeting.objects.filter(pk=self.meeting_id).values_list("commune_id", flat=True).first()
        )


class MinutesDocument(models.Model):
    """The PDF of one approved version of the minutes (1 = approval, then one per addendum).

    Rendered once by a Celery task (``tasks.build_minutes_pdf``); the unique constraint on
    (meeting, version) means a task run twice, or two workers, still give one PDF.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("En préparation")
        READY = "ready", _("Prêt")
        FAILED = "failed", _("Échec")

    meeting = models.ForeignKey(Meeting, on_delete=models.PROTECT, related_name="documents")
    version = models.PositiveSmallIntegerField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    file = models.FileField(upload_to="meetings/minutes/%Y/%m/", max_length=200, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    # Byte offset of the reader's stamp slot in the stored file (meetings/stamp.py); null for a
    # file rendered before the slot existed (stamped by the older pypdf overlay).
    stamp_offset = models.PositiveIntegerField(null=True, blank=True)
    pages = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("compte rendu (PDF)")
        verbose_name_plural = _("comptes rendus (PDF)")
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["meeting", "version"], name="minutes_pdf_once")
        ]

    def __str__(self) -> str:
        return f"compte rendu {self.meeting_id} v{self.version}"

    @property
    def audit_commune_id(self) -> int | None:
        return (
            Meeting.objects.filter(pk=self.meeting_id).values_list("commune_id", flat=True).first()
        )
