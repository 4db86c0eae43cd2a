from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RetentionConfig(AppConfig):
    name = "cmer.retention"
    label = "retention"
    verbose_name = _("Durées de conservation")

    def ready(self) -> None:
        from cmer.audit.core import register

        from .models import AgeRuleChange

        # The DPO's switch and its reason are in the trail (the reason is no personal data: a
        # decision of the controller). Runs are not: each records one explicit entry instead.
        register(AgeRuleChange)
