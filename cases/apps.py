from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = _("Signalements")

    def ready(self) -> None:
        from cmer.audit.core import register

        from . import models

        # Encrypted fields are masked in the trail by their type (cmer.audit.core.register);
        # the blind indexes and the random file name are left out of it entirely.
        register(models.Referral, exclude=("name_index", "name_year_index"))
        register(models.TimelineEntry)
        register(models.Attachment, exclude=("stored_name",))
        register(models.Transmission)
        register(models.ReferralUserObjectPermission)
        register(models.AccessReason)
        register(models.StateInformation)
        register(models.LegalHold)
        register(models.WeakSignalCategory)
