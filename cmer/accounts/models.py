"""People, places and roles: who is who in which commune.

Every confidential object of the other apps belongs to exactly one Commune; what a person may do
there follows from their active Membership(s) — see cmer.permissions.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


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
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    # Not fields. Bound to the request's user by django_otp's OTPMiddleware: True once the
    # second factor of this session is passed.
    is_verified: Callable[[], bool]
    # The stored state, noted before each save by ``signals.note_previous_state``.
    _was_active: bool | None
    _previous_password: str | None

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

    @property
    def is_privileged(self) -> bool:
        """Staff or superuser: a technical administrator account, which holds no content role."""
        return bool(self.is_staff or self.is_superuser)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._becomes_administrator_with_content_role():
            raise ValidationError(ADMIN_HOLDS_CONTENT_ROLE)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        super().clean()
        # The admin's user form: a clear message rather than the refusal of save().
        if self._becomes_administrator_with_content_role():
            raise ValidationError(
                {"is_staff" if self.is_staff else "is_superuser": ADMIN_HOLDS_CONTENT_ROLE}
            )

    def _becomes_administrator_with_content_role(self) -> bool:
        # Only when the account *becomes* an administrator: a save of an administrator that
        # already is one (last login, name) must not fail on a membership held before the rule.
        if not self.is_privileged or self.pk is None:
            return False
        before = User.objects.filter(pk=self.pk).values("is_staff", "is_superuser").first()
        if before is None or before["is_staff"] or before["is_superuser"]:
            return False
        return Membership.objects.content_roles_held_by(self.pk).exists()


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
# Every role but the technical administrator's reads referrals, minutes, training records or the
# audit trail: an administrator (staff or superuser) account never holds one (DESIGN.md inv. 7).
CONTENT_ROLES = frozenset(Role) - INSTALLATION_ROLES

ADMIN_HOLDS_CONTENT_ROLE = _(
    "Un compte d'administration technique ne peut détenir aucun rôle donnant accès aux "
    "signalements, relevés, formations ou au journal d'audit : utilisez un compte personnel "
    "distinct, sans accès à l'administration."
)


class MembershipStatus(models.TextChoices):
    """Four-eyes on access rights: requested by the administrator, confirmed by someone else."""

    REQUESTED = "requested", _("demandé")
    CONFIRMED = "confirmed", _("confirmé")
    REFUSED = "refused", _("refusé")


class MembershipQuerySet(models.QuerySet["Membership"]):
    def active(self, on: datetime.date | None = None) -> MembershipQuerySet:
        """Memberships in force on ``on`` (today): confirmed by a second person, within their
        dates, of an active account — and never a content role of an administrator account,
        even one that exists despite the rule (defence in depth: see ``Membership.save``)."""
        day = on or timezone.localdate()
        return self.filter(
            Q(starts_on__lte=day),
            Q(ends_on__isnull=True) | Q(ends_on__gte=day),
            ~(Q(role__in=CONTENT_ROLES) & (Q(user__is_staff=True) | Q(user__is_superuser=True))),
            status=MembershipStatus.CONFIRMED,
            user__is_active=True,
        )

    def content_roles_held_by(self, user_id: int) -> MembershipQuerySet:
        """Content roles of ``user_id`` requested or confirmed and not ended before today."""
        return self.filter(
            Q(ends_on__isnull=True) | Q(ends_on__gte=timezone.localdate()),
            user_id=user_id,
            role__in=CONTENT_ROLES,
        ).exclude(status=MembershipStatus.REFUSED)

    def forbidden_for_administrators(self) -> MembershipQuerySet:
        """Content roles held by administrator accounts (what ``manage.py check`` reports)."""
        return self.filter(
            Q(ends_on__isnull=True) | Q(ends_on__gte=timezone.localdate()),
            Q(user__is_staff=True) | Q(user__is_superuser=True),
            role__in=CONTENT_ROLES,
        ).exclude(status=MembershipStatus.REFUSED)


def scope_fields(
    related_name: str, *, verbose: bool = True, department_help_text: StrOrPromise = ""
) -> tuple[models.ForeignKey, models.ForeignKey]:
    """The ``commune`` and ``department`` keys of an object held in one commune or in a whole
    department (memberships, charters, training sessions, headcounts): written once, so that
    every scoped model protects its scope the same way (PROTECT: a commune with history is never
    deleted under it). Unpack them in the class body: ``commune, department = scope_fields(…)``.
    """
    labels: tuple[dict[str, Any], dict[str, Any]] = (
        ({"verbose_name": _("commune")}, {"verbose_name": _("département")})
        if verbose
        else ({}, {})
    )
    if department_help_text:
        labels[1]["help_text"] = department_help_text
    common: dict[str, Any] = {
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
    """A role held by a user in one commune, or in a whole department, between two dates.

    Lifecycle (DESIGN.md): *requested* by the technical administrator → *confirmed* by a second
    person with authority (``cmer.accounts.memberships``) → in force between its dates → ended by
    an earlier end date (at once, no confirmation). Only confirmed memberships give a role
    (``MembershipQuerySet.active``). A confirmed membership never widens silently: a change of
    person, role, scope, or of the days it covers from today on makes it a request again
    (``save``). A content role never goes to an administrator account (``clean``, ``save``, and
    on PostgreSQL a trigger: ``guards.py``).
    """

    user = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="memberships", verbose_name=_("utilisateur")
    )
    role = models.CharField(_("rôle"), max_length=20, choices=Role.choices)
    # Both empty: an installation-wide role (technical administrator).
    commune, department = scope_fields("memberships")
    starts_on = models.DateField(_("début"), default=timezone.localdate)
    ends_on = models.DateField(_("fin"), null=True, blank=True)
    service = models.CharField(
        _("service"), max_length=150, blank=True, help_text=_("Service municipal de la personne.")
    )
    status = models.CharField(
        _("état"),
        max_length=10,
        choices=MembershipStatus.choices,
        default=MembershipStatus.REQUESTED,
        editable=False,
    )
    requested_by = models.ForeignKey(
        User,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("demandé par"),
    )
    requested_at = models.DateTimeField(_("demandé le"), null=True, blank=True, editable=False)
    decided_by = models.ForeignKey(
        User,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("confirmé ou refusé par"),
    )
    decided_at = models.DateTimeField(
        _("confirmé ou refusé le"), null=True, blank=True, editable=False
    )
    # The refusal's reason; for a confirmation with no confirming person, its written basis
    # (server bootstrap command, roles held before four-eyes existed).
    decision_reason = models.CharField(_("motif"), max_length=500, blank=True, editable=False)

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
            # Four-eyes, in the database too: whoever decides is neither the person concerned
            # nor the one who asked.
            models.CheckConstraint(
                name="membership_decided_by_another",
                condition=Q(decided_by__isnull=True)
                | (
                    ~Q(decided_by=models.F("user"))
                    & (Q(requested_by__isnull=True) | ~Q(decided_by=models.F("requested_by")))
                ),
            ),
            # Confirmed by a person, or on a written basis (bootstrap command, migration).
            models.CheckConstraint(
                name="membership_confirmed_with_basis",
                condition=~Q(status="confirmed")
                | Q(decided_by__isnull=False)
                | ~Q(decision_reason=""),
            ),
            models.CheckConstraint(
                name="membership_refused_with_reason",
                condition=~Q(status="refused")
                | (Q(decided_by__isnull=False) & ~Q(decision_reason="")),
            ),
        ]
        indexes = [
            models.Index(fields=["user", "role"]),
            models.Index(
                fields=["status", "commune"],
                name="membership_pending_idx",
                condition=Q(status="requested"),
            ),
        ]

    # Not a field: set by ``memberships`` on the save of a confirmer's decision, which may change
    # a confirmed membership without turning it back into a request (``save``).
    _deciding: bool

    def __str__(self) -> str:
        scope = self.commune or self.department or _("installation")
        return f"{self.user} — {self.get_role_display()} — {scope}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        previous = self._stored()
        if self._gives_content_role_to_administrator(previous):
            raise ValidationError(ADMIN_HOLDS_CONTENT_ROLE)
        if (
            previous is not None
            and previous.status == MembershipStatus.CONFIRMED
            and self.status == MembershipStatus.CONFIRMED
            and not getattr(self, "_deciding", False)
            and widens(previous, self)
        ):
            # Whatever path changed it (the admin's actions do this explicitly), a confirmed
            # membership that would give more than was confirmed becomes a request again.
            self.status = MembershipStatus.REQUESTED
            self.decided_by = None
            self.decided_at = None
            self.decision_reason = ""
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {
                    *update_fields,
                    "status",
                    "decided_by",
                    "decided_at",
                    "decision_reason",
                }
        super().save(*args, **kwargs)

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
        if self._gives_content_role_to_administrator():
            raise ValidationError({"user": ADMIN_HOLDS_CONTENT_ROLE})

    def _stored(self) -> Membership | None:
        if self.pk is None:
            return None
        return Membership.objects.filter(pk=self.pk).first()

    def _gives_content_role_to_administrator(self, previous: Membership | None = None) -> bool:
        """True when saving this would give (more of) a content role to a staff or superuser
        account. Ending, refusing or narrowing one held before the rule existed stays possible."""
        if not self.role or self.role not in CONTENT_ROLES or self.user_id is None:
            return False
        if self.status == MembershipStatus.REFUSED:
            return False
        flags = User.objects.filter(pk=self.user_id).values("is_staff", "is_superuser").first()
        if not flags or not (flags["is_staff"] or flags["is_superuser"]):
            return False
        if previous is None and self.pk is not None:
            previous = self._stored()
        if previous is None:
            return True
        newly_confirmed = (
            self.status == MembershipStatus.CONFIRMED
            and previous.status != MembershipStatus.CONFIRMED
        )
        return newly_confirmed or widens(previous, self)

    def is_active_on(self, day: datetime.date) -> bool:
        return (
            self.status == MembershipStatus.CONFIRMED
            and self.starts_on <= day
            and (self.ends_on is None or self.ends_on >= day)
        )

    @property
    def is_pending(self) -> bool:
        return self.status == MembershipStatus.REQUESTED

    @property
    def scope(self) -> Commune | Department | None:
        return self.commune or self.department


def _days_from(
    starts_on: datetime.date, ends_on: datetime.date | None, today: datetime.date
) -> tuple[datetime.date, datetime.date | None] | None:
    """The days a membership covers from ``today`` on, as (first, last or None); None if none."""
    first = max(starts_on, today)
    if ends_on is not None and ends_on < first:
        return None
    return first, ends_on


def widens(before: Membership, after: Membership, today: datetime.date | None = None) -> bool:
    """Does ``after`` give anything ``before`` did not? Another person, role or scope always
    does; dates do when they cover a day, from today on, that ``before`` did not cover. Moving
    the end date earlier (leaving the cell) never widens: it takes effect without confirmation.
    """
    if (
        before.user_id != after.user_id
        or before.role != after.role
        or before.commune_id != after.commune_id
        or before.department_id != after.department_id
    ):
        return True
    if after.starts_on is None:  # an invalid form: treat as the widest change
        return True
    today = today or timezone.localdate()
    new = _days_from(after.starts_on, after.ends_on, today)
    if new is None:
        return False
    old = _days_from(before.starts_on, before.ends_on, today)
    if old is None:
        return True
    if new[0] < old[0]:
        return True
    return old[1] is not None and (new[1] is None or new[1] > old[1])


class UserSession(models.Model):
    """Links a server-side session to its user, so that deactivation can kill every session and
    the person can see and end theirs (``sessions.py``). The key stays in the database, like
    Django's own session table; pages, logs and the audit trail name a session by its id or by
    ``sessions.key_digest``, never by its key."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="sessions")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    user_agent = models.CharField(_("navigateur"), max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(_("adresse IP"), null=True, blank=True)
    # Written with the session's own last activity, at most once a minute (middleware.py).
    last_seen = models.DateTimeField(_("dernière activité"), null=True, blank=True)
    # Null while the session has passed the password only: shown apart on the sessions page,
    # since a stranger stuck at the second factor means the password is known to someone.
    second_factor_at = models.DateTimeField(_("second facteur validé le"), null=True, blank=True)

    class Meta:
        verbose_name = _("session")

    def __str__(self) -> str:
        return f"session of user {self.user_id}"
