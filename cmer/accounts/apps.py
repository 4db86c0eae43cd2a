from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "cmer.accounts"
    label = "accounts"
    verbose_name = _("Comptes, communes et rôles")

    def ready(self) -> None:
        from cmer.accounts import checks, membership_tasks, signals  # noqa: F401
        from cmer.audit.core import register

        from .models import Commune, Department, Membership, User

        register(User, exclude=("password", "last_login"), sensitive=())
        register(Department)
        register(Commune)
        register(Membership)
