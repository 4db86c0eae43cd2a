"""Staff awareness training: sessions, the registry of trainees, attendance, attestations.

A session belongs to exactly one commune, or to a department for a department-level session.
Trainees are kept in one registry per department (a person trained by Tarascon then by a
department session stays one person); they are only ever seen through the attendance of a
session the viewer may manage. ``__str__`` of anything about a person is a reference, never a
name: it ends up in the audit trail.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cmer.accounts.models import Department, one_scope_constraint, scope_fields

from .normalise import normalise_key


class Audience(models.TextChoices):
    MUNICIPAL_STAFF = "staff", _("Agents municipaux")
    ELECTED = "elected", _("Élus")
    SPORTS_ASSOCIATIONS = "associations", _("Dirigeants sportifs et associatifs")
    PARTNERS = "partners", _("Partenaires")


class TrainingSession(models.Model):
    class Status(models.TextChoices):
        PLANNED = "planned", _("Prévue")
        HELD = "held", _("Tenue")

    commune, department = scope_fields(
        "training_sessions",
        department_help_text=_("Uniquement pour une session départementale."),
    )
    title = models.CharField(_("intitulé"), max_length=200)
    date = models.DateField(_("date"))
    duration_hours = models.DecimalField(
        _("durée (heures)"), max_digits=4, decimal_places=1, default=3
    )
    trainer = models.CharField(_("formateur ou formatrice"), max_length=150, blank=True)
    place = models.CharField(_("lieu"), max_length=200, blank=True)
    audience = models.CharField(
        _("public"), max_length=20, choices=Audience.choices, default=Audience.MUNICIPAL_STAFF
    )
    capacity = models.PositiveIntegerField(_("capacité"), null=True, blank=True)
    status = models.CharField(
        _("statut"), max_length=10, choices=Status.choices, default=Status.PLANNED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False
    )
    created_at = models.DateTimeField(_("créée le"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("session de formation")
        verbose_name_plural = _("sessions de formation")
        ordering = ["-date", "-pk"]
        constraints = [one_scope_constraint("training_session_single_scope")]
        indexes = [models.Index(fields=["commune", "date"]), models.Index(fields=["department"])]

    def __str__(self) -> str:
        return f"{self.title} ({self.date:%d/%m/%Y})"

    @property
    def scope_department_id(self) -> int:
        """The department whose trainee registry this session uses."""
        if self.department_id is not None:
            return self.department_id
        return self.commune.department_id

    @property
    def scope_label(self) -> str:
        if self.commune_id is not None:
            return self.commune.name
        return str(_("Session départementale — %(name)s") % {"name": self.department.name})


class Trainee(models.Model):
    """One person in the department's registry: matched on e-mail, else on name + organisation."""

    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="+", verbose_name=_("département")
    )
    last_name = models.CharField(_("nom"), max_length=150)
    first_name = models.CharField(_("prénom"), max_length=150, blank=True)
    email = models.EmailField(_("courriel"), blank=True)
    service = models.CharField(_("service ou direction"), max_length=150, blank=True)
    organisation = models.CharField(_("organisme"), max_length=150, blank=True)
    # normalise_key(last name + first name) | normalise_key(organisation): the match without e-mail.
    name_key = models.CharField(max_length=400, editable=False)
    service_key = models.CharField(max_length=150, editable=False, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("stagiaire")
        verbose_name_plural = _("stagiaires")
        ordering = ["last_name", "first_name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["department", "email"],
                condition=~Q(email=""),
                name="training_trainee_unique_email",
            )
        ]
        indexes = [models.Index(fields=["department", "name_key"])]

    def __str__(self) -> str:
        return f"stagiaire {self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email = self.email.strip().lower()
        self.refresh_keys()
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def group_label(self) -> str:
        return self.service or self.organisation

    def refresh_keys(self) -> None:
        self.name_key = make_name_key(self.last_name, self.first_name, self.organisation)
        self.service_key = normalise_key(self.group_label)


def make_name_key(last_name: str, first_name: str, organisation: str) -> str:
    return f"{normalise_key(f'{last_name} {first_name}')}|{normalise_key(organisation)}"


class AttendanceImport(models.Model):
    """An uploaded attendance file: kept with its SHA-256 beside the rows it was read into."""

    class State(models.TextChoices):
        PREVIEW = "preview", _("Aperçu, en attente de confirmation")
        # Confirmed by the coordinator, applied by the worker (training.tasks): all or nothing.
        CONFIRMING = "confirming", _("Import en cours")
        CONFIRMED = "confirmed", _("Importé")
        CANCELLED = "cancelled", _("Abandonné")

    session = models.ForeignKey(
        TrainingSession, on_delete=models.PROTECT, related_name="imports", verbose_name=_("session")
    )
    file = models.FileField(_("fichier"), upload_to="training/imports/%Y/%m/", max_length=200)
    original_name = models.CharField(_("nom du fichier"), max_length=200, blank=True)
    sha256 = models.CharField(_("empreinte SHA-256"), max_length=64)
    size = models.PositiveIntegerField(_("taille (octets)"))
    file_format = models.CharField(_("format"), max_length=10)
    # Parsed content: rows understood, rows rejected (line, reason), duplicates, warnings.
    columns = models.JSONField(default=dict, editable=False)  # field → header label
    rows = models.JSONField(default=list, editable=False)
    rejected = models.JSONField(default=list, editable=False)
    duplicates = models.JSONField(default=list, editable=False)
    warnings = models.JSONField(default=list, editable=False)
    state = models.CharField(_("état"), max_length=10, choices=State.choices, default=State.PREVIEW)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    confirmed_at = models.DateTimeField(null=True, blank=True, editable=False)
    result = models.JSONField(default=dict, blank=True, editable=False)
    # The confirmation asked for (who, when); a run that failed wrote nothing and says so here,
    # the import going back to its preview so that it can be confirmed again.
    confirm_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    confirm_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    failure = models.CharField(max_length=300, blank=True, editable=False)

    class Meta:
        verbose_name = _("import de présences")
        verbose_name_plural = _("imports de présences")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"import {self.pk}"


class Attendance(models.Model):
    class Status(models.TextChoices):
        PRESENT = "present", _("Présent")
        ABSENT = "absent", _("Absent")
        EXCUSED = "excused", _("Excusé")

    session = models.ForeignKey(
        TrainingSession,
        on_delete=models.PROTECT,
        related_name="attendances",
        verbose_name=_("session"),
    )
    trainee = models.ForeignKey(
        Trainee, on_delete=models.PROTECT, related_name="attendances", verbose_name=_("stagiaire")
    )
    status = models.CharField(
        _("présence"), max_length=10, choices=Status.choices, default=Status.PRESENT
    )
    remark = models.CharField(_("remarque"), max_length=200, blank=True)
    source_import = models.ForeignKey(
        AttendanceImport,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("présence")
        verbose_name_plural = _("présences")
        constraints = [
            models.UniqueConstraint(
                fields=["session", "trainee"], name="training_attendance_unique"
            )
        ]

    def __str__(self) -> str:
        return f"présence {self.pk}"


# 32 symbols without the look-alikes 0/O, 1/I/L: 12 of them carry 60 bits.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_verification_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def clean_verification_code(value: str) -> str:
    raw = "".join(ch for ch in value.upper() if ch.isalnum())
    if len(raw) != 12:
        return ""
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


class Attestation(models.Model):
    """The attestation of one attendance, identified by a code anyone can verify (public page).

    Withdrawn when the attendance stops being "present" (a corrected sheet, an edit): the code
    then verifies as "withdrawn on …", never as unknown; back to present, it is valid again.
    """

    attendance = models.OneToOneField(
        Attendance, on_delete=models.PROTECT, related_name="attestation"
    )
    code = models.CharField(
        _("code de vérification"), max_length=14, unique=True, default=new_verification_code
    )
    issued_at = models.DateTimeField(_("délivrée le"), default=timezone.now)
    withdrawn_at = models.DateTimeField(_("retirée le"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("attestation")
        verbose_name_plural = _("attestations")

    def __str__(self) -> str:
        return f"attestation {self.pk}"

    @property
    def audit_commune_id(self) -> int | None:
        """The session's commune: the DPO of the department sees the verifications."""
        return self.attendance.session.commune_id


class AttestationBundle(models.Model):
    """A zip of every attestation of a session, built by a Celery task and stored privately."""

    class State(models.TextChoices):
        PENDING = "pending", _("En préparation")
        READY = "ready", _("Prêt")
        FAILED = "failed", _("Échec")

    session = models.ForeignKey(TrainingSession, on_delete=models.PROTECT, related_name="bundles")
    file = models.FileField(upload_to="training/attestations/%Y/%m/", max_length=200, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    count = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Runs of the build task: a run holds the bundle from started_at for a lease shorter than
    # the broker's visibility timeout, so a redelivered message of a killed worker may start
    # again, a duplicate of a live run may not (training.actions.start_bundle_run).
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("lot d'attestations")
        verbose_name_plural = _("lots d'attestations")
        ordering = ["-requested_at", "-pk"]

    def __str__(self) -> str:
        return f"lot d'attestations {self.pk}"


class ServiceHeadcount(models.Model):
    """Headcount of a service for a year, entered by the coordinator: the base of coverage."""

    commune, department = scope_fields("+", verbose=False)
    year = models.PositiveSmallIntegerField(_("année"))
    service = models.CharField(_("service ou organisme"), max_length=150)
    service_key = models.CharField(max_length=150, editable=False)
    headcount = models.PositiveIntegerField(_("effectif"))

    class Meta:
        verbose_name = _("effectif d'un service")
        verbose_name_plural = _("effectifs des services")
        ordering = ["-year", "service"]
        constraints = [
            one_scope_constraint("training_headcount_single_scope"),
            models.UniqueConstraint(
                fields=["commune", "year", "service_key"],
                condition=Q(commune__isnull=False),
                name="training_headcount_unique_commune",
            ),
            models.UniqueConstraint(
                fields=["department", "year", "service_key"],
                condition=Q(department__isnull=False),
                name="training_headcount_unique_department",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.year}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.service_key = normalise_key(self.service)
        super().save(*args, **kwargs)
