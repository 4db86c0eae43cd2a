from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = _("Signalements")

    def ready(self) -> None:
        from cmer.audit.core import register
        from cmer.audit.labels import register_sentence
        from cmer.audit.models import Event

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
        # The list pages keep the categories a minute per process (views/lists.py): a change
        # made here shows at once.
        from django.db.models.signals import post_delete, post_save

        from .views.lists import forget_categories

        for signal in (post_save, post_delete):
            signal.connect(forget_categories, sender=models.WeakSignalCategory, weak=False)
        # The retention rules of this app, for the core's daily job (cmer.retention.registry).
        from .retention import register as register_retention

        register_retention()
        register_sentence(Event.TRANSMIT, _transmission_sentence)
        # The referent's and the liaison's home dashboards (issue 16).
        from cmer.home import register_home_context

        from .dashboard import liaison_dashboard, referent_dashboard

        register_home_context("referent_dashboard", referent_dashboard)
        register_home_context("liaison_dashboard", liaison_dashboard)


def _transmission_sentence(data: dict[str, Any]) -> str:
    """The DPO's reading of a transmission entry: what was shared, by its labels."""
    from django.utils.translation import gettext

    from .models import Transmission

    items = [
        str(Transmission.Item(i).label).lower()
        for i in data.get("shared_items", [])
        if i in Transmission.Item.values
    ]
    if items:
        return gettext("transmission à la préfecture (%(items)s)") % {"items": ", ".join(items)}
    return gettext("transmission à la préfecture")
