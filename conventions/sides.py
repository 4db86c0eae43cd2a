"""Which party a user acts for on a convention, and the refusals when they reach for the other's.

A convention has two parties (DESIGN.md, Lifecycles): the commune, represented in the app by its
municipal referent, and the prefecture, represented by the department's liaison. Each records
only its own half: its signatories and their signatures. A drafted convention belongs to the
side that drafted it until both have signed; a signed one may be terminated by either party.

A person holding both roles for the same commune still cannot sign for both: the actions refuse
a signature recorded by someone who already recorded one for the other side.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from cmer.accounts.models import Commune, Role
from cmer.permissions import roles_in

from .models import Side

SIDE_ROLES = {Side.COMMUNE: Role.REFERENT, Side.PREFECTURE: Role.LIAISON}


class SideRefused(PermissionDenied):
    """The user may see the convention but not do this on the other party's behalf.

    Carries a message fit for the page (the views show it with a 403, nothing changed).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def sides_of(user: Any, commune: Commune) -> list[Side]:
    """The sides ``user`` may act for on ``commune``'s conventions today (commune side first)."""
    held = roles_in(user, commune)
    return [side for side, role in SIDE_ROLES.items() if role in held]


def side_label(side: str) -> str:
    if side == Side.COMMUNE:
        return _("la commune (référent municipal)")
    return _("la préfecture (correspondant de la préfecture)")


def require_side(user: Any, commune: Commune, side: str) -> Side:
    """``side`` if ``user`` acts for it on ``commune``, else ``SideRefused`` saying who does."""
    if side not in sides_of(user, commune):
        raise SideRefused(
            _(
                "Seul le représentant de %(side)s peut faire cela : chaque partie "
                "n'enregistre que sa propre part de la convention. Rien n'a été modifié."
            )
            % {"side": side_label(side)}
        )
    return Side(side)


def acting_side(user: Any, commune: Commune, preferred: str | None = None) -> Side:
    """The side ``user`` acts for: ``preferred`` if they hold it, else their only (first) side.

    Raises ``SideRefused`` for someone who holds neither role (access.py already answers 404
    to them; this is the second check, inside the action).
    """
    sides = sides_of(user, commune)
    if preferred in sides:
        return Side(preferred)
    if not sides:
        raise SideRefused(_("Vous ne représentez aucune des parties à cette convention."))
    return sides[0]
