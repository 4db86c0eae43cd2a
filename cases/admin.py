"""Admin: only the checklist of categories. Referrals, notes, attachments and grants are not
registered: the technical administrator must never read case content, even as superuser."""

from django.contrib import admin

from .models import WeakSignalCategory


@admin.register(WeakSignalCategory)
class WeakSignalCategoryAdmin(admin.ModelAdmin):
    list_display = ("label", "code", "position", "is_active")
    list_editable = ("position", "is_active")
