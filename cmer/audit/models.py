"""The audit trail's storage: django-auditlog's entry model, made ours and append-only.

Our own model (AUDITLOG_LOGENTRY_MODEL) rather than auditlog's so that the table can be made
append-only: the actor and content type are PROTECTed (never SET_NULL, which would UPDATE old rows),
the actor's e-mail is copied so an entry reads on its own, and every entry is chained (see
``chain.py``, ``sealing.py``): written to ``PendingEntry`` without any lock, then moved in batches
into ``ChainedEntry``, whose ``position`` and ``prev_hash`` are unique so that the chain can never
fork. ``AuditEntry`` is the view over both that everything reads. The database itself refuses
UPDATE, DELETE and TRUNCATE (migrations 0003 and 0005, ``protection.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auditlog.models import AbstractLogEntry, LogEntryManager
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import chain


class AppendOnlyError(Exception):
    """The audit trail is append-only: an entry is never updated or deleted."""


class CanonicalJSONField(models.TextField):
    """JSON kept as the exact canonical text that was hashed (a text column, not jsonb).

    jsonb would re-order keys and re-format numbers: verification would then have to re-serialise
    what it reads, which is precisely what the chain must not depend on.
    """

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        return chain_loads(value)

    def to_python(self, value: Any) -> Any:
        return chain_loads(value) if isinstance(value, str) else value

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return chain.canonical_json(value)

    def value_to_string(self, obj: Any) -> str:
        return self.get_prep_value(self.value_from_object(obj)) or ""


def chain_loads(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


class Event(models.TextChoices):
    CHANGE = "change", _("modification")
    ACCESS = "access", _("consultation")
    LOGIN = "login", _("connexion")
    LOGOUT = "logout", _("déconnexion")
    LOGIN_FAILED = "login_failed", _("échec de connexion")
    LOCKOUT = "lockout", _("verrouillage du compte")
    OTP_FAILED = "otp_failed", _("échec du second facteur")
    OTP_ENROLLED = "otp_enrolled", _("enrôlement du second facteur")
    GRANT = "grant", _("attribution d'un accès")
    REVOKE = "revoke", _("retrait d'un accès")
    DENIED = "denied", _("accès refusé")
    EXPORT = "export", _("export")
    ARCHIVE_READ = "archive_read", _("consultation d'archive")
    TRANSMIT = "transmit", _("transmission")
    MALWARE = "malware", _("fichier refusé par l'antivirus")
    RETENTION = "retention", _("application des durées de conservation")


class AuditEntryQuerySet(models.QuerySet):
    """Refuses, in Python already, everything that would bypass the chain or rewrite it."""

    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("audit entries are never updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit entries are never deleted (see purge_audit)")

    def bulk_create(self, *args: Any, **kwargs: Any) -> list:
        raise AppendOnlyError("audit entries are chained one by one: use save()")

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        raise AppendOnlyError("audit entries are never updated")


def _commune_id_of(instance: Any) -> int | None:
    """The commune an audited object belongs to: ``audit_commune_id`` if defined, else its
    ``commune_id``. Models of the apps can define ``audit_commune_id`` (e.g. an attachment:
    ``return self.referral.commune_id``) to scope their entries for the DPO."""
    value = getattr(instance, "audit_commune_id", None)
    if value is None:
        value = getattr(instance, "commune_id", None)
    return value if isinstance(value, int) else None


def _set_repr(instance: Any, kwargs: dict[str, Any]) -> None:
    """django-auditlog names the object ``str(instance)``; a model's ``audit_repr`` wins (see
    ``core.audit_repr``)."""
    value = getattr(instance, "audit_repr", None)
    if value is not None:
        kwargs.setdefault("object_repr", str(value)[:200])


# django-stubs' plugin builds ``from_queryset()`` classes for typed managers only; auditlog's has no
# type information, so mypy calls this base dynamic (an error of the stubs' reach, not of ours).
class AuditEntryManager(LogEntryManager.from_queryset(AuditEntryQuerySet)):  # type: ignore[misc]
    def log_create(self, instance: Any, force_log: bool = False, **kwargs: Any) -> Any:
        kwargs.setdefault("commune_id", _commune_id_of(instance))
        _set_repr(instance, kwargs)
        return super().log_create(instance, force_log=force_log, **kwargs)

    def log_m2m_changes(self, changed_queryset: Any, instance: Any, *args: Any, **kw: Any) -> Any:
        kw.setdefault("commune_id", _commune_id_of(instance))
        _set_repr(instance, kw)
        return super().log_m2m_changes(changed_queryset, instance, *args, **kw)


class AuditRecord(AbstractLogEntry):
    """The content of an entry: what django-auditlog and ``record_event`` write (abstract).

    No foreign-key *constraint* in the database (``db_constraint=False``, migration 0011): a
    constraint's check locks the user, commune and content-type rows an entry names (``FOR KEY
    SHARE``) in every writer's transaction and again in every seal — all writers lock the same
    few rows, one MultiXact after another — and a row the check refused would stop the seal for
    ever. The relations stay PROTECTed by Django (deleting a user, commune or content type an
    entry names raises ``ProtectedError``; users are never deleted anyway); an entry reads on its
    own (the actor's e-mail is copied) and the chain's hashes, not constraints, prove it intact.

    Indexes: only those a query uses (on ``ChainedEntry``). django-auditlog's single-column ones
    on action, cid, object_pk, and the foreign keys' own, are covered by composite ones or unused.
    """

    event = models.CharField(
        _("événement"), max_length=20, choices=Event.choices, default=Event.CHANGE
    )
    content_type = models.ForeignKey(
        to="contenttypes.ContentType",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("type d'objet"),
        db_index=False,
        db_constraint=False,
    )
    object_pk = models.CharField(max_length=255, verbose_name=_("object pk"))
    action = models.PositiveSmallIntegerField(
        choices=AbstractLogEntry.Action.choices, verbose_name=_("action")
    )
    cid = models.CharField(max_length=255, blank=True, null=True, verbose_name=_("Correlation ID"))
    actor = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        blank=True,
        null=True,
        related_name="+",
        verbose_name=_("auteur"),
        db_index=False,
        db_constraint=False,
    )
    # Stored as canonical JSON text (hashed as stored); read back as Python values.
    serialized_data = CanonicalJSONField(null=True)
    changes = CanonicalJSONField(null=True, verbose_name=_("change message"))
    additional_data = CanonicalJSONField(blank=True, null=True, verbose_name=_("additional data"))
    # The commune the target belongs to, so that a DPO sees the entries of their department only.
    commune = models.ForeignKey(
        "accounts.Commune",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("commune"),
        db_index=False,
        db_constraint=False,
    )

    class Meta(AbstractLogEntry.Meta):
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit entries are never updated")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("audit entries are never deleted (see purge_audit)")

    def canonical_values(self) -> tuple[Any, ...]:
        """This entry's columns as they are stored, in ``chain.CANONICAL_COLUMNS`` order (a
        chained entry, or one read through the view)."""
        values = []
        for name in chain.CANONICAL_COLUMNS:
            value = getattr(self, name)
            if value is not None and name in _JSON_COLUMNS:
                value = chain.canonical_json(value)
            values.append(value)
        return tuple(values)


class AuditEntry(AuditRecord):
    """Every entry, chained or not yet: what the DPO, the referent and django-auditlog read.

    A view (``audit_trail``, migration 0005) over the chained entries (``ChainedEntry``) and
    those recorded since the last seal (``PendingEntry``, position NULL). Writing one
    (``save()``, ``objects.create()``, django-auditlog's ``log_create``, ``core.record_event``)
    appends it to the pending table (``writing.py``): one INSERT, no lock, so that concurrent
    requests never wait for each other. ``sealing.seal_pending`` then chains pending entries in
    batches, under the chain lock (after the writing transaction commits, and every few seconds
    by beat).
    """

    position = models.BigIntegerField(_("position"), null=True, editable=False)
    prev_hash = models.CharField(
        _("empreinte précédente"), max_length=64, null=True, editable=False
    )
    entry_hash = models.CharField(_("empreinte"), max_length=64, null=True, editable=False)

    objects = AuditEntryManager()

    class Meta(AuditRecord.Meta):
        managed = False
        db_table = "audit_trail"
        verbose_name = _("entrée du journal")
        verbose_name_plural = _("entrées du journal")

    @property
    def is_chained(self) -> bool:
        return self.position is not None

    def _do_insert(self, manager, using, fields, returning_fields, raw):
        """Append to the pending table (the view cannot take an INSERT): the write path of
        ``writing.py``, installed by ``install_write_path`` (see there)."""
        row = _write_path()(self, using)
        return [row] if returning_fields else []


class PendingEntry(AuditRecord):
    """Recorded, not chained yet. Append-only like the chain: the database refuses UPDATE and
    TRUNCATE, and a DELETE unless the chain already holds the same entry, unchanged (the
    sealer's move; migration 0005, ``protection.py``). Ids are the entries' final ids."""

    # No index but the primary key: the table holds seconds of entries (auditlog's own indexes
    # on these two would be paid on every append for nothing).
    object_id = models.BigIntegerField(blank=True, null=True, verbose_name=_("object id"))
    timestamp = models.DateTimeField(default=timezone.now, verbose_name=_("timestamp"))

    objects = AuditEntryManager()

    def save(self, *args: Any, **kwargs: Any) -> None:
        raise AppendOnlyError("entries are recorded through AuditEntry (record_event, auditlog)")

    class Meta(AuditRecord.Meta):
        db_table = "audit_pending"
        verbose_name = _("entrée en attente de chaînage")
        verbose_name_plural = _("entrées en attente de chaînage")
        ordering = ["id"]


class ChainedEntry(AuditRecord):
    """The chain (see ``chain.py``): written only by the sealer, in batches, under the chain
    lock; ``position`` is unique, so two sealers can never fork it (two entries at one
    position), and an entry not linked to the one right before it is reported by
    verification. The database refuses UPDATE, DELETE and TRUNCATE (``protection.py``)."""

    position = models.BigIntegerField(_("position"), unique=True, editable=False)
    # Not indexed (migration 0012): no query looks an entry up by the hash before it, and a
    # unique index on random 64-character keys was a third of the sealer's INSERT. Position
    # keeps the chain single (see above); verification checks every link.
    prev_hash = models.CharField(_("empreinte précédente"), max_length=64)
    entry_hash = models.CharField(_("empreinte"), max_length=64, editable=False)

    objects = AuditEntryManager()

    def save(self, *args: Any, **kwargs: Any) -> None:
        raise AppendOnlyError("only sealing.seal_pending writes the chain")

    class Meta(AuditRecord.Meta):
        db_table = "audit_auditentry"
        verbose_name = _("entrée chaînée")
        verbose_name_plural = _("entrées chaînées")
        indexes = [
            models.Index(fields=["content_type", "object_pk", "timestamp"]),
            models.Index(fields=["actor", "timestamp"]),
            # The DPO's "who saw or changed TAR-2026-0007": object_repr is the reference.
            models.Index(fields=["object_repr"], name="audit_entry_repr_idx"),
            models.Index(fields=["commune", "timestamp"], name="audit_entry_commune_idx"),
            models.Index(fields=["event", "timestamp"], name="audit_entry_event_idx"),
        ]


# The write path (``writing.append_row``) needs the sealer, which needs these models: it is
# installed here by ``writing`` itself (imported by the app's ``ready()``), so that this module
# imports neither and there is no import circle.
_append_row: Callable[[AuditEntry, str], tuple[Any, ...]] | None = None


def install_write_path(append_row: Callable[[AuditEntry, str], tuple[Any, ...]]) -> None:
    global _append_row
    _append_row = append_row


def _write_path() -> Callable[[AuditEntry, str], tuple[Any, ...]]:
    if _append_row is None:
        raise ImproperlyConfigured("the audit write path is installed by AuditConfig.ready()")
    return _append_row


_CHAIN_COLUMNS = frozenset({"position", "prev_hash", "entry_hash", "id"})
_JSON_COLUMNS = frozenset({"changes", "additional_data", "serialized_data"})
# The content columns, in canonical order (the chain's text is position, prev_hash, id, these).
CONTENT_COLUMNS: tuple[str, ...] = chain.CANONICAL_COLUMNS[3:]


def chain_base(connection: Any) -> tuple[int, str]:
    """Where an empty chain starts: the last purge boundary, or the genesis."""
    boundary = (
        AuditCheckpoint.objects.using(connection.alias)
        .filter(kind=AuditCheckpoint.Kind.BOUNDARY)
        .order_by("-head_position")
        .values_list("head_position", "head_hash")
        .first()
    )
    return boundary or (0, chain.GENESIS_HASH)


class AuditCheckpoint(models.Model):
    """A signed statement "the chain's head was <hash> at <position>, with <count> entries".

    The MAC uses settings.AUDIT_CHECKPOINT_KEY, which is not in the database: whoever rewrites the
    table and recomputes every hash still cannot produce checkpoints that match. The DPO downloads
    them and keeps them outside the system. A *boundary* checkpoint is left by a retention purge:
    the chain that remains starts right after it.
    """

    class Kind(models.TextChoices):
        DAILY = "daily", _("quotidien")
        MANUAL = "manual", _("manuel")
        BOUNDARY = "boundary", _("limite de purge")

    created_at = models.DateTimeField(_("créé le"), default=timezone.now)
    kind = models.CharField(_("type"), max_length=10, choices=Kind.choices)
    head_position = models.BigIntegerField(_("position de tête"))
    head_hash = models.CharField(_("empreinte de tête"), max_length=64)
    entry_count = models.BigIntegerField(_("nombre d'entrées"))
    mac = models.CharField(_("sceau HMAC"), max_length=64)

    class Meta:
        verbose_name = _("point de contrôle")
        verbose_name_plural = _("points de contrôle")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.text()

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("checkpoints are never updated")
        # Microseconds survive every backend; the MAC covers the stored value.
        self.mac = chain.checkpoint_mac(self.text())
        super().save(*args, **kwargs)

    def text(self) -> str:
        return chain.checkpoint_text(
            kind=self.kind,
            head_position=self.head_position,
            head_hash=self.head_hash,
            entry_count=self.entry_count,
            created_at=self.created_at,
        )

    def line(self) -> str:
        """The downloadable form: text and MAC on one line."""
        return f"{self.text()} mac={self.mac}"

    def mac_is_valid(self) -> bool:
        return chain.mac_is_valid(self.text(), self.mac)


class AuditVerification(models.Model):
    """The result of one ``verify_audit`` run, shown to the DPO (the latest one)."""

    started_at = models.DateTimeField(_("début"))
    finished_at = models.DateTimeField(_("fin"))
    ok = models.BooleanField(_("chaîne intacte"))
    checked = models.BigIntegerField(_("entrées vérifiées"))
    head_position = models.BigIntegerField(_("position de tête"), null=True)
    head_hash = models.CharField(_("empreinte de tête"), max_length=64, blank=True)
    problem = models.CharField(_("anomalie"), max_length=20, blank=True)
    problem_position = models.BigIntegerField(_("position de l'anomalie"), null=True)
    message = models.TextField(_("message"), blank=True)

    class Meta:
        verbose_name = _("vérification")
        verbose_name_plural = _("vérifications")
        ordering = ["-finished_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.finished_at:%Y-%m-%d %H:%M} {'ok' if self.ok else self.problem}"


class AuditExport(models.Model):
    """A PDF export of the trail prepared by the worker (rendering 2,000 rows takes seconds: no
    request waits for it). Only its requester downloads it; the filters are kept as typed."""

    class Status(models.TextChoices):
        PENDING = "pending", _("en préparation")
        READY = "ready", _("prêt")
        FAILED = "failed", _("échec")

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(_("demandé le"), default=timezone.now)
    filters = models.JSONField(_("critères"), default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    rows = models.PositiveIntegerField(default=0)
    render_seconds = models.FloatField(null=True, blank=True)
    content = models.BinaryField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("export du journal")
        verbose_name_plural = _("exports du journal")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"export {self.pk}"


class VerificationRun(models.Model):
    """A verification the DPO started from the integrity page ("vérifier maintenant"), run by
    the worker; its progress is shown on the page while it runs. The result itself is an
    ``AuditVerification`` (append-only), linked here."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("en attente")
        RUNNING = "running", _("en cours")
        DONE = "done", _("terminée")
        FAILED = "failed", _("interrompue")

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    checked = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    result = models.ForeignKey(
        AuditVerification, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("vérification demandée")
        verbose_name_plural = _("vérifications demandées")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"verification run {self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def percent(self) -> int:
        return min(100, int(100 * self.checked / self.total)) if self.total else 0
