from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConventionsConfig(AppConfig):
    name = "conventions"
    verbose_name = _("Conventions et charte")

    def ready(self) -> None:
        from cmer.audit.core import register

        from . import models, signals  # noqa: F401 (signals: receivers connect on import)

        register(models.Convention, sensitive=("termination_reason",))
        # Signatories are public office holders, but a name is still a name: masked.
        register(models.Signatory, sensitive=("name",))
        register(models.SignedDocument)
        register(models.ConventionReminder)
        register(models.CharterVersion, sensitive=("text",))
        register(models.CharterAcknowledgement)
        from cmer.home import register_home_context

        from .dashboard import charter_acknowledgements

        register_home_context("charter_acknowledgements", charter_acknowledgements)
        # The retention rules of this app, for the core's daily job (cmer.retention.registry).
        from .retention import register as register_retention

        register_retention()
