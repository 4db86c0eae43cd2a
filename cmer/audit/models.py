"""The audit trail's storage: django-auditlog's entry model, made ours.

Our own model (AUDITLOG_LOGENTRY_MODEL) rather than auditlog's so that the table can be made
append-only: the actor and content type are PROTECTed (never SET_NULL, which would UPDATE old rows)
and the actor's e-mail is copied so an entry reads on its own.
"""

from __future__ import annotations

from auditlog.models import AbstractLogEntry
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


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


class AuditEntry(AbstractLogEntry):
    event = models.CharField(
        _("événement"), max_length=20, choices=Event.choices, default=Event.CHANGE, db_index=True
    )
    content_type = models.ForeignKey(
        to="contenttypes.ContentType",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("type d'objet"),
    )
    actor = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        blank=True,
        null=True,
        related_name="+",
        verbose_name=_("auteur"),
    )

    class Meta(AbstractLogEntry.Meta):
        verbose_name = _("entrée du journal")
        verbose_name_plural = _("entrées du journal")
        indexes = [
            models.Index(fields=["content_type", "object_pk", "timestamp"]),
            models.Index(fields=["actor", "timestamp"]),
        ]
