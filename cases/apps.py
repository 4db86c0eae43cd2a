from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = _("Signalements")

    def ready(self) -> None:
        from cmer.audit.core import register

        from . import models

        identity_and_facts = (
            "surname",
            "first_names",
            "birth_date",
            "approximate_age",
            "residence_commune",
            "address",
            "facts",
            "facts_place",
        )
        register(
            models.Referral, sensitive=identity_and_facts, exclude=("name_index", "name_year_index")
        )
        register(models.TimelineEntry, sensitive=("text", "reason"))
        register(models.Attachment, sensitive=("display_name",), exclude=("stored_name",))
        register(models.Transmission, sensitive=("reason",))
        register(models.ReferralUserObjectPermission)
        register(models.StateInformation, sensitive=("person", "content"))
        register(models.WeakSignalCategory)
