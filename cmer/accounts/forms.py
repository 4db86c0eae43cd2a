from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import (
    AuthenticationForm,
    PasswordChangeForm,
    PasswordResetForm,
    SetPasswordForm,
)
from django.utils.translation import gettext_lazy as _

from cmer.forms import CmerForm, DsfrMixin

from .auth import normalise_login
from .models import User


class EmailAuthenticationForm(DsfrMixin, AuthenticationForm):
    # One message whatever went wrong: nobody learns whether an address has an account.
    error_messages = {
        "invalid_login": _(
            "Adresse électronique ou mot de passe incorrect. Après cinq échecs, le compte est "
            "verrouillé pour un temps."
        ),
        "inactive": _(
            "Adresse électronique ou mot de passe incorrect. Après cinq échecs, le compte est "
            "verrouillé pour un temps."
        ),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = _("Adresse électronique")
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "type": "email"})
        self.fields["password"].label = _("Mot de passe")

    def clean_username(self) -> str:
        # The same spelling as django-axes counts (AXES_USERNAME_CALLABLE): one counter per
        # account, however the address is typed.
        return normalise_login(self.cleaned_data.get("username"))


class TokenForm(CmerForm):
    token = forms.CharField(
        label=_("Code à usage unique"),
        help_text=_(
            "Les six chiffres affichés par votre application, ou l'un de vos codes de secours."
        ),
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_token(self) -> str:
        return self.cleaned_data["token"].replace(" ", "").strip().lower()


class PasswordConfirmForm(CmerForm):
    """Asked again before a change to the account's e-mail or second factor."""

    password = forms.CharField(
        label=_("Mot de passe actuel"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, user: User, *args: Any, **kwargs: Any) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("Mot de passe incorrect."))
        return password


class EmailChangeForm(PasswordConfirmForm):
    email = forms.EmailField(label=_("Nouvelle adresse électronique"))

    field_order = ["email", "password"]

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].lower()
        if User.objects.filter(email__iexact=email).exclude(pk=self.user.pk).exists():
            raise forms.ValidationError(_("Cette adresse ne peut pas être utilisée."))
        return email


class DsfrPasswordChangeForm(DsfrMixin, PasswordChangeForm):
    pass


class DsfrPasswordResetForm(DsfrMixin, PasswordResetForm):
    pass


class DsfrSetPasswordForm(DsfrMixin, SetPasswordForm):
    pass


class EnrolmentPasswordForm(CmerForm):
    """Second-factor reset link, first step: the current password, counted by django-axes like
    a login (the link alone, from a mailbox, must not be enough)."""

    password = forms.CharField(
        label=_("Mot de passe actuel"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, user: User, request: Any, *args: Any, **kwargs: Any) -> None:
        self.user = user
        self.request = request
        super().__init__(*args, **kwargs)

    def clean_password(self) -> str:
        from django.contrib.auth import authenticate

        password = self.cleaned_data["password"]
        if authenticate(self.request, username=self.user.email, password=password) is None:
            raise forms.ValidationError(
                _(
                    "Mot de passe incorrect. Après cinq échecs, le compte est verrouillé pour un "
                    "temps."
                )
            )
        return password


class EnrolmentForm(CmerForm):
    """The link's enrolment step: for an invitation, the password the person chooses; then the
    first code of the application they have just set up by scanning the QR code."""

    def __init__(self, user: User, device: Any, *args: Any, **kwargs: Any) -> None:
        self.user = user
        self.device = device
        self.invitation = not user.has_usable_password()
        super().__init__(*args, **kwargs)
        if self.invitation:
            self.fields["new_password1"] = forms.CharField(
                label=_("Choisissez votre mot de passe"),
                help_text=_(
                    "Au moins 12 caractères ; une phrase de passe longue est la meilleure option."
                ),
                strip=False,
                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
            )
            self.fields["new_password2"] = forms.CharField(
                label=_("Confirmez le mot de passe"),
                strip=False,
                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
            )
        self.fields["token"] = forms.CharField(
            label=_("Code à six chiffres affiché par l'application"),
            max_length=16,
            widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        )

    def clean(self) -> dict[str, Any]:
        from django.contrib.auth.password_validation import validate_password

        cleaned = super().clean() or {}
        if self.invitation:
            first, second = cleaned.get("new_password1"), cleaned.get("new_password2")
            if first and second and first != second:
                self.add_error("new_password2", _("Les deux mots de passe ne sont pas identiques."))
            elif first:
                try:
                    validate_password(first, self.user)
                except forms.ValidationError as error:
                    self.add_error("new_password1", error)
        token = (cleaned.get("token") or "").replace(" ", "").strip()
        # The code is tried last, and only when the rest is valid: a used code is spent.
        if token and not self.errors and not self.device.verify_token(token):
            self.add_error("token", _("Code incorrect. Vérifiez l'heure de votre téléphone."))
        return cleaned

    @property
    def new_password(self) -> str | None:
        return self.cleaned_data.get("new_password1") if self.invitation else None
