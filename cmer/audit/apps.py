from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "cmer.audit"
    label = "audit"
    verbose_name = _("Journal d'audit")

    def ready(self) -> None:
        # receivers connects the auth signals; writing installs AuditEntry's write path.
        from cmer.audit import receivers, writing  # noqa: F401
        from cmer.audit.dashboard import dpo_dashboard
        from cmer.home import register_home_context

        register_home_context("dpo_dashboard", dpo_dashboard)
