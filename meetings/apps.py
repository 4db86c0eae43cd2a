from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MeetingsConfig(AppConfig):
    name = "meetings"
    verbose_name = _("Réunions de la cellule")

    def ready(self) -> None:
        from cmer.audit.core import register
        from cmer.home import register_home_context

        from . import models

        # Every change is in the trail; free text and names only as "changed".
        register(models.Meeting)
        register(models.Invitation)
        register(models.ExternalParticipant, sensitive=("name",))
        register(models.AgendaItem, sensitive=("notes",))
        register(models.Decision, sensitive=("text",))
        register(models.ActionItem, sensitive=("what",))
        register(models.ReviewComment, sensitive=("text",))
        register(models.MinutesAddendum, sensitive=("reason", "text"))
        register(models.MinutesDocument)

        # Cell action items due soon or overdue (the owner's and the referent's): dates only;
        # their overdue count is the referent dashboard's (one statement for both).
        register_home_context("home_actions", _home_actions)


def _home_actions(user: Any) -> Any:
    from .access import home_actions

    return home_actions(user)
