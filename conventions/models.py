"""Prefecture–commune conventions (protocols, amendments, renewals) and the confidentiality charter.

A convention's stored ``status`` only records what people did (drafted, sent for signatures,
signed, terminated). Whether a signed convention is *in force* or *expired* follows from its dates
and is computed for a given day (``state_on``): no nightly job has to run for the transmission
gate to be right at midnight.
"""

from __future__ import annotations

import calendar
import datetime
import uuid
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cmer.accounts.models import Commune, Department, one_scope_constraint, scope_fields

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


def add_months(day: datetime.date, months: int) -> datetime.date:
    """``day`` plus ``months`` calendar months (the 31st falls back to the month's last day)."""
    month_index = day.month - 1 + months
    year = day.year + month_index // 12
    month = month_index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return day.replace(year=year, month=month, day=min(day.day, last))


def signed_document_path(instance: SignedDocument, filename: str) -> str:
    # Never the uploaded name: it could carry anything. A random name under the convention's id.
    return f"conventions/{instance.convention_id}/{uuid.uuid4().hex}.pdf"


class Side(models.TextChoices):
    """The two parties to a convention. Each records only its own half (DESIGN.md, Lifecycles)."""

    COMMUNE = "commune", _("Commune")
    PREFECTURE = "prefecture", _("Préfecture")

    @property
    def other(self) -> Side:
        return Side.PREFECTURE if self == Side.COMMUNE else Side.COMMUNE


class ConventionQuerySet(models.QuerySet["Convention"]):
    def with_sides(self) -> ConventionQuerySet:
        """Annotate whether each side's signatures are recorded, for ``signed_by_both_sides``.

        Per side, ``Exists()`` of a recorded and of an unrecorded signatory: list pages and the
        transmission gate know, in the same statement, which signed conventions really carry
        both parties' signatures.
        """
        signatories = Signatory.objects.filter(convention=OuterRef("pk"))
        recorded = signatories.filter(signature_recorded_by__isnull=False)
        pending = signatories.filter(signature_recorded_by__isnull=True)
        return self.annotate(
            sides_commune_signed=Exists(recorded.filter(side=Side.COMMUNE)),
            sides_commune_pending=Exists(pending.filter(side=Side.COMMUNE)),
            sides_prefecture_signed=Exists(recorded.filter(side=Side.PREFECTURE)),
            sides_prefecture_pending=Exists(pending.filter(side=Side.PREFECTURE)),
        )

    def signed_by_both_sides(self) -> ConventionQuerySet:
        """Conventions whose every signatory's signature is recorded, on both sides."""
        # django-stubs checks filter() against the model's fields only: it cannot see the
        # annotations with_sides() just made.
        return self.with_sides().filter(  # type: ignore[misc]
            sides_commune_signed=True,
            sides_commune_pending=False,
            sides_prefecture_signed=True,
            sides_prefecture_pending=False,
        )


class Convention(models.Model):
    class Kind(models.TextChoices):
        PROTOCOL = "protocol", _("Protocole d'installation")
        AMENDMENT = "amendment", _("Avenant")
        RENEWAL = "renewal", _("Renouvellement")

    class Status(models.TextChoices):
        # Stored statuses.
        DRAFT = "draft", _("Brouillon")
        AWAITING_SIGNATURES = "awaiting_signatures", _("En attente de signatures")
        SIGNED = "signed", _("Signée")
        TERMINATED = "terminated", _("Résiliée")
        # Computed from the dates of a signed convention (never stored).
        IN_FORCE = "in_force", _("En vigueur")
        EXPIRED = "expired", _("Expirée")

    STORED_STATUSES = (
        Status.DRAFT,
        Status.AWAITING_SIGNATURES,
        Status.SIGNED,
        Status.TERMINATED,
    )

    commune = models.ForeignKey(
        Commune, on_delete=models.PROTECT, related_name="conventions", verbose_name=_("commune")
    )
    kind = models.CharField(_("nature"), max_length=20, choices=Kind.choices)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("convention modifiée ou renouvelée"),
    )
    title = models.CharField(_("intitulé"), max_length=200)
    reference = models.CharField(_("référence"), max_length=60, blank=True)
    effective_date = models.DateField(_("date d'effet"))
    end_date = models.DateField(_("date de fin"), null=True, blank=True)
    duration_months = models.PositiveSmallIntegerField(_("durée (mois)"), null=True, blank=True)
    tacit_renewal = models.BooleanField(_("reconduction tacite"), default=False)
    renewal_months = models.PositiveSmallIntegerField(
        _("durée de chaque reconduction (mois)"), null=True, blank=True
    )
    notice_period_days = models.PositiveSmallIntegerField(
        _("préavis de dénonciation (jours)"), null=True, blank=True
    )
    non_renewal_notified_on = models.DateField(
        _("non-reconduction notifiée le"), null=True, blank=True
    )
    status = models.CharField(
        _("statut"), max_length=20, choices=Status.choices, default=Status.DRAFT
    )
    terminated_on = models.DateField(_("résiliée le"), null=True, blank=True)
    termination_reason = models.CharField(_("motif de résiliation"), max_length=300, blank=True)
    terminated_at = models.DateTimeField(_("résiliation enregistrée le"), null=True, blank=True)
    terminated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("résiliation enregistrée par"),
    )
    terminated_side = models.CharField(
        _("résiliée par la partie"), max_length=12, choices=Side.choices, blank=True
    )
    termination_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    signed_at = models.DateTimeField(_("signature constatée le"), null=True, blank=True)
    created_at = models.DateTimeField(_("rédigée le"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("rédigée par"),
    )
    # The side that drafted it: until both have signed, only that side edits or abandons it.
    created_side = models.CharField(_("rédigée par la partie"), max_length=12, choices=Side.choices)

    objects = ConventionQuerySet.as_manager()

    # Not fields. Annotated by ``ConventionQuerySet.with_sides()`` (``signed_by_both_sides``).
    sides_commune_signed: bool
    sides_commune_pending: bool
    sides_prefecture_signed: bool
    sides_prefecture_pending: bool
    # Set by the list and detail pages (``views.pages``) on the conventions they show.
    state_today: str
    state_today_label: StrOrPromise
    period_end: datetime.date | None

    class Meta:
        verbose_name = _("convention")
        verbose_name_plural = _("conventions")
        ordering = ["commune__name", "-effective_date", "-pk"]
        constraints = [
            models.CheckConstraint(
                name="convention_end_after_effective",
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("effective_date")),
            ),
            models.CheckConstraint(
                name="convention_stored_status",
                condition=Q(status__in=["draft", "awaiting_signatures", "signed", "terminated"]),
            ),
            models.CheckConstraint(
                name="convention_terminated_has_reason",
                condition=~Q(status="terminated") | ~Q(termination_reason=""),
            ),
            models.CheckConstraint(
                name="convention_created_side",
                condition=Q(created_side__in=["commune", "prefecture"]),
            ),
        ]
        indexes = [models.Index(fields=["commune", "status", "effective_date"])]

    def __str__(self) -> str:
        return self.reference or f"Convention n° {self.pk}"

    # -- dates ------------------------------------------------------------------------------

    @property
    def counts_for_gate(self) -> bool:
        """Protocols and renewals install the cell; an amendment only changes one."""
        return self.kind != self.Kind.AMENDMENT

    @property
    def renews_tacitly(self) -> bool:
        return bool(
            self.tacit_renewal
            and self.end_date
            and (self.renewal_months or self.duration_months)
            and self.non_renewal_notified_on is None
        )

    def period_end_on(self, day: datetime.date) -> datetime.date | None:
        """End of the period running on ``day`` (tacit renewals extend it), or None if open."""
        if self.end_date is None:
            return None
        end = self.end_date
        if not self.renews_tacitly:
            return end
        step = self.renewal_months or self.duration_months or 12
        renewals = 0
        while end < day:
            renewals += 1
            end = add_months(self.end_date, step * renewals)
        return end

    def notice_deadline_on(self, day: datetime.date) -> datetime.date | None:
        if not self.renews_tacitly or not self.notice_period_days:
            return None
        end = self.period_end_on(day)
        return end - datetime.timedelta(days=self.notice_period_days) if end else None

    # -- signatures ---------------------------------------------------------------------------

    @property
    def signed_by_both_sides(self) -> bool:
        """Every signatory's signature recorded, and at least one on each side.

        Read from ``ConventionQuerySet.with_sides()`` annotations when present (list pages,
        the gate), else one query. A stored "signed" status without this (data written around
        the actions) is not trusted: ``state_on`` then says "awaiting signatures".
        """
        if hasattr(self, "sides_commune_signed"):
            return self.commune_side_signed and self.prefecture_side_signed
        if self.pk is None:
            return False
        rows = list(self.signatories.values_list("side", "signature_recorded_by_id"))
        return (
            all(recorder is not None for _side, recorder in rows)
            and any(side == Side.COMMUNE for side, _r in rows)
            and any(side == Side.PREFECTURE for side, _r in rows)
        )

    @property
    def commune_side_signed(self) -> bool:
        """From ``with_sides()``: the commune's signatories all recorded (at least one)."""
        return bool(self.sides_commune_signed and not self.sides_commune_pending)

    @property
    def prefecture_side_signed(self) -> bool:
        """From ``with_sides()``: the prefecture's signatories all recorded (at least one)."""
        return bool(self.sides_prefecture_signed and not self.sides_prefecture_pending)

    def state_on(self, day: datetime.date | None = None) -> str:
        """The lifecycle state on ``day``: stored status, or in force / expired for signed ones.

        A convention counts as signed only when both sides recorded their signatures.
        """
        day = day or timezone.localdate()
        if self.status == self.Status.TERMINATED:
            # A signed convention terminated at a future date is judged by its dates until then.
            if (
                self.signed_at is None
                or self.terminated_on is None
                or self.terminated_on <= day
                or not self.signed_by_both_sides
            ):
                return self.Status.TERMINATED
        elif self.status != self.Status.SIGNED:
            return self.status
        elif not self.signed_by_both_sides:
            return self.Status.AWAITING_SIGNATURES
        if day < self.effective_date:
            return self.Status.SIGNED
        end = self.period_end_on(day)
        if end is not None and day > end:
            return self.Status.EXPIRED
        return self.Status.IN_FORCE

    def is_in_force(self, day: datetime.date | None = None) -> bool:
        return self.state_on(day) == self.Status.IN_FORCE

    @property
    def state(self) -> str:
        return self.state_on()

    @property
    def state_label(self) -> StrOrPromise:
        return self.Status(self.state).label

    @property
    def is_editable(self) -> bool:
        return self.status in (self.Status.DRAFT, self.Status.AWAITING_SIGNATURES)


class Signatory(models.Model):
    class Capacity(models.TextChoices):
        PREFECT = "prefect", _("Préfet")
        POLICE_PREFECT = "police_prefect", _("Préfet de police")
        MAYOR = "mayor", _("Maire")
        PROSECUTOR = "prosecutor", _("Procureur de la République")
        OTHER = "other", _("Autre")

    # Capacities that can only sign for one side (``Capacity.OTHER`` may sign for either).
    PREFECTURE_CAPACITIES = (Capacity.PREFECT, Capacity.POLICE_PREFECT, Capacity.PROSECUTOR)
    COMMUNE_CAPACITIES = (Capacity.MAYOR,)

    convention = models.ForeignKey(Convention, on_delete=models.PROTECT, related_name="signatories")
    side = models.CharField(_("partie"), max_length=12, choices=Side.choices)
    name = models.CharField(_("nom"), max_length=150)
    capacity = models.CharField(_("qualité"), max_length=20, choices=Capacity.choices)
    capacity_detail = models.CharField(_("précision"), max_length=150, blank=True)
    signed_on = models.DateField(_("date de signature"), null=True, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Who recorded the signature in the app, and when: a holder of this side's role only.
    signature_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("signature enregistrée par"),
    )
    signature_recorded_at = models.DateTimeField(
        _("signature enregistrée le"), null=True, blank=True
    )
    # The PDF version the signature covers: a version uploaded later is not covered by it.
    signed_document = models.ForeignKey(
        "SignedDocument",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("version signée"),
    )

    class Meta:
        verbose_name = _("signataire")
        verbose_name_plural = _("signataires")
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                name="signatory_side",
                condition=Q(side__in=["commune", "prefecture"]),
            ),
            # A prefect, a police prefect or a prosecutor signs for the State, a mayor for the
            # commune: neither side can list the other's office holder as its own.
            models.CheckConstraint(
                name="signatory_capacity_matches_side",
                condition=(
                    ~Q(capacity__in=["prefect", "police_prefect", "prosecutor"])
                    | Q(side="prefecture")
                )
                & (~Q(capacity="mayor") | Q(side="commune")),
            ),
            models.CheckConstraint(
                name="signatory_recorded_signature_complete",
                condition=Q(signature_recorded_by__isnull=True)
                | Q(signed_on__isnull=False, signature_recorded_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_capacity_display()} — convention {self.convention_id}"

    @property
    def is_recorded(self) -> bool:
        """Signed, as recorded in the app by its own side (a date alone is only a proposal)."""
        return self.signature_recorded_by_id is not None


class SignedDocument(models.Model):
    """One version of a convention's signed text. Versions are added, never replaced."""

    convention = models.ForeignKey(Convention, on_delete=models.PROTECT, related_name="documents")
    version = models.PositiveSmallIntegerField(_("version"))
    file = models.FileField(_("fichier"), upload_to=signed_document_path, max_length=200)
    sha256 = models.CharField(_("empreinte SHA-256"), max_length=64, db_index=True)
    size = models.PositiveIntegerField(_("taille (octets)"))
    pages = models.PositiveIntegerField(_("pages"), default=0)
    uploaded_at = models.DateTimeField(_("déposé le"), default=timezone.now)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("document signé")
        verbose_name_plural = _("documents signés")
        ordering = ["convention", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["convention", "version"], name="signed_document_unique_version"
            )
        ]

    def __str__(self) -> str:
        return f"Convention {self.convention_id} — version {self.version}"

    @property
    def download_name(self) -> str:
        return f"convention-{self.convention_id}-v{self.version}.pdf"


class ConventionReminder(models.Model):
    """An expiry reminder: one row per convention, period end and threshold, so each goes once."""

    convention = models.ForeignKey(Convention, on_delete=models.PROTECT, related_name="reminders")
    period_end = models.DateField(_("fin de période"))
    days_before = models.PositiveSmallIntegerField(_("jours avant l'échéance"))
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    recipients = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("rappel d'échéance")
        verbose_name_plural = _("rappels d'échéance")
        constraints = [
            models.UniqueConstraint(
                fields=["convention", "period_end", "days_before"], name="reminder_sent_once"
            )
        ]

    def __str__(self) -> str:
        return f"Rappel J-{self.days_before} — convention {self.convention_id}"


class CharterVersion(models.Model):
    """A version of the confidentiality charter of a commune, or of a whole department."""

    commune, department = scope_fields("charter_versions")
    # Not a field. Annotated by queries: ``Exists()`` of the user's acknowledgement (gates, a
    # bool) or ``Count()`` of all of them (dashboard). Those ``annotate()`` calls carry an
    # ignore: django-stubs refuses an annotation named like a declared attribute, where Django
    # refuses only a field's name (this declaration makes no class attribute).
    acknowledged: int
    version = models.PositiveSmallIntegerField(_("version"))
    text = models.TextField(_("texte de la charte"))
    published_at = models.DateTimeField(_("publiée le"), default=timezone.now)
    # None: the model charter shipped with the app (version 0, charter_model.py).
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        verbose_name = _("version de la charte")
        verbose_name_plural = _("versions de la charte")
        ordering = ["-version"]
        constraints = [
            one_scope_constraint("charter_single_scope"),
            models.UniqueConstraint(
                fields=["commune", "version"],
                condition=Q(commune__isnull=False),
                name="charter_unique_commune_version",
            ),
            models.UniqueConstraint(
                fields=["department", "version"],
                condition=Q(department__isnull=False),
                name="charter_unique_department_version",
            ),
        ]

    def __str__(self) -> str:
        return f"Charte — {self.scope} — v{self.version}"

    @property
    def scope(self) -> Commune | Department:
        return self.commune or self.department


class CharterAcknowledgement(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="charter_acknowledgements"
    )
    charter = models.ForeignKey(
        CharterVersion, on_delete=models.PROTECT, related_name="acknowledgements"
    )
    acknowledged_at = models.DateTimeField(_("prise de connaissance le"), default=timezone.now)

    class Meta:
        verbose_name = _("prise de connaissance de la charte")
        verbose_name_plural = _("prises de connaissance de la charte")
        ordering = ["-acknowledged_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "charter"], name="charter_acknowledged_once")
        ]

    def __str__(self) -> str:
        return f"Charte {self.charter_id} — utilisateur {self.user_id}"
