"""Referrals (signalements): the most sensitive data of the installation.

Identity, facts, notes, addenda and attachments are encrypted at rest (cmer.crypto). A referral's
``__str__`` is its reference, never a name: it is what the audit trail and page titles show.
Need-to-know grants are guardian object permissions in direct foreign-key tables, with an expiry.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from cmer.accounts.models import Commune
from cmer.crypto import EncryptedTextField

from .age_brackets import AgeBracket

if TYPE_CHECKING:
    from django import forms

# Free text is short on purpose: the CNIL found long free text in town-hall files filled with
# copied police data and subjective comments.
FACTS_MAX_LENGTH = 1500
NOTE_MAX_LENGTH = 1000
SHORT_TEXT_MAX_LENGTH = 300


class WeakSignalCategory(models.Model):
    """The checklist of observed signs, managed in the admin. Behaviours only: never a religion,
    an origin or an opinion."""

    code = models.SlugField(_("code"), unique=True)
    label = models.CharField(_("libellé"), max_length=120)
    position = models.PositiveSmallIntegerField(_("ordre"), default=0)
    is_active = models.BooleanField(_("proposée"), default=True)

    class Meta:
        verbose_name = _("catégorie de signaux faibles")
        verbose_name_plural = _("catégories de signaux faibles")
        ordering = ["position", "label"]

    def __str__(self) -> str:
        # The shipped labels are in the English catalogue (cases/categories.py).
        return gettext(self.label)


class Referral(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Brouillon")
        SUBMITTED = "submitted", _("Transmis au référent")
        IN_ASSESSMENT = "in_assessment", _("En évaluation")
        FOLLOWED_UP = "followed_up", _("Suivi en cours")
        TRANSMITTED = "transmitted", _("Transmis à la préfecture")
        CLOSED = "closed", _("Clos")
        ARCHIVED = "archived", _("Archivé")

    class Urgency(models.TextChoices):
        NORMAL = "normal", _("Normale")
        HIGH = "high", _("Élevée")
        DANGER = "danger", _("Danger immédiat")

    class Source(models.TextChoices):
        MUNICIPAL_SERVICE = "municipal_service", _("Service municipal")
        SCHOOL = "school", _("Établissement scolaire")
        SOCIAL_LANDLORD = "social_landlord", _("Bailleur social")
        SPORTS_OR_ASSOCIATION = "association", _("Club sportif ou association")
        FAMILY = "family", _("Membre de la famille")
        OTHER = "other", _("Autre")

    class AgeGroup(models.TextChoices):
        UNKNOWN = "unknown", _("Non précisé")
        MINOR = "minor", _("Mineur")
        ADULT = "adult", _("Majeur")

    AgeBracket = AgeBracket

    class CloseReason(models.TextChoices):
        NO_FURTHER_ACTION = "no_further_action", _("Sans suite : pas de signe de basculement")
        SOCIAL_FOLLOW_UP_DONE = "social_follow_up", _("Accompagnement social mis en place, terminé")
        HANDLED_BY_STATE = "handled_by_state", _("Pris en charge par les services de l'État")
        MOVED_AWAY = "moved_away", _("Personne partie de la commune")
        DUPLICATE = "duplicate", _("Doublon d'un autre signalement")
        OTHER = "other", _("Autre motif")

    commune = models.ForeignKey(
        Commune, on_delete=models.PROTECT, related_name="referrals", verbose_name=_("commune")
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="authored_referrals",
        verbose_name=_("auteur"),
    )
    status = models.CharField(
        _("statut"), max_length=20, choices=Status.choices, default=Status.DRAFT
    )
    # Reference TAR-2026-0007: given at submission, unique per commune and year.
    year = models.PositiveSmallIntegerField(_("année"), null=True, blank=True)
    number = models.PositiveIntegerField(_("numéro"), null=True, blank=True)
    reference = models.CharField(_("référence"), max_length=20, blank=True, db_index=True)

    # The person concerned (encrypted; all optional, at least one identifying element).
    surname = EncryptedTextField(_("nom"), max_length=100, blank=True)
    first_names = EncryptedTextField(_("prénoms"), max_length=150, blank=True)
    birth_date = EncryptedTextField(_("date de naissance"), blank=True)
    approximate_age = EncryptedTextField(_("âge approximatif"), blank=True)
    residence_commune = EncryptedTextField(_("commune de résidence"), max_length=150, blank=True)
    address = EncryptedTextField(_("adresse"), max_length=250, blank=True)
    age_group = models.CharField(
        _("mineur ou majeur"), max_length=10, choices=AgeGroup.choices, default=AgeGroup.UNKNOWN
    )
    # Clear, kept by anonymisation for the statistics: the age on the filing day, from the
    # encrypted date of birth or age (cases.age_brackets, set by actions).
    age_bracket = models.CharField(
        _("tranche d'âge au dépôt"),
        max_length=10,
        choices=AgeBracket.choices,
        default=AgeBracket.UNKNOWN,
    )

    # What was observed (encrypted).
    facts = EncryptedTextField(_("faits observés"), max_length=FACTS_MAX_LENGTH, blank=True)
    facts_place = EncryptedTextField(_("lieu des faits"), max_length=200, blank=True)
    facts_date = models.DateField(_("date des faits"), null=True, blank=True)
    categories = models.ManyToManyField(
        WeakSignalCategory, blank=True, related_name="referrals", verbose_name=_("signes observés")
    )
    source = models.CharField(_("origine"), max_length=20, choices=Source.choices, blank=True)
    author_service = models.CharField(_("service de l'agent"), max_length=150, blank=True)
    urgency = models.CharField(
        _("urgence"), max_length=10, choices=Urgency.choices, default=Urgency.NORMAL
    )

    # Keyed blind indexes for duplicate detection and person search (never plaintext search).
    name_index = models.CharField(max_length=64, blank=True, db_index=True)
    name_year_index = models.CharField(max_length=64, blank=True, db_index=True)

    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)
    submitted_at = models.DateTimeField(_("déposé le"), null=True, blank=True)
    closed_at = models.DateTimeField(_("clos le"), null=True, blank=True)
    close_reason = models.CharField(
        _("motif de clôture"), max_length=20, choices=CloseReason.choices, blank=True
    )
    archived_at = models.DateTimeField(_("archivé le"), null=True, blank=True)
    # Set by the retention job (cases.retention): identity, facts, notes, reasons, attachments
    # and the blind indexes are gone; what statistics read is kept.
    anonymised_at = models.DateTimeField(_("anonymisé le"), null=True, blank=True)

    # Fields frozen at submission: nobody edits them afterwards (corrections are addenda).
    FROZEN_FIELDS = (
        "surname",
        "first_names",
        "birth_date",
        "approximate_age",
        "residence_commune",
        "address",
        "age_group",
        "age_bracket",
        "facts",
        "facts_place",
        "facts_date",
        "source",
        "author_service",
        "urgency",
        "commune_id",
        "author_id",
    )

    class Meta:
        verbose_name = _("signalement")
        verbose_name_plural = _("signalements")
        ordering = ["-submitted_at", "-created_at"]
        default_permissions = ()
        permissions = [
            ("view_referral", "Read a referral (need-to-know grant)"),
            ("contribute_referral", "Read and add notes to a referral (need-to-know grant)"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["commune", "year", "number"], name="referral_number_unique_per_year"
            ),
        ]
        indexes = [
            # The list pages' index, in their order: a commune's rows come out of the index
            # alone (PostgreSQL's index-only scan, with the INCLUDE columns), not from the
            # heap blocks they are scattered over (bench/RESULTS.md, "Referrals list").
            models.Index(
                fields=["commune", "-submitted_at", "-created_at", "-id"],
                include=["status", "author", "reference", "urgency"],
                name="referral_list_idx",
            ),
            models.Index(fields=["author", "created_at"]),
        ]

    def __str__(self) -> str:
        return self.reference or f"brouillon-{self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Defence in depth behind actions.py: once submitted, the text cannot change.
        snapshot = getattr(self, "_frozen_snapshot", None)
        if snapshot and getattr(self, "_loaded_status", None) != self.Status.DRAFT:
            changed = [name for name, old in snapshot.items() if getattr(self, name) != old]
            if changed:
                raise ValidationError(
                    _("Le texte d'un signalement déposé est figé : ajoutez un complément.")
                )
        super().save(*args, **kwargs)
        self._frozen_snapshot = {name: getattr(self, name) for name in self.FROZEN_FIELDS}
        self._loaded_status = self.status

    @classmethod
    # Left unannotated: django-stubs describes Django 6's signature (a fetch_mode argument
    # Django 5.2 does not pass), and an unannotated method is not checked.
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._frozen_snapshot = {
            name: getattr(instance, name)
            for name in cls.FROZEN_FIELDS
            if name.removesuffix("_id") in field_names or name in field_names
        }
        # Read only if loaded: a deferred status (``.only()`` lists) would cost a query per
        # row. Left unset, save() treats the text as frozen, the safe side.
        if "status" in field_names:
            instance._loaded_status = instance.status
        return instance

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT

    @property
    def is_archived(self) -> bool:
        return self.status == self.Status.ARCHIVED

    @property
    def is_urgent(self) -> bool:
        return self.urgency == self.Urgency.DANGER

    @property
    def birth_date_value(self) -> datetime.date | None:
        try:
            return datetime.date.fromisoformat(self.birth_date) if self.birth_date else None
        except ValueError:
            return None

    def has_identity(self) -> bool:
        return any(
            [
                self.surname,
                self.first_names,
                self.birth_date,
                self.approximate_age,
                self.address,
                self.residence_commune,
            ]
        )


class ReferralPart:
    """For the objects that belong to a referral (grants, timeline entries, attachments, the
    transmission, access reasons): the audit trail names them by the referral's reference and
    scopes them to its commune, so that the DPO's search by reference finds every entry about
    the referral and what depends on it (cmer.audit.core.audit_repr)."""

    def _owning_referral(self) -> Referral:
        return self.referral  # type: ignore[attr-defined]

    @property
    def audit_repr(self) -> str:
        return str(self._owning_referral())

    @property
    def audit_commune_id(self) -> int:
        return self._owning_referral().commune_id


class ReferralUserObjectPermission(ReferralPart, UserObjectPermissionBase):
    """A need-to-know grant: one named member, one referral, a reason (the legal basis), an expiry.

    Revoking deletes the row (the audit trail keeps the history); deleting the referral cascades.
    """

    content_object = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="grants")
    # Encrypted like the referral's content: a reason may name the person or the situation.
    reason = EncryptedTextField(
        _("motif (besoin d'en connaître)"), max_length=SHORT_TEXT_MAX_LENGTH
    )
    expires_at = models.DateTimeField(_("expire le"))
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    granted_at = models.DateTimeField(_("accordé le"), default=timezone.now)

    # Not a field. Set by the detail page (views.detail) on the grants it lists: the form that
    # revokes this grant (a cases.forms.RevokeForm, not imported: forms import this module).
    revoke_form: forms.Form

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = _("accès accordé")
        verbose_name_plural = _("accès accordés")
        indexes = [
            models.Index(fields=["user", "permission", "expires_at", "content_object"]),
            # The referent's "grants expiring within 14 days": a range, not a scan of all grants.
            models.Index(fields=["expires_at"], name="cases_grant_expires_idx"),
        ]

    def __str__(self) -> str:
        return f"grant {self.pk} on referral {self.content_object_id}"

    def _owning_referral(self) -> Referral:
        return self.content_object


class AccessReason(ReferralPart, models.Model):
    """The stated reason of a revoked grant or of an archive opening, encrypted like content.

    The audit entry of the event names this row (``reason_id``), never the reason itself; the
    row goes with the referral (CASCADE) when it is anonymised or deleted. (A grant's own reason
    is on the grant, a transmission's on the transmission: both encrypted too.)
    """

    class Kind(models.TextChoices):
        REVOKE = "revoke", _("retrait d'un accès")
        ARCHIVE_OPEN = "archive_open", _("consultation d'archive")

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices)
    reason = EncryptedTextField(_("motif"), max_length=SHORT_TEXT_MAX_LENGTH)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("date"), default=timezone.now)

    class Meta:
        verbose_name = _("motif d'accès")
        verbose_name_plural = _("motifs d'accès")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} — {self.referral}"


class LegalHold(ReferralPart, models.Model):
    """A legal hold (a judicial request) placed by the DPO: the retention rules skip the referral
    until ``until`` (inclusive), unless the DPO lifted it earlier (the request is over: who, when,
    why). Added, never changed but by that one lift; a later hold extends an earlier one. The
    reasons may name the person or the proceedings: encrypted, and erased with the rest when the
    referral is anonymised after the hold ends."""

    # The only change a hold accepts, once (``cases.retention.do_lift_legal_hold``).
    LIFT_FIELDS = frozenset({"lifted_at", "lifted_by", "lift_reason"})

    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="legal_holds")
    reason = EncryptedTextField(
        _("motif (réquisition, procédure)"), max_length=SHORT_TEXT_MAX_LENGTH
    )
    until = models.DateField(_("jusqu'au"))
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    placed_at = models.DateTimeField(_("posé le"), default=timezone.now)
    lifted_at = models.DateTimeField(_("levé le"), null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    lift_reason = EncryptedTextField(
        _("motif de la levée"), max_length=SHORT_TEXT_MAX_LENGTH, blank=True
    )

    class Meta:
        verbose_name = _("gel de conservation")
        verbose_name_plural = _("gels de conservation")
        ordering = ["-placed_at", "-pk"]
        indexes = [models.Index(fields=["until", "referral"])]
        constraints = [
            # Lifted means by someone at some time; the reason is checked by the action (it is
            # encrypted: the database cannot tell an empty one).
            models.CheckConstraint(
                condition=Q(lifted_at__isnull=True, lifted_by__isnull=True)
                | Q(lifted_at__isnull=False, lifted_by__isnull=False),
                name="legal_hold_lift_complete",
            )
        ]

    def __str__(self) -> str:
        return f"gel {self.pk} — {self.referral}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and set(kwargs.get("update_fields") or ()) != self.LIFT_FIELDS:
            raise ValidationError(_("Un gel ne se modifie pas : posez-en un nouveau."))
        super().save(*args, **kwargs)


class ReferralGroupObjectPermission(GroupObjectPermissionBase):
    """Exists so guardian uses a direct FK for groups too; never consulted: grants are personal."""

    content_object = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="+")

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = _("accès de groupe (inutilisé)")

    def __str__(self) -> str:
        return f"group grant {self.pk}"


class TimelineEntry(ReferralPart, models.Model):
    """Append-only entries on a referral: notes, decisions, status changes, addenda, feedback."""

    class Kind(models.TextChoices):
        NOTE = "note", _("Note")
        DECISION = "decision", _("Décision")
        STATUS = "status", _("Changement de statut")
        ADDENDUM = "addendum", _("Complément")
        AGENT_FEEDBACK = "agent_feedback", _("Retour à l'agent")
        PREFECTURE_FEEDBACK = "prefecture_feedback", _("Retour de la préfecture")

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="timeline")
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("date"), default=timezone.now)
    text = EncryptedTextField(_("texte"), max_length=NOTE_MAX_LENGTH, blank=True)
    reason = EncryptedTextField(_("motif"), max_length=SHORT_TEXT_MAX_LENGTH, blank=True)
    from_status = models.CharField(max_length=20, choices=Referral.Status.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=Referral.Status.choices, blank=True)

    class Meta:
        verbose_name = _("entrée du suivi")
        verbose_name_plural = _("entrées du suivi")
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["referral", "kind", "created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValidationError(_("Le suivi ne se modifie pas : ajoutez une entrée."))
        super().save(*args, **kwargs)


class Attachment(ReferralPart, models.Model):
    """A file attached to a referral, encrypted on disk under a random name."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="attachments")
    stored_name = models.CharField(max_length=100, unique=True)
    display_name = EncryptedTextField(_("nom du fichier"), max_length=120)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("pièce jointe")
        verbose_name_plural = _("pièces jointes")
        ordering = ["uploaded_at", "pk"]

    def __str__(self) -> str:
        return f"pièce jointe {self.pk} de {self.referral}"


class Transmission(ReferralPart, models.Model):
    """What the referent shared with the prefecture, why, when, by whom."""

    class Item(models.TextChoices):
        IDENTITY = "identity", _("Identité de la personne")
        FACTS = "facts", _("Faits observés")
        ATTACHMENTS = "attachments", _("Pièces jointes")
        TIMELINE = "timeline", _("Notes et décisions de la cellule")

    referral = models.OneToOneField(Referral, on_delete=models.CASCADE, related_name="transmission")
    transmitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    transmitted_at = models.DateTimeField(default=timezone.now)
    shared_items = models.JSONField(_("éléments partagés"), default=list)
    reason = EncryptedTextField(_("motif de la transmission"), max_length=SHORT_TEXT_MAX_LENGTH)

    class Meta:
        verbose_name = _("transmission à la préfecture")
        verbose_name_plural = _("transmissions à la préfecture")

    def __str__(self) -> str:
        return f"transmission de {self.referral}"

    def shares(self, item: str) -> bool:
        return item in (self.shared_items or [])


class StateInformation(models.Model):
    """Information given to the mayor's referent on the State's initiative (instruction of
    13 November 2018): only after the prosecutor and the services agreed, seen by the referent only.
    """

    class Case(models.TextChoices):
        OWN_REFERRAL = "own_referral", _("Retour sur un signalement de la commune")
        EMPLOYEE = "employee", _("Agent municipal ou candidat à un emploi")
        SOCIAL_SERVICES = "social_services", _("Personne suivie par les services sociaux")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Brouillon")
        SENT = "sent", _("Envoyée")

    commune = models.ForeignKey(Commune, on_delete=models.PROTECT, related_name="state_info")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    case = models.CharField(_("cas prévu par l'instruction"), max_length=20, choices=Case.choices)
    referral = models.ForeignKey(
        Referral,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="state_info",
        verbose_name=_("signalement concerné"),
    )
    person = EncryptedTextField(_("personne concernée"), max_length=200, blank=True)
    content = EncryptedTextField(_("information"), max_length=NOTE_MAX_LENGTH)
    prosecutor_agreement_by = models.CharField(
        _("accord du parquet donné par"), max_length=150, blank=True
    )
    prosecutor_agreed_on = models.DateField(_("date de l'accord du parquet"), null=True, blank=True)
    services_agreement_by = models.CharField(
        _("accord des services donné par"), max_length=150, blank=True
    )
    services_agreed_on = models.DateField(_("date de l'accord des services"), null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("information de l'État")
        verbose_name_plural = _("informations de l'État")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"information {self.pk}"

    def agreements_recorded(self) -> bool:
        return bool(
            self.prosecutor_agreement_by
            and self.prosecutor_agreed_on
            and self.services_agreement_by
            and self.services_agreed_on
        )
