from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cmer.accounts.models import User
from cmer.forms import CmerForm

from .models import AuditEntry, Event


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return obj.email


class AuditSearchForm(CmerForm):
    reference = forms.CharField(
        label=_("Référence du dossier"),
        required=False,
        max_length=40,
        help_text=_("Par exemple TAR-2026-0007."),
    )
    actor = UserChoiceField(label=_("Personne"), queryset=User.objects.none(), required=False)
    event = forms.ChoiceField(
        label=_("Type d'événement"),
        required=False,
        choices=[("", _("Tous")), *Event.choices],
    )
    start = forms.DateField(
        label=_("Du"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("Au (inclus)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, users: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["actor"].queryset = users

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            raise forms.ValidationError(_("La date de fin précède la date de début."))
        return data

    def filter(self, queryset: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
        data = self.cleaned_data
        if data.get("reference"):
            queryset = queryset.filter(object_repr__in=names_of(data["reference"]))
        if data.get("actor"):
            queryset = queryset.filter(actor=data["actor"])
        if data.get("event"):
            queryset = queryset.filter(event=data["event"])
        if data.get("start"):
            queryset = queryset.filter(timestamp__gte=_midnight(data["start"]))
        if data.get("end"):
            queryset = queryset.filter(
                timestamp__lt=_midnight(data["end"] + datetime.timedelta(days=1))
            )
        return queryset

    def describe(self) -> list[tuple[str, str]]:
        """The filters as the DPO typed them, with their French labels (PDF header)."""
        described = []
        for name, value in self.cleaned_data.items():
            if value in (None, ""):
                continue
            field = self.fields[name]
            if name == "actor":
                text = value.email
            elif name == "event":
                text = str(dict(Event.choices).get(value, ""))
            elif isinstance(value, datetime.date):
                text = value.strftime("%d/%m/%Y")
            else:
                text = str(value)
            described.append((str(field.label), text))
        return described

    def summary(self) -> dict[str, str]:
        """The filters, as identifiers, for the EXPORT entry."""
        data = self.cleaned_data
        return {
            key: str(value.pk if hasattr(value, "pk") else value)
            for key, value in data.items()
            if value not in (None, "")
        }


def names_of(reference: str) -> set[str]:
    """How the trail names a referral and what depends on it (attachments, timeline entries,
    grants, transmission, access reasons, denials: ``cmer.audit.core.audit_repr``): its
    reference, and ``brouillon-<id>`` for what was recorded while it was a draft. The DPO's
    scope is applied by the caller (entries of their communes only)."""
    from django.apps import apps

    reference = reference.strip().upper()
    referral = apps.get_model("cases", "Referral")
    ids = referral.objects.filter(reference=reference).values_list("pk", flat=True)
    return {reference, *(f"brouillon-{pk}" for pk in ids)}


def _midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time()))
