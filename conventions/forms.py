"""Forms of the conventions app. Business rules shared with actions live in ``rules.py``."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cmer.forms import CmerForm, CmerModelForm

from . import rules
from .models import CharterVersion, Convention, Side, Signatory


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class ParentChoiceField(forms.ModelChoiceField):
    """The convention an amendment or renewal follows, named with its commune and date."""

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.commune.name} — {obj.reference or obj.title} ({obj.effective_date:%d/%m/%Y})"


class ConventionForm(CmerModelForm):
    class Meta:
        model = Convention
        fields = ["commune", *rules.CONVENTION_FIELDS]
        field_classes = {"parent": ParentChoiceField}
        widgets = {"effective_date": DateInput(), "end_date": DateInput()}
        help_texts = {
            "end_date": _("Indiquez une date de fin ou une durée en mois."),
            "parent": _("Obligatoire pour un avenant ou un renouvellement."),
            "renewal_months": _("Par défaut, la durée initiale."),
        }

    def __init__(self, *args: Any, communes: Any, conventions: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The model's foreign keys, so ModelChoiceFields (self.fields is typed with plain Field).
        commune = cast(forms.ModelChoiceField, self.fields["commune"])
        parent = cast(ParentChoiceField, self.fields["parent"])
        commune.queryset = communes
        parent.queryset = conventions.exclude(kind=Convention.Kind.AMENDMENT).select_related(
            "commune"
        )
        if self.instance.pk:
            # The commune and kind of an existing convention do not change.
            self.fields["commune"].disabled = True
            self.fields["kind"].disabled = True

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what BaseModelForm.clean() returns
        try:
            rules.normalise_and_check(self.instance, data)
        except ValidationError as error:
            self.add_error(None, error)
        return data


class SignatoryForm(CmerModelForm):
    # Not a model field here: the action decides, from the user's roles, whether they may add a
    # signatory for this side (a crafted value gets the action's clear refusal).
    side = forms.ChoiceField(label=_("Partie"), choices=Side.choices, required=False)

    class Meta:
        model = Signatory
        fields = ["name", "capacity", "capacity_detail"]

    def __init__(self, *args: Any, sides: Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        sides = list(sides or [])
        if len(sides) == 1:
            # One side only: nothing to choose (the field stays so the POST says which side).
            self.fields["side"].initial = sides[0]
            self.fields["side"].widget = forms.HiddenInput()
        elif sides:
            side = cast(forms.ChoiceField, self.fields["side"])  # the field declared above
            side.choices = [(s, Side(s).label) for s in sides]
            self.fields["side"].required = True


class SignatureForm(CmerForm):
    signed_on = forms.DateField(label=_("Date de signature"), widget=DateInput())

    def __init__(self, *args: Any, convention: Convention, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.convention = convention

    def clean_signed_on(self) -> datetime.date:
        day = self.cleaned_data["signed_on"]
        rules.check_signature_date(self.convention, day)
        return day


class TerminationForm(CmerForm):
    terminated_on = forms.DateField(
        label=_("Date de résiliation"), widget=DateInput(), initial=timezone.localdate
    )
    reason = forms.CharField(label=_("Motif"), max_length=300)


class NonRenewalForm(CmerForm):
    notified_on = forms.DateField(
        label=_("Date de notification de la non-reconduction"),
        widget=DateInput(),
        initial=timezone.localdate,
    )

    def clean_notified_on(self) -> datetime.date:
        day = self.cleaned_data["notified_on"]
        if day > timezone.localdate():
            raise ValidationError(_("La notification ne peut être datée dans le futur."))
        return day


class PdfField(forms.FileField):
    """A real PDF of at most 20 MB: checked by content (magic bytes and a full parse)."""

    def clean(self, data: Any, initial: Any = None) -> Any:
        uploaded = super().clean(data, initial)
        if uploaded:
            rules.check_pdf(uploaded)
        return uploaded


class DocumentForm(CmerForm):
    file = PdfField(
        label=_("PDF signé"),
        help_text=_(
            "Un fichier PDF de 20 Mo au plus. Une nouvelle version ne remplace jamais l'ancienne."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf"}),
    )


class VerifyForm(CmerForm):
    file = forms.FileField(
        label=_("Document à vérifier"),
        help_text=_("Le fichier est comparé par son empreinte puis oublié : rien n'est conservé."),
    )

    def clean_file(self) -> Any:
        uploaded = self.cleaned_data["file"]
        if uploaded.size > rules.MAX_PDF_BYTES:
            raise ValidationError(_("Le fichier dépasse 20 Mo."))
        return uploaded


class CharterForm(CmerModelForm):
    class Meta:
        model = CharterVersion
        fields = ["text"]
        widgets = {"text": forms.Textarea(attrs={"rows": 16})}
