"""People, places and roles: who is who in which commune.

Every confidential object of the other apps belongs to exactly one Commune; what a person may do
there follows from their active Membership(s) — see cmer.permissions.
"""

from __future__ import annotations

import datetime

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        # E-mail addresses are compared case-insensitively at login.
        return self.get(email__iexact=username or "")


class User(AbstractBaseUser, PermissionsMixin):
    """A person with an account. Never deleted, only deactivated: the audit trail refers to it."""

    email = models.EmailField(_("adresse électronique"), unique=True)
    first_name = models.CharField(_("prénom"), max_length=150, blank=True)
    last_name = models.CharField(_("nom"), max_length=150, blank=True)
    is_active = models.BooleanField(_("actif"), default=True)
    is_staff = models.BooleanField(
        _("accès à l'administration technique"),
        default=False,
        help_text=_("Administration des comptes et des communes ; jamais le contenu des dossiers."),
    )
    date_joined = models.DateTimeField(_("créé le"), default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("utilisateur")
        verbose_name_plural = _("utilisateurs")
        ordering = ["last_name", "first_name", "email"]

    def __str__(self) -> str:
        return self.get_full_name() or self.email

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self) -> str:
        return self.first_name or self.email

    def delete(self, *args, **kwargs):
        raise ValidationError(_("Un compte ne se supprime pas : désactivez-le."))


class Department(models.Model):
    code = models.CharField(_("code"), max_length=3, unique=True)
    name = models.CharField(_("nom"), max_length=100)
    prefecture_name = models.CharField(_("préfecture"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("département")
        verbose_name_plural = _("départements")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Commune(models.Model):
    insee_code = models.CharField(
        _("code INSEE"),
        max_length=5,
        unique=True,
        help_text=_("Cinq caractères, par exemple 13117 pour Tarascon."),
    )
    name = models.CharField(_("nom"), max_length=150)
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="communes", verbose_name=_("département")
    )
    # Prefix of human references (TAR-2026-0007); letters only, unique in the installation.
    reference_prefix = models.CharField(_("préfixe des références"), max_length=5, unique=True)

    class Meta:
        verbose_name = _("commune")
        verbose_name_plural = _("communes")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not (len(self.insee_code) == 5 and self.insee_code[:2].isalnum()):
            raise ValidationError({"insee_code": _("Le code INSEE compte cinq caractères.")})
        if not self.reference_prefix.isalpha():
            raise ValidationError({"reference_prefix": _("Lettres uniquement.")})
        self.reference_prefix = self.reference_prefix.upper()


class Role(models.TextChoices):
    REPORTING_AGENT = "agent", _("Agent signalant")
    CELL_MEMBER = "member", _("Membre de la cellule")
    REFERENT = "referent", _("Référent municipal")
    LIAISON = "liaison", _("Correspondant préfecture")
    TRAINING_COORDINATOR = "coordinator", _("Coordinateur des formations")
    DPO = "dpo", _("Délégué à la protection des données")
    TECH_ADMIN = "admin", _("Administrateur technique")


# Which scope each role is given at: a commune, a department, or either (coordinator).
COMMUNE_ROLES = {Role.REPORTING_AGENT, Role.CELL_MEMBER, Role.REFERENT}
DEPARTMENT_ROLES = {Role.LIAISON, Role.DPO}
EITHER_SCOPE_ROLES = {Role.TRAINING_COORDINATOR}
INSTALLATION_ROLES = {Role.TECH_ADMIN}


class MembershipQuerySet(models.QuerySet["Membership"]):
    def active(self, on: datetime.date | None = None) -> MembershipQuerySet:
        day = on or timezone.localdate()
        return self.filter(
            Q(starts_on__lte=day),
            Q(ends_on__isnull=True) | Q(ends_on__gte=day),
            user__is_active=True,
        )


def scope_fields(
    related_name: str, *, verbose: bool = True, department_help_text: str = ""
) -> tuple[models.ForeignKey, models.ForeignKey]:
    """The ``commune`` and ``department`` keys of an object held in one commune or in a whole
    department (memberships, charters, training sessions, headcounts): written once, so that
    every scoped model protects its scope the same way (PROTECT: a commune with history is never
    deleted under it). Unpack them in the class body: ``commune, department = scope_fields(…)``.
    """
    labels: tuple[dict, dict] = (
        ({"verbose_name": _("commune")}, {"verbose_name": _("département")})
        if verbose
        else ({}, {})
    )
    if department_help_text:
        labels[1]["help_text"] = department_help_text
    common = {
        "on_delete": models.PROTECT,
        "null": True,
        "blank": True,
        "related_name": related_name,
    }
    return (
        models.ForeignKey(Commune, **common, **labels[0]),
        models.ForeignKey(Department, **common, **labels[1]),
    )


def one_scope_constraint(name: str) -> models.CheckConstraint:
    """Exactly one of ``commune`` and ``department`` (see ``scope_fields``)."""
    return models.CheckConstraint(
        name=name,
        condition=(Q(commune__isnull=False) & Q(department__isnull=True))
        | (Q(commune__isnull=True) & Q(department__isnull=False)),
    )


class Membership(models.Model):
    """A role held by a user in one commune, or in a whole department, between two dates."""

    user = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="memberships", verbose_name=_("utilisateur")
    )
    role = models.CharField(_("rôle"), max_length=20, choices=Role.choices)
    # Both empty: an installation-wide role (DPO, technical administrator).
    commune, department = scope_fields("memberships")
    starts_on = models.DateField(_("début"), default=timezone.localdate)
    ends_on = models.DateField(_("fin"), null=True, blank=True)
    service = models.CharField(
        _("service"), max_length=150, blank=True, help_text=_("Service municipal de la personne.")
    )

    objects = MembershipQuerySet.as_manager()

    class Meta:
        verbose_name = _("rôle attribué")
        verbose_name_plural = _("rôles attribués")
        ordering = ["user__email", "role"]
        constraints = [
            models.CheckConstraint(
                name="membership_single_scope",
                condition=~(Q(commune__isnull=False) & Q(department__isnull=False)),
            ),
            models.CheckConstraint(
                name="membership_dates_ordered",
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")),
            ),
        ]
        indexes = [models.Index(fields=["user", "role"])]

    def __str__(self) -> str:
        scope = self.commune or self.department or _("installation")
        return f"{self.user} — {self.get_role_display()} — {scope}"

    def clean(self) -> None:
        role = Role(self.role) if self.role else None
        if role in COMMUNE_ROLES and (self.commune_id is None or self.department_id is not None):
            raise ValidationError(_("Ce rôle s'exerce dans une commune : choisissez la commune."))
        if role in DEPARTMENT_ROLES and (self.department_id is None or self.commune_id is not None):
            raise ValidationError(
                _("Ce rôle s'exerce dans un département : choisissez le département.")
            )
        if role in EITHER_SCOPE_ROLES and (self.commune_id is None) == (self.department_id is None):
            raise ValidationError(_("Choisissez une commune ou un département, pas les deux."))
        if role in INSTALLATION_ROLES and (self.commune_id or self.department_id):
            raise ValidationError(
                _("L'administration technique porte sur l'installation, sans commune.")
            )
        if self.ends_on and self.starts_on and self.ends_on < self.starts_on:
            raise ValidationError(_("La fin ne peut précéder le début."))

    def is_active_on(self, day: datetime.date) -> bool:
        return self.starts_on <= day and (self.ends_on is None or self.ends_on >= day)


class UserSession(models.Model):
    """Links a server-side session to its user, so that deactivation can kill every session."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="sessions")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("session")

    def __str__(self) -> str:
        return f"session of user {self.user_id}"
