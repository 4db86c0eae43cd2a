from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = _("Formations")

    def ready(self) -> None:
        from cmer.audit.core import register
        from cmer.home import register_home_context

        from . import models
        from .dashboard import coordinator_dashboard

        # Names, e-mails and remarks appear as "[masqué]" in the trail; bulk imports bypass
        # auditlog and write one explicit entry instead (see actions.do_confirm_import).
        register(models.TrainingSession, sensitive=("trainer",))
        register(
            models.Trainee,
            sensitive=("last_name", "first_name", "email", "name_key"),
        )
        register(models.Attendance, sensitive=("remark",))
        register(
            models.AttendanceImport,
            sensitive=("original_name",),
            exclude=("columns", "rows", "rejected", "duplicates", "warnings", "result"),
        )
        register(models.Attestation, sensitive=("code",))
        register(models.AttestationBundle)
        register(models.ServiceHeadcount)
        # The retention rules of this app, for the core's daily job (cmer.retention.registry).
        from .retention import register as register_retention

        register_retention()
        # The coordinator's dashboard on the home page (templates/training/_dashboard.html).
        register_home_context("training_dashboard", coordinator_dashboard)
