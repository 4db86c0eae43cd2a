"""Referral forms. Each lists its fields: a POST that adds commune, status or author is ignored."""

from __future__ import annotations

import datetime
import re
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.functional import lazy
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from cmer.forms import CmerForm

from . import files
from .actions import ReferralContent
from .models import (
    FACTS_MAX_LENGTH,
    NOTE_MAX_LENGTH,
    SHORT_TEXT_MAX_LENGTH,
    Referral,
    TimelineEntry,
    Transmission,
    WeakSignalCategory,
)

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    from cmer.accounts.models import Commune


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[files.CheckedFile]:
        uploads = data if isinstance(data, list | tuple) else ([data] if data else [])
        if len(uploads) > files.MAX_ATTACHMENTS_PER_UPLOAD:
            raise ValidationError(_("Dix fichiers au plus à la fois."))
        return [files.check_upload(upload) for upload in uploads]


def _not_future(value: datetime.date | None, message: StrOrPromise) -> None:
    if value and value > timezone.localdate():
        raise ValidationError(message)


class ReferralForm(CmerForm):
    # Django's cache of bound fields (django.forms.Form sets it; django-stubs leaves it out).
    _bound_fields_cache: dict[str, Any]

    surname = forms.CharField(label=_("Nom"), max_length=100, required=False)
    first_names = forms.CharField(label=_("Prénoms"), max_length=150, required=False)
    birth_date = forms.DateField(
        label=_("Date de naissance"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    approximate_age = forms.IntegerField(
        label=_("Âge approximatif"),
        required=False,
        min_value=0,
        max_value=120,
        help_text=_("Si la date de naissance n'est pas connue."),
    )
    age_group = forms.ChoiceField(
        label=_("Mineur ou majeur"),
        choices=Referral.AgeGroup.choices,
        initial=Referral.AgeGroup.UNKNOWN,
        help_text=_("Déduit de la date de naissance lorsqu'elle est indiquée."),
    )
    residence_commune = forms.CharField(
        label=_("Commune de résidence"), max_length=150, required=False
    )
    address = forms.CharField(label=_("Adresse"), max_length=250, required=False)
    facts = forms.CharField(
        label=_("Faits observés"),
        max_length=FACTS_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        # Interpolated when shown, not at import: in the language of the request.
        help_text=lazy(
            lambda: (
                gettext(
                    "Des faits et comportements observés, datés, sans appréciation personnelle ni "
                    "information issue de fichiers de police. %(n)s caractères au plus. "
                    "Obligatoire pour déposer."
                )
                % {"n": FACTS_MAX_LENGTH}
            ),
            str,
        )(),
    )
    facts_date = forms.DateField(
        label=_("Date des faits"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    facts_place = forms.CharField(label=_("Lieu des faits"), max_length=200, required=False)
    categories = forms.ModelMultipleChoiceField(
        label=_("Signes observés"),
        queryset=WeakSignalCategory.objects.filter(is_active=True),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    source = forms.ChoiceField(
        label=_("Origine du signalement"),
        choices=[("", "—"), *Referral.Source.choices],
        required=False,
    )
    author_service = forms.CharField(label=_("Votre service"), max_length=150, required=False)
    urgency = forms.ChoiceField(
        label=_("Urgence"),
        choices=Referral.Urgency.choices,
        initial=Referral.Urgency.NORMAL,
        widget=forms.RadioSelect,
    )
    attachments = MultipleFileField(
        label=_("Pièces jointes"),
        required=False,
        help_text=_("PDF, images ou documents bureautiques, 20 Mo au plus chacun."),
    )

    def clean_birth_date(self) -> datetime.date | None:
        value = self.cleaned_data.get("birth_date")
        _not_future(value, _("La date de naissance ne peut pas être dans le futur."))
        if value and value.year < timezone.localdate().year - 120:
            raise ValidationError(_("Cette date de naissance n'est pas plausible."))
        return value

    def clean_facts_date(self) -> datetime.date | None:
        value = self.cleaned_data.get("facts_date")
        _not_future(value, _("La date des faits ne peut pas être dans le futur."))
        if value and value.year < 2000:
            raise ValidationError(_("Cette date des faits n'est pas plausible."))
        return value

    # Defaults a blank form comes with: choosing them is not "typing something".
    BLANK_DEFAULTS = {"age_group": Referral.AgeGroup.UNKNOWN, "urgency": Referral.Urgency.NORMAL}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Optional for a draft, required to file: marked like DSFR's required fields (the
        # help text says it in words, for screen readers, since DSFR's "*" is aria-hidden).
        for name in ("facts", "source"):
            field = self.fields[name]
            field.label = format_html(
                '{}<span class="fr-required-marker" aria-hidden="true"> *</span>', field.label
            )
            field.widget.attrs["aria-required"] = "true"
        self.fields["source"].help_text = _("Obligatoire pour déposer.")
        self._bound_fields_cache.clear()  # built by DsfrMixin with the labels as they were

    def is_blank(self) -> bool:
        """Nothing typed or chosen beyond the defaults (a valid form only)."""
        for name, value in self.cleaned_data.items():
            if name == "attachments":
                continue
            if name in self.BLANK_DEFAULTS:
                if value != self.BLANK_DEFAULTS[name]:
                    return False
            elif value not in (None, "", [], ()) and not (
                hasattr(value, "exists") and not value.exists()
            ):
                return False
        return True

    def check_submittable(self) -> bool:
        """Submission needs what a draft may lack; checked before anything is saved."""
        data = self.cleaned_data
        identity = ("surname", "first_names", "birth_date", "residence_commune", "address")
        if not any(data.get(name) for name in identity) and data.get("approximate_age") is None:
            self.add_error(None, _("Indiquez au moins un élément d'identification de la personne."))
        if not data.get("facts"):
            self.add_error("facts", _("Décrivez les faits observés."))
        if not data.get("source"):
            self.add_error("source", _("Indiquez l'origine du signalement."))
        return not self.errors

    def content(self) -> ReferralContent:
        data = self.cleaned_data
        return ReferralContent(
            surname=data["surname"],
            first_names=data["first_names"],
            birth_date=data["birth_date"],
            approximate_age=data["approximate_age"],
            residence_commune=data["residence_commune"],
            address=data["address"],
            age_group=data["age_group"],
            facts=data["facts"],
            facts_place=data["facts_place"],
            facts_date=data["facts_date"],
            source=data["source"],
            author_service=data["author_service"],
            urgency=data["urgency"],
            categories=data["categories"],
        )

    @classmethod
    def initial_from(cls, referral: Referral) -> dict[str, Any]:
        return {
            "surname": referral.surname,
            "first_names": referral.first_names,
            "birth_date": referral.birth_date_value,
            "approximate_age": referral.approximate_age or None,
            "age_group": referral.age_group,
            "residence_commune": referral.residence_commune,
            "address": referral.address,
            "facts": referral.facts,
            "facts_date": referral.facts_date,
            "facts_place": referral.facts_place,
            "categories": list(referral.categories.all()),
            "source": referral.source,
            "author_service": referral.author_service,
            "urgency": referral.urgency,
        }


# The referral page's forms, blank, rendered once per process and language (issue 13: their
# DSFR field templates were a fifth of the page's CPU). A blank form's HTML depends only on its
# class, its field ids, the language and its choices (``blank_variant``): no request, no user,
# no CSRF token (the page's template writes the token, outside the form). So the copy kept is,
# byte for byte, what rendering again would give (tests/cases/test_detail_render.py). Kept
# with a mark standing for the id prefix ("note_", "revoke12_"), replaced on the way out, so
# that one copy serves every grant's revoke form. A bound form (data, errors) is never kept.
_ID_MARK = "\ue000"  # a private-use character: no template, label or choice writes it
_ID_PREFIX = re.compile(r"[A-Za-z0-9_-]*")
_BLANK_HTML: dict[Hashable, str] = {}
BLANK_HTML_MAX = 512  # a few KiB each; past that, start again (choice sets churn slowly)


def _has_mark(variant: Any) -> bool:
    """Whether a choice (a person's name, say) writes the mark itself: then no kept copy."""
    if isinstance(variant, str):
        return _ID_MARK in variant
    return isinstance(variant, tuple) and any(_has_mark(item) for item in variant)


class BlankRenderCache:
    """Mixin for forms whose blank rendering is kept (see above)."""

    if TYPE_CHECKING:  # given by django.forms.Form, which this mixin comes before
        auto_id: Any
        is_bound: bool
        initial: Any
        _errors: Any
        prefix: str | None
        label_suffix: str
        use_required_attribute: bool

    def blank_variant(self) -> Hashable:
        """What the blank rendering depends on beyond the class and the language (choices)."""
        return ()

    def _blank_id_prefix(self) -> str | None:
        """The id prefix if this rendering may come from the kept copy, else None."""
        if self.is_bound or self.initial or self._errors:
            return None
        auto_id = self.auto_id
        if not isinstance(auto_id, str) or not auto_id.endswith("%s") or auto_id.count("%") != 1:
            return None
        prefix = auto_id[:-2]
        return prefix if _ID_PREFIX.fullmatch(prefix) else None

    def render(
        self, template_name: str | None = None, context: Any = None, renderer: Any = None
    ) -> SafeString:
        prefix = self._blank_id_prefix()
        variant = self.blank_variant() if prefix is not None else None
        if prefix is None or template_name or context or renderer or _has_mark(variant):
            return super().render(template_name, context, renderer)  # type: ignore[misc]
        key = (
            type(self),
            self.prefix,
            self.label_suffix,
            self.use_required_attribute,
            translation.get_language(),
            variant,
        )
        html = _BLANK_HTML.get(key)
        if html is None:
            auto_id = self.auto_id
            self.auto_id = _ID_MARK + "%s"
            try:
                html = str(super().render())  # type: ignore[misc]
            finally:
                self.auto_id = auto_id
            if len(_BLANK_HTML) >= BLANK_HTML_MAX:
                _BLANK_HTML.clear()
            _BLANK_HTML[key] = html
        # Safe: the renderer's own output, with the mark replaced by ``[A-Za-z0-9_-]*``.
        return mark_safe(html.replace(_ID_MARK, prefix))  # noqa: S308

    __str__ = render
    __html__ = render


class TimelineEntryForm(BlankRenderCache, CmerForm):
    kind = forms.ChoiceField(
        label=_("Type"),
        choices=[
            (TimelineEntry.Kind.NOTE, TimelineEntry.Kind.NOTE.label),
            (TimelineEntry.Kind.DECISION, TimelineEntry.Kind.DECISION.label),
        ],
    )
    text = forms.CharField(
        label=_("Texte"), max_length=NOTE_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3})
    )


class AddendumForm(BlankRenderCache, CmerForm):
    text = forms.CharField(
        label=_("Complément ou correction"),
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    reason = forms.CharField(label=_("Motif"), max_length=SHORT_TEXT_MAX_LENGTH)


class StatusForm(BlankRenderCache, CmerForm):
    to_status = forms.ChoiceField(label=_("Nouveau statut"), choices=())
    close_reason = forms.ChoiceField(
        label=_("Motif de clôture"),
        choices=[("", "—"), *Referral.CloseReason.choices],
        required=False,
    )
    reason = forms.CharField(
        label=_("Commentaire"), max_length=SHORT_TEXT_MAX_LENGTH, required=False
    )

    def __init__(self, *args: Any, allowed: set[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The field declared above (self.fields is typed with plain Field).
        cast(forms.ChoiceField, self.fields["to_status"]).choices = [
            (value, label) for value, label in Referral.Status.choices if value in allowed
        ]

    def blank_variant(self) -> Hashable:
        # Set by __init__; a ChoiceField keeps them as a list of pairs.
        choices = cast(forms.ChoiceField, self.fields["to_status"]).choices
        return tuple(value for value, _label in cast(list[tuple[str, Any]], choices))

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what Form.clean() returns
        if data.get("to_status") == Referral.Status.CLOSED and not data.get("close_reason"):
            self.add_error("close_reason", _("Choisissez le motif de clôture."))
        return data


class MemberChoiceField(forms.ModelChoiceField):
    """A member of the commune's cell, named with their e-mail address."""

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.get_full_name()} ({obj.email})"


class GrantForm(BlankRenderCache, CmerForm):
    member = MemberChoiceField(label=_("Membre de la cellule"), queryset=None)
    contribute = forms.BooleanField(
        label=_("Peut ajouter des notes"), required=False, initial=False
    )
    reason = forms.CharField(
        label=_("Motif : pourquoi cette personne doit en connaître"),
        max_length=SHORT_TEXT_MAX_LENGTH,
    )
    expires_on = forms.DateField(
        label=_("Échéance de l'accès"), widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, members: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(MemberChoiceField, self.fields["member"]).queryset = members  # declared above

    def blank_variant(self) -> Hashable:
        # The commune's members as offered now, in one plain SELECT: iterating ``field.choices``
        # would use ``QuerySet.iterator()``, on PostgreSQL a server-side cursor (DECLARE …
        # WITH HOLD, FETCH, CLOSE: three statements). The widget then renders this list
        # rather than querying again.
        field = cast(MemberChoiceField, self.fields["member"])  # the field declared above
        iterator = field.iterator(field)
        choices: list[tuple[Any, Any]] = (
            [("", field.empty_label)] if field.empty_label is not None else []
        )
        members = cast(QuerySet, field.queryset)  # set by __init__
        choices += [iterator.choice(member) for member in members]
        field.widget.choices = choices
        return tuple((str(value), str(label)) for value, label in choices)

    def clean_expires_on(self) -> datetime.date:
        value = self.cleaned_data["expires_on"]
        if value <= timezone.localdate():
            raise ValidationError(_("L'échéance doit être dans le futur."))
        if value > timezone.localdate() + datetime.timedelta(days=366):
            raise ValidationError(_("Un accès dure un an au plus ; renouvelez-le si besoin."))
        return value


class RevokeForm(BlankRenderCache, CmerForm):
    reason = forms.CharField(label=_("Motif du retrait"), max_length=SHORT_TEXT_MAX_LENGTH)
    # Not a field. The grant a posted form revokes (views.changes.revoke_access), so that the
    # detail page shows its errors under that grant only.
    grant_pk: int


class TransmitForm(CmerForm):
    items = forms.MultipleChoiceField(
        label=_("Éléments partagés avec la préfecture"),
        choices=Transmission.Item.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    reason = forms.CharField(
        label=_("Motif de la transmission"),
        max_length=SHORT_TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class FeedbackForm(BlankRenderCache, CmerForm):
    text = forms.CharField(
        label=_("Retour"), max_length=NOTE_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3})
    )


class ArchiveOpenForm(CmerForm):
    reason = forms.CharField(
        label=_("Motif de la consultation de l'archive"), max_length=SHORT_TEXT_MAX_LENGTH
    )
    token = forms.CharField(
        label=_("Code à usage unique"),
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class PersonSearchForm(CmerForm):
    surname = forms.CharField(label=_("Nom"), max_length=100)
    first_names = forms.CharField(label=_("Prénom"), max_length=150)
    birth_year = forms.IntegerField(
        label=_("Année de naissance"), required=False, min_value=1900, max_value=2100
    )


class ListFilterForm(forms.Form):
    """GET filters of the list page: references and codes only, never a name."""

    reference = forms.CharField(label=_("Référence"), max_length=20, required=False)
    status = forms.ChoiceField(
        label=_("Statut"), choices=[("", _("Tous")), *Referral.Status.choices], required=False
    )
    urgency = forms.ChoiceField(
        label=_("Urgence"), choices=[("", _("Toutes")), *Referral.Urgency.choices], required=False
    )
    category = forms.ModelChoiceField(
        label=_("Signe observé"),
        queryset=WeakSignalCategory.objects.all(),
        required=False,
        empty_label=_("Tous"),
    )
    since = forms.DateField(
        label=_("Déposé depuis le"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("jusqu'au"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class StateInformationForm(CmerForm):
    commune: forms.ModelChoiceField[Commune] = forms.ModelChoiceField(
        label=_("Commune"), queryset=None
    )
    case = forms.ChoiceField(
        label=_("Cas prévu par l'instruction du 13 novembre 2018"),
        choices=[("", "—")],
    )
    referral_reference = forms.CharField(
        label=_("Référence du signalement concerné (le cas échéant)"),
        max_length=20,
        required=False,
    )
    person = forms.CharField(label=_("Personne concernée"), max_length=200, required=False)
    content = forms.CharField(
        label=_("Information utile au maire"),
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    prosecutor_agreement_by = forms.CharField(
        label=_("Accord du parquet donné par"), max_length=150, required=False
    )
    prosecutor_agreed_on = forms.DateField(
        label=_("le"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    services_agreement_by = forms.CharField(
        label=_("Accord des services donné par"), max_length=150, required=False
    )
    services_agreed_on = forms.DateField(
        label=_("le"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, communes: Any, **kwargs: Any) -> None:
        from .models import StateInformation

        super().__init__(*args, **kwargs)
        # The fields declared above (self.fields is typed with plain Field).
        cast(forms.ModelChoiceField, self.fields["commune"]).queryset = communes
        cast(forms.ChoiceField, self.fields["case"]).choices = [
            ("", "—"),
            *StateInformation.Case.choices,
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what Form.clean() returns
        for name in ("prosecutor_agreed_on", "services_agreed_on"):
            _not_future_or_error(self, name)
        return data


def _not_future_or_error(form: forms.Form, name: str) -> None:
    value = form.cleaned_data.get(name)
    if value and value > timezone.localdate():
        form.add_error(name, _("Cette date ne peut pas être dans le futur."))
