"""Technical administration: accounts, departments, communes, memberships.

The technical administrator manages who holds which role; no admin page shows case content, minutes
or attachments (those models are not registered, or only their metadata).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminSite

from .models import Commune, Department, Membership, User

# The admin requires a verified second factor, like every other page.
admin.site.__class__ = OTPAdminSite
admin.site.site_header = _("CMER — administration technique")
admin.site.site_title = _("CMER")


class CmerUserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class CmerUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("role", "commune", "department", "starts_on", "ends_on", "service")
    can_delete = False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = CmerUserChangeForm
    add_form = CmerUserCreationForm
    ordering = ("email",)
    list_display = ("email", "first_name", "last_name", "is_active", "is_staff", "last_login")
    list_filter = ("is_active", "is_staff", "memberships__role")
    search_fields = ("email", "first_name", "last_name")
    readonly_fields = ("last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Identité"), {"fields": ("first_name", "last_name")}),
        (_("Statut"), {"fields": ("is_active", "is_staff", "is_superuser")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    filter_horizontal = ()
    inlines = [MembershipInline]
    actions = ["deactivate"]

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False  # deactivate instead: the audit trail refers to users

    @admin.action(description=_("Désactiver les comptes sélectionnés"))
    def deactivate(self, request, queryset) -> None:  # type: ignore[no-untyped-def]
        for user in queryset:
            # save() per user (not update()) so that the audit trail and session kill run.
            user.is_active = False
            user.save(update_fields=["is_active"])


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "prefecture_name")
    search_fields = ("code", "name")


@admin.register(Commune)
class CommuneAdmin(admin.ModelAdmin):
    list_display = ("name", "insee_code", "department", "reference_prefix")
    list_filter = ("department",)
    search_fields = ("name", "insee_code")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "role", "commune", "department", "starts_on", "ends_on", "trained")
    list_filter = ("role", "commune__department", "commune")
    search_fields = ("user__email", "user__last_name")
    autocomplete_fields = ("user",)
    readonly_fields = ("trained",)

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        from training.access import annotate_training_attended

        return annotate_training_attended(super().get_queryset(request))

    @admin.display(description=_("a suivi une formation"))
    def trained(self, obj: Membership) -> str:
        from training.access import training_attended_label

        return training_attended_label(obj)

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False  # end a role by setting its end date: history stays readable
