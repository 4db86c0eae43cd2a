"""Technical administration: accounts, departments, communes, memberships.

The technical administrator manages who holds which role; no admin page shows case content, minutes
or attachments (those models are not registered, or only their metadata).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import InlineModelAdmin
from django.db import models
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern
from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminSite
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from dsfr.admin import DsfrConfigAdmin, DsfrSocialMediaInline
from dsfr.models import DsfrConfig

from .auth import normalise_login
from .identity import do_invite_user, do_reset_second_factor, do_send_password_link
from .models import Commune, Department, Membership, User
from .sessions import do_end_all_sessions

# The admin requires a verified second factor, like every other page.
admin.site.__class__ = OTPAdminSite
admin.site.site_header = _("CMER — administration technique")
admin.site.site_title = _("CMER")

# django-otp's own admin pages show every user's TOTP key, its QR code and the backup codes:
# whoever reads them can log in as anyone. Devices are managed only by their owner (enrolment
# link, account page); the administrator can only reset them (UserAdmin.reset_second_factor).
for _device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_device_model):
        admin.site.unregister(_device_model)


_HTTPS_LINKS = {models.URLField: {"assume_scheme": "https"}}


class HttpsDsfrSocialMediaInline(DsfrSocialMediaInline):
    formfield_overrides = _HTTPS_LINKS


class HttpsDsfrConfigAdmin(DsfrConfigAdmin):
    """The header and notice links of the site are public https addresses: a link typed without a
    scheme gets https (Django 6's default), never plain http."""

    formfield_overrides = _HTTPS_LINKS
    inlines = [HttpsDsfrSocialMediaInline]


if admin.site.is_registered(DsfrConfig):
    admin.site.unregister(DsfrConfig)
admin.site.register(DsfrConfig, HttpsDsfrConfigAdmin)


class CmerUserCreationForm(forms.ModelForm):
    """An invitation: no password field. The person chooses it through the one-time link sent
    to their own address (cmer.accounts.identity.do_invite_user)."""

    class Meta:
        model = User
        fields = ("email", "first_name", "last_name")

    def clean_email(self) -> str:
        email = normalise_login(self.cleaned_data["email"])
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("Un compte existe déjà avec cette adresse."))
        return email


class CmerUserChangeForm(forms.ModelForm):
    """No password and no e-mail here: a password is only ever set by the person (reset link),
    and the address the links go to is changed by the person from their account page — an
    administrator who could change it could send himself the links."""

    class Meta:
        model = User
        fields = ("first_name", "last_name", "is_active", "is_staff", "is_superuser")


class MembershipInline(admin.TabularInline):
    """The account's roles, read only: a role is requested (and ended) on the membership page,
    where the request goes through the four-eyes confirmation (cmer.accounts.memberships)."""

    model = Membership
    fk_name = "user"
    extra = 0
    fields = ("role", "commune", "department", "starts_on", "ends_on", "status")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    """Accounts without impersonation: the administrator invites, sends a reset link to the
    person's own address, resets the second factor, deactivates — never sets a password nor
    sees a TOTP secret (cmer.accounts.identity; each act is in the audit trail)."""

    form = CmerUserChangeForm
    add_form = CmerUserCreationForm
    change_form_template = "admin/accounts/user/change_form.html"
    ordering = ("email",)
    list_display = ("email", "first_name", "last_name", "is_active", "is_staff", "last_login")
    list_filter = ("is_active", "is_staff", "memberships__role")
    search_fields = ("email", "first_name", "last_name")
    readonly_fields = ("email", "account_state", "last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("email", "account_state")}),
        (_("Identité"), {"fields": ("first_name", "last_name")}),
        (_("Statut"), {"fields": ("is_active", "is_staff", "is_superuser")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "fields": ("email", "first_name", "last_name"),
                "description": _(
                    "La personne reçoit à cette adresse un lien à usage unique : elle y choisit "
                    "son mot de passe et configure son second facteur elle-même."
                ),
            },
        ),
    )
    filter_horizontal = ()
    inlines = [MembershipInline]
    actions = ["deactivate", "send_password_link", "reset_second_factor", "end_sessions"]

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> Any:
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> tuple[str, ...]:
        return () if obj is None else self.readonly_fields

    def get_form(
        self, request: HttpRequest, obj: User | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_inline_instances(
        self, request: HttpRequest, obj: User | None = None
    ) -> list[InlineModelAdmin]:
        return [] if obj is None else super().get_inline_instances(request, obj)

    def save_model(
        self, request: HttpRequest, obj: User, form: forms.ModelForm, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
        else:
            do_invite_user(obj, acting_user=request.user, request=request)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False  # deactivate instead: the audit trail refers to users

    @admin.display(description=_("état du compte"))
    def account_state(self, obj: User) -> str:
        from django_otp.plugins.otp_totp.models import TOTPDevice

        if not obj.has_usable_password():
            return str(_("invité : activation en attente"))
        if not TOTPDevice.objects.filter(user=obj, confirmed=True).exists():
            return str(_("second facteur à configurer"))
        return str(_("actif, second facteur configuré"))

    def get_urls(self) -> list[URLPattern]:
        from django.urls import path

        wrap = self.admin_site.admin_view
        return [
            # Django's UserAdmin "set password" page does not exist here; a guessed URL is 404
            # (before the catch-all redirect of ModelAdmin would take it).
            path("<path:object_id>/password/", wrap(self.no_password_page)),
            path(
                "<path:object_id>/lien-mot-de-passe/",
                wrap(self.account_action_view),
                {"what": "password_link"},
                name="accounts_user_password_link",
            ),
            path(
                "<path:object_id>/sessions/",
                wrap(self.account_action_view),
                {"what": "sessions"},
                name="accounts_user_sessions",
            ),
            path(
                "<path:object_id>/second-facteur/",
                wrap(self.account_action_view),
                {"what": "second_factor"},
                name="accounts_user_second_factor",
            ),
            *super().get_urls(),
        ]

    def no_password_page(self, request: HttpRequest, object_id: str) -> HttpResponse:
        raise Http404

    def account_action_view(self, request: HttpRequest, object_id: str, what: str) -> HttpResponse:
        """The buttons of the change page: a confirmation page (GET), then the act (POST)."""
        user = self.get_object(request, object_id)
        if user is None or not self.has_change_permission(request, user):
            raise Http404
        if request.method == "POST":
            if what == "password_link":
                self.send_password_link(request, User.objects.filter(pk=user.pk))
            elif what == "sessions":
                self.end_sessions(request, User.objects.filter(pk=user.pk))
            else:
                self.reset_second_factor(request, User.objects.filter(pk=user.pk))
            return redirect("admin:accounts_user_change", user.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": user,
            "what": what,
            "title": {
                "password_link": _("Envoyer un lien de réinitialisation du mot de passe"),
                "sessions": _("Fermer toutes les sessions"),
            }.get(what, _("Réinitialiser le second facteur")),
        }
        return TemplateResponse(request, "admin/accounts/user/account_action.html", context)

    @admin.action(description=_("Désactiver les comptes sélectionnés"))
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            # save() per user (not update()) so that the audit trail and session kill run.
            user.is_active = False
            user.save(update_fields=["is_active"])

    @admin.action(description=_("Envoyer un lien de réinitialisation du mot de passe"))
    def send_password_link(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        sent = sum(
            1
            for user in queryset
            if do_send_password_link(user, acting_user=request.user, request=request)
        )
        self.message_user(
            request,
            _("Lien envoyé à l'adresse de la personne (%(count)d compte(s) actif(s)).")
            % {"count": sent},
            messages.SUCCESS,
        )

    @admin.action(description=_("Réinitialiser le second facteur (et fermer les sessions)"))
    def reset_second_factor(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        count = 0
        for user in queryset:
            do_reset_second_factor(user, acting_user=request.user, request=request)
            count += 1
        self.message_user(
            request,
            _(
                "Second facteur réinitialisé, sessions fermées ; un lien d'enrôlement est envoyé "
                "à l'adresse de la personne (%(count)d compte(s))."
            )
            % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(description=_("Fermer toutes les sessions des comptes sélectionnés"))
    def end_sessions(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        ended = sum(
            do_end_all_sessions(user, acting_user=request.user, request=request)
            for user in queryset
        )
        self.message_user(
            request,
            _("%(count)d session(s) fermée(s) ; chaque personne en est avertie par courriel.")
            % {"count": ended},
            messages.SUCCESS,
        )


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "prefecture_name")
    search_fields = ("code", "name")


@admin.register(Commune)
class CommuneAdmin(admin.ModelAdmin):
    list_display = ("name", "insee_code", "department", "reference_prefix")
    list_filter = ("department",)
    search_fields = ("name", "insee_code")


class MembershipAdminForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ("user", "role", "commune", "department", "starts_on", "ends_on", "service")


@dataclass(frozen=True)
class MembershipColumn:
    """A read-only column another app adds to the membership admin, in the list and in its own
    fieldset of the form: the core imports no app, the app registers its column
    (``register_membership_column``, from the app's ``admin.py``)."""

    name: str
    label: Any  # the column's heading
    title: Any  # the form's fieldset title
    value: Callable[[Membership], str]
    # One annotation for the whole list rather than a query per row.
    annotate: Callable[[QuerySet[Membership]], QuerySet[Membership]] = lambda queryset: queryset


_MEMBERSHIP_COLUMNS: dict[str, MembershipColumn] = {}


def register_membership_column(column: MembershipColumn) -> None:
    def display(model_admin: admin.ModelAdmin, obj: Membership) -> str:
        return column.value(obj)

    if hasattr(MembershipAdmin, column.name) and column.name not in _MEMBERSHIP_COLUMNS:
        raise ValueError(f"MembershipAdmin already has an attribute {column.name!r}")
    display.__name__ = column.name
    setattr(MembershipAdmin, column.name, admin.display(description=column.label)(display))
    _MEMBERSHIP_COLUMNS[column.name] = column


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Requests only: what the administrator adds or changes is *requested* and gives nothing
    until a second person with authority confirms it in the application; an earlier end date
    (the person leaves) applies at once. See cmer.accounts.memberships."""

    form = MembershipAdminForm
    list_display = (
        "user",
        "role",
        "commune",
        "department",
        "starts_on",
        "ends_on",
        "status",
    )
    list_filter = ("status", "role", "commune__department", "commune")
    search_fields = ("user__email", "user__last_name")
    autocomplete_fields = ("user",)
    readonly_fields = (
        "status",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "decision_reason",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "user",
                    "role",
                    "commune",
                    "department",
                    "starts_on",
                    "ends_on",
                    "service",
                ),
                "description": _(
                    "Un rôle ajouté ou modifié ici est une demande : il ne donne aucun accès tant "
                    "qu'une seconde personne habilitée ne l'a pas confirmé dans l'application. "
                    "Avancer la date de fin (départ de la cellule) s'applique immédiatement."
                ),
            },
        ),
        (
            _("Double validation"),
            {
                "fields": (
                    "status",
                    "requested_by",
                    "requested_at",
                    "decided_by",
                    "decided_at",
                    "decision_reason",
                )
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        queryset = super().get_queryset(request).select_related("user", "commune", "department")
        for column in _MEMBERSHIP_COLUMNS.values():
            queryset = column.annotate(queryset)
        return queryset

    def get_list_display(
        self, request: HttpRequest
    ) -> tuple[str | Callable[[Any], str | bool], ...]:
        return (*super().get_list_display(request), *_MEMBERSHIP_COLUMNS)

    def get_readonly_fields(
        self, request: HttpRequest, obj: Membership | None = None
    ) -> tuple[str, ...]:
        return (*super().get_readonly_fields(request, obj), *_MEMBERSHIP_COLUMNS)

    def get_fieldsets(self, request: HttpRequest, obj: Membership | None = None) -> Any:
        extra = tuple((c.title, {"fields": (c.name,)}) for c in _MEMBERSHIP_COLUMNS.values())
        return (*super().get_fieldsets(request, obj), *extra)

    def save_model(
        self, request: HttpRequest, obj: Membership, form: forms.ModelForm, change: bool
    ) -> None:
        from .memberships import do_save_membership_request

        do_save_membership_request(obj, acting_user=request.user, request=request)

    def has_delete_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        return False  # end a role by setting its end date: history stays readable
