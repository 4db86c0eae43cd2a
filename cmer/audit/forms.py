from __future__ import annotations

import datetime
from typing import Any, cast

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cmer.accounts.models import User
from cmer.forms import CmerForm

from . import about
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
        cast(UserChoiceField, self.fields["actor"]).queryset = users  # the field declared above

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what BaseForm.clean() returns
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            raise forms.ValidationError(_("La date de fin précède la date de début."))
        return data

    def filter(self, queryset: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
        data = self.cleaned_data
        if data.get("reference"):
            queryset = queryset.filter(about.about_reference(data["reference"]))
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

    def searched_reference(self) -> str:
        """The referral searched for, as the trail names it ("" if none or the form is invalid)."""
        if not self.is_bound or not self.is_valid():
            return ""
        return about.normalise(self.cleaned_data.get("reference") or "")

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


def _midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time()))
