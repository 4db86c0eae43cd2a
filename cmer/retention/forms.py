from __future__ import annotations

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from cmer.forms import CmerForm

from . import certificate


class AgeRuleForm(CmerForm):
    enabled = forms.TypedChoiceField(
        label=_("Règle des 25 ans"),
        choices=[("1", _("Appliquer")), ("0", _("Suspendre"))],
        coerce=lambda value: value == "1",
    )
    reason = forms.CharField(
        label=_("Motif (délibération, avis, décision)"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class LegalHoldForm(CmerForm):
    reference = forms.CharField(
        label=_("Référence du signalement"),
        max_length=40,
        help_text=_("Par exemple TAR-2026-0007."),
    )
    reason = forms.CharField(
        label=_("Motif (réquisition, procédure en cours)"),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    until = forms.DateField(
        label=_("Jusqu'au (inclus)"), widget=forms.DateInput(attrs={"type": "date"})
    )


class LiftHoldForm(CmerForm):
    reason = forms.CharField(
        label=_("Motif de la levée (fin de la procédure, mainlevée)"),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class VerifyForm(CmerForm):
    document = forms.FileField(
        label=_("Certificat (PDF) ou son texte signé (certificat.txt)"),
        max_length=200,
    )

    def clean_document(self) -> UploadedFile:
        upload = self.cleaned_data["document"]
        if upload.size and upload.size > certificate.MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("Ce fichier est trop volumineux pour un certificat."))
        return upload
