"""The audit trail's storage: django-auditlog's entry model, made ours and append-only.

Our own model (AUDITLOG_LOGENTRY_MODEL) rather than auditlog's so that the table can be made
append-only: the actor and content type are PROTECTed (never SET_NULL, which would UPDATE old rows),
the actor's e-mail is copied so an entry reads on its own, and every entry is chained (see
``chain.py``): ``position`` and ``prev_hash`` are unique, so two writers can never fork the chain.
The database itself refuses UPDATE, DELETE and TRUNCATE (migration 0002, ``protection.py``).
"""

from __future__ import annotations

from typing import Any

from auditlog.models import AbstractLogEntry, LogEntryManager
from django.conf import settings
from django.db import IntegrityError, connections, models, transaction
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


class AuditEntryManager(LogEntryManager.from_queryset(AuditEntryQuerySet)):  # type: ignore[misc]
    def log_create(self, instance: Any, force_log: bool = False, **kwargs: Any) -> Any:
        kwargs.setdefault("commune_id", _commune_id_of(instance))
        return super().log_create(instance, force_log=force_log, **kwargs)

    def log_m2m_changes(self, changed_queryset: Any, instance: Any, *args: Any, **kw: Any) -> Any:
        kw.setdefault("commune_id", _commune_id_of(instance))
        return super().log_m2m_changes(changed_queryset, instance, *args, **kw)


class AuditEntry(AbstractLogEntry):
    # Indexes: only those a query uses (listed in Meta). Every index is paid on each append, and
    # appends are serialised by the chain lock: django-auditlog's single-column ones on action,
    # cid, object_pk, and the foreign keys' own, are covered by the composite ones or unused.
    event = models.CharField(
        _("événement"), max_length=20, choices=Event.choices, default=Event.CHANGE
    )
    content_type = models.ForeignKey(
        to="contenttypes.ContentType",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("type d'objet"),
        db_index=False,
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
    )
    # The chain (see chain.py): assigned under a lock, inside the inserting transaction.
    position = models.BigIntegerField(_("position"), unique=True, editable=False)
    # Unique (a constraint in Meta: no extra LIKE index as unique=True would add on PostgreSQL).
    prev_hash = models.CharField(_("empreinte précédente"), max_length=64)
    entry_hash = models.CharField(_("empreinte"), max_length=64, editable=False)

    objects = AuditEntryManager()

    class Meta(AbstractLogEntry.Meta):
        verbose_name = _("entrée du journal")
        verbose_name_plural = _("entrées du journal")
        indexes = [
            models.Index(fields=["content_type", "object_pk", "timestamp"]),
            models.Index(fields=["actor", "timestamp"]),
            # The DPO's "who saw or changed TAR-2026-0007": object_repr is the reference.
            models.Index(fields=["object_repr"], name="audit_entry_repr_idx"),
            models.Index(fields=["commune", "timestamp"], name="audit_entry_commune_idx"),
            models.Index(fields=["event", "timestamp"], name="audit_entry_event_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["prev_hash"], name="audit_entry_prev_hash_uniq"),
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit entries are never updated")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("audit entries are never deleted (see purge_audit)")

    def canonical_values(self, *, head: bool = True) -> tuple[Any, ...]:
        """This entry's columns as they are stored, in ``chain.CANONICAL_COLUMNS`` order
        (``head=False``: without position, previous hash and time, not known yet)."""
        values = []
        for name in chain.CANONICAL_COLUMNS:
            if not head and name in _HEAD_COLUMNS:
                values.append(None)
                continue
            value = getattr(self, name)
            if value is not None and name in _JSON_COLUMNS:
                value = chain.canonical_json(value)
            values.append(value)
        return tuple(values)

    def _do_insert(self, manager, using, fields, returning_fields, raw):  # type: ignore[no-untyped-def]
        """Append to the chain: lock, read the head, hash, insert — in one transaction.

        PostgreSQL: a transaction-scoped advisory lock serialises appends until COMMIT. Lock and
        head are one round trip (two statements in one query: the second one's snapshot is taken
        after the lock is granted, so it sees the last committed entry), then the INSERT; no
        savepoint. Everything that does not depend on the head is made text before the lock, so
        that under it only position, previous hash and time are formatted and hashed. Later
        entries of the same transaction already hold the lock and know the head (``_HeldHead``):
        they only INSERT.

        SQLite: the database's single writer serialises commits; a rare race between two
        threads' reads hits the unique constraints and is retried (in a savepoint).
        """
        connection = connections[using]
        if self.object_repr and len(self.object_repr) > 200:
            self.object_repr = self.object_repr[:200]
        texts = chain.canonical_strings(self.canonical_values(head=False))
        if connection.vendor == "postgresql":
            with transaction.atomic(using=using, savepoint=False):
                held = _HeldHead.current(connection)
                head = (held.position, held.hash) if held else _lock_and_read_head(connection)
                self._link(head, texts)
                if raw:
                    result = super()._do_insert(manager, using, fields, returning_fields, raw)
                else:
                    result = self._insert_row(connection, fields, returning_fields)
                transaction.on_commit(_HeldHead(self.position, self.entry_hash), using=using)
                return result
        for attempt in range(5):
            try:
                with transaction.atomic(using=using):
                    self._link(_read_head(connection), texts)
                    return super()._do_insert(manager, using, fields, returning_fields, raw)
            except IntegrityError:
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _insert_row(self, connection: Any, fields: list, returning_fields: list) -> list:
        """The INSERT Django's compiler would write (same ``pre_save`` and ``get_db_prep_save``
        per field), its SQL built once: the compiler's per-call work is spent under the lock."""
        key = (tuple(f.attname for f in fields), tuple(f.attname for f in returning_fields))
        sql = _INSERT_SQL.get(key)
        if sql is None:
            quote = connection.ops.quote_name
            sql = _INSERT_SQL[key] = (
                f"INSERT INTO {quote(self._meta.db_table)} "  # noqa: S608
                f"({', '.join(quote(f.column) for f in fields)}) "
                f"VALUES ({', '.join(['%s'] * len(fields))})"
                + (
                    f" RETURNING {', '.join(quote(f.column) for f in returning_fields)}"
                    if returning_fields
                    else ""
                )
            )
        params = [f.get_db_prep_save(f.pre_save(self, True), connection) for f in fields]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [cursor.fetchone()] if returning_fields else []

    def _link(self, head: tuple[int, str], texts: list[str | None]) -> None:
        """Take the place after ``head`` (under the chain lock): position, link, time, hash."""
        self.position = head[0] + 1
        self.prev_hash = head[1]
        # The time of recording, taken under the lock: time order and chain order agree.
        self.timestamp = timezone.now()
        texts[_POSITION] = str(self.position)
        texts[_PREV_HASH] = self.prev_hash
        texts[_TIMESTAMP] = chain.format_timestamp(self.timestamp)
        self.entry_hash = chain.hash_of_strings(texts)


_INSERT_SQL: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}


class _HeldHead:
    """ "This transaction holds the chain lock and its last entry is (position, hash)".

    Registered with ``transaction.on_commit`` after each append, as a no-op callback: Django
    drops it when the transaction, or the savepoint it was registered in, is rolled back — which
    is exactly when the entry disappears (and, for a savepoint, possibly the lock acquired in
    it). So while it is pending, the lock is held and the head is known without asking.
    """

    __slots__ = ("hash", "position")

    def __init__(self, position: int, digest: str) -> None:
        self.position = position
        self.hash = digest

    def __call__(self) -> None:
        pass

    @classmethod
    def current(cls, connection: Any) -> _HeldHead | None:
        if not connection.in_atomic_block:
            return None
        for pending in reversed(connection.run_on_commit):
            if isinstance(pending[1], cls):
                return pending[1]
        return None


def _head_sql(connection: Any) -> str:
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    return f"SELECT position, entry_hash FROM {table} ORDER BY position DESC LIMIT 1"  # noqa: S608


def _lock_and_read_head(connection: Any) -> tuple[int, str]:
    with connection.cursor() as cursor:
        # No parameters: sent as one simple query, the SELECT starting once the lock is held.
        cursor.execute(
            f"SELECT pg_advisory_xact_lock({int(chain.CHAIN_LOCK_KEY)}); {_head_sql(connection)}"
        )
        cursor.nextset()
        head = cursor.fetchone()
    return head or _chain_base(connection)


def _read_head(connection: Any) -> tuple[int, str]:
    with connection.cursor() as cursor:
        cursor.execute(_head_sql(connection))
        head = cursor.fetchone()
    return head or _chain_base(connection)


def _chain_base(connection: Any) -> tuple[int, str]:
    """Where an empty table's chain starts: the last purge boundary, or the genesis."""
    boundary = (
        AuditCheckpoint.objects.using(connection.alias)
        .filter(kind=AuditCheckpoint.Kind.BOUNDARY)
        .order_by("-head_position")
        .values_list("head_position", "head_hash")
        .first()
    )
    return boundary or (0, chain.GENESIS_HASH)


_JSON_COLUMNS = frozenset({"changes", "additional_data", "serialized_data"})
_HEAD_COLUMNS = frozenset({"position", "prev_hash", "timestamp"})
_POSITION = chain.CANONICAL_COLUMNS.index("position")
_PREV_HASH = chain.CANONICAL_COLUMNS.index("prev_hash")
_TIMESTAMP = chain.CANONICAL_COLUMNS.index("timestamp")


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
