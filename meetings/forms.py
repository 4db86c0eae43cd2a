"""Meeting forms. Each lists its fields; choices come from the commune's cell only, so a crafted
id (a user of another commune, an agent) is refused as an invalid choice."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from cmer.forms import CmerForm

from .models import DECISION_MAX_LENGTH, NOTES_MAX_LENGTH, SHORT_TEXT_MAX_LENGTH, ActionItem


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.get_full_name() or obj.email


class UserMultipleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.get_full_name() or obj.email


class MeetingForm(CmerForm):
    starts_at = forms.DateTimeField(
        label=_("Date et heure"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    duration_minutes = forms.IntegerField(
        label=_("Durée (minutes)"), min_value=15, max_value=600, initial=120
    )
    place = forms.CharField(label=_("Lieu"), max_length=200)
    chair = UserChoiceField(label=_("Président de séance"), queryset=None)
    invitees = UserMultipleChoiceField(
        label=_("Personnes invitées"),
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Membres et référent de la cellule, correspondant de la préfecture."),
    )

    def __init__(self, *args: Any, chairs: Any, invitable: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The fields declared above (self.fields is typed with plain Field).
        cast(UserChoiceField, self.fields["chair"]).queryset = chairs
        cast(UserMultipleChoiceField, self.fields["invitees"]).queryset = invitable


class CancelForm(CmerForm):
    reason = forms.CharField(label=_("Motif de l'annulation"), max_length=200)


class ExternalForm(CmerForm):
    name = forms.CharField(label=_("Nom et prénom"), max_length=150)
    institution = forms.CharField(
        label=_("Institution"),
        max_length=150,
        help_text=_("Par exemple : Éducation nationale, service social du département."),
    )


class TopicForm(CmerForm):
    title = forms.CharField(label=_("Sujet"), max_length=200)


class ReferralItemForm(CmerForm):
    reference = forms.CharField(
        label=_("Référence du signalement"),
        max_length=20,
        help_text=_("Par exemple TAR-2026-0007. Il apparaîtra sous un pseudonyme."),
    )


class NotesForm(CmerForm):
    notes = forms.CharField(
        label=_("Notes"), max_length=NOTES_MAX_LENGTH, required=False, widget=forms.Textarea
    )


class DecisionForm(CmerForm):
    text = forms.CharField(
        label=_("Décision"),
        max_length=DECISION_MAX_LENGTH,
        help_text=_("Sur un signalement, elle est aussi inscrite à son suivi."),
    )


class ActionItemForm(CmerForm):
    what = forms.CharField(label=_("Action"), max_length=SHORT_TEXT_MAX_LENGTH)
    owner = UserChoiceField(label=_("Responsable"), queryset=None)
    due_on = forms.DateField(
        label=_("Échéance"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def __init__(self, *args: Any, owners: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(UserChoiceField, self.fields["owner"]).queryset = owners  # the field declared above


class ActionStatusForm(CmerForm):
    status = forms.ChoiceField(label=_("État"), choices=ActionItem.Status.choices)


class ReviewForm(CmerForm):
    review_until = forms.DateField(
        label=_("Relecture jusqu'au"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )


class CorrectionForm(CmerForm):
    text = forms.CharField(label=_("Correction proposée"), max_length=1000, widget=forms.Textarea)


class AddendumForm(CmerForm):
    reason = forms.CharField(label=_("Motif de l'additif"), max_length=SHORT_TEXT_MAX_LENGTH)
    text = forms.CharField(label=_("Additif"), max_length=1000, widget=forms.Textarea)
