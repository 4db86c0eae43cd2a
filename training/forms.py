from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cmer.forms import CmerForm, CmerModelForm

from . import access
from .models import Attendance, TrainingSession, clean_verification_code
from .parsing import MAX_BYTES


class SessionForm(CmerModelForm):
    scope = forms.ChoiceField(label=_("Commune ou département"))

    class Meta:
        model = TrainingSession
        fields = ["title", "date", "duration_hours", "trainer", "place", "audience", "capacity"]
        widgets = {"date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        # The field declared above (self.fields holds deep copies, typed as plain Field).
        cast(forms.ChoiceField, self.fields["scope"]).choices = access.manageable_scopes(user)
        instance = self.instance
        if instance.pk:
            self.initial["scope"] = (
                f"c:{instance.commune_id}" if instance.commune_id else f"d:{instance.department_id}"
            )
        # Scope first: it is what the session belongs to.
        self.order_fields(["scope", *self.Meta.fields])

    def clean_scope(self) -> Any:
        return access.resolve_scope(self.user, self.cleaned_data["scope"])

    def clean_duration_hours(self) -> Any:
        value = self.cleaned_data["duration_hours"]
        if value is not None and value <= 0:
            raise forms.ValidationError(_("La durée doit être positive."))
        return value


class UploadForm(CmerForm):
    file = forms.FileField(
        label=_("Fichier des présences"),
        help_text=_(
            "CSV (point-virgule ou virgule) ou XLSX, 5 Mo et 20 000 lignes au plus. En-têtes "
            "reconnues : Nom, Prénom, Service ou Direction, Organisme, Courriel, Présent, Remarque."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx,.txt"}),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(_("Le fichier dépasse 5 Mo."))
        if upload.size == 0:
            raise forms.ValidationError(_("Le fichier est vide."))
        return upload


class AttendanceForm(CmerModelForm):
    class Meta:
        model = Attendance
        fields = ["status", "remark"]


class HeadcountForm(CmerForm):
    scope = forms.ChoiceField(label=_("Commune ou département"))
    year = forms.IntegerField(label=_("Année"), min_value=2000, max_value=2100)
    service = forms.CharField(label=_("Service ou organisme"), max_length=150)
    headcount = forms.IntegerField(label=_("Effectif"), min_value=1, max_value=1_000_000)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        # The field declared above (self.fields holds deep copies, typed as plain Field).
        cast(forms.ChoiceField, self.fields["scope"]).choices = access.manageable_scopes(user)
        self.fields["year"].initial = timezone.localdate().year

    def clean_scope(self) -> Any:
        return access.resolve_scope(self.user, self.cleaned_data["scope"])

    def clean_service(self) -> str:
        value = self.cleaned_data["service"].strip()
        if value.startswith(("=", "+", "-", "@")):
            raise forms.ValidationError(_("Le nom ne peut commencer par = + - ou @."))
        return value


class VerifyForm(CmerForm):
    code = forms.CharField(
        label=_("Code de vérification"),
        max_length=20,
        help_text=_("Douze caractères, imprimés en bas de l'attestation (ex. : ABCD-EFGH-JKMN)."),
    )

    def clean_code(self) -> str:
        code = clean_verification_code(self.cleaned_data["code"])
        if not code:
            raise forms.ValidationError(_("Le code compte douze lettres ou chiffres."))
        return code


class StatsFilterForm(CmerForm):
    scope = forms.ChoiceField(label=_("Périmètre"), required=False)
    year = forms.IntegerField(label=_("Année"), required=False, min_value=2000, max_value=2100)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        scope = cast(forms.ChoiceField, self.fields["scope"])  # the field declared above
        scope.choices = [("", _("Tout mon périmètre")), *access.stats_scopes(user)]
