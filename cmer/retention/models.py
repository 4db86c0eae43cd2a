"""What the retention job and the DPO record: the DPO's switch of the age rule, and each run.

Legal holds are on the referral (``cases.models.LegalHold``). A run's certificate (``text``
signed with the installation's checkpoint key, and its PDF) holds references and counts only.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AgeRuleChange(models.Model):
    """The DPO switched the 25th-birthday rule on or off, with a reason. Added, never changed:
    the latest row is the rule's state (``policy.age_rule_enabled``), the rows are its history."""

    enabled = models.BooleanField(_("règle des 25 ans appliquée"))
    reason = models.CharField(_("motif"), max_length=500)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField(_("le"), default=timezone.now)

    class Meta:
        verbose_name = _("changement de la règle des 25 ans")
        verbose_name_plural = _("changements de la règle des 25 ans")
        ordering = ["-changed_at", "-pk"]

    def __str__(self) -> str:
        return f"règle des 25 ans {'activée' if self.enabled else 'désactivée'} ({self.pk})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValidationError(_("Un changement enregistré ne se modifie pas."))
        super().save(*args, **kwargs)


class RetentionRun(models.Model):
    """One application of the rules (daily beat job or ``manage.py apply_retention``).

    Created when the run starts, its counts written after each batch (a run that dies half way
    shows what it did), then finished with its signed certificate. Not in the audit trail's
    automatic log: each run records one explicit entry (``Event.RETENTION``) with its counts.
    """

    class Status(models.TextChoices):
        RUNNING = "running", _("en cours")
        DONE = "done", _("terminée")
        FAILED = "failed", _("interrompue")

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("tâche quotidienne")
        COMMAND = "command", _("commande")

    started_at = models.DateTimeField(_("début"), default=timezone.now)
    finished_at = models.DateTimeField(_("fin"), null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(_("déclenchement"), max_length=10, choices=Trigger.choices)
    # {rule: {"count": n, "references": [...], ...}}, and the references skipped under a hold.
    results = models.JSONField(default=dict)
    held = models.JSONField(default=list)
    error = models.CharField(max_length=200, blank=True)
    # The signed statement (cmer.retention.certificate) and its HMAC, then the PDF carrying both.
    text = models.TextField(blank=True)
    mac = models.CharField(max_length=64, blank=True)
    pdf = models.BinaryField(null=True, blank=True)

    class Meta:
        verbose_name = _("application des durées de conservation")
        verbose_name_plural = _("applications des durées de conservation")
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"conservation {self.pk}"

    @property
    def total(self) -> int:
        return sum(int(r.get("count", 0)) for r in (self.results or {}).values())
