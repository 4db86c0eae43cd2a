"""The main navigation of every page (DSFR ``fr-nav``), by role.

One list, shown in the header: on a phone it sits in the DSFR menu (the "Menu" button) with the
header tools (account, log out, hide the screen, language). Entries whose page is not built are
left out rather than shown as dead links. No query: roles come from the request
(``cmer.accounts.middleware``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from cmer import permissions
from cmer.accounts.models import Role


@dataclass(frozen=True)
class NavItem:
    label: Any
    url_name: str
    roles: frozenset[Role]


NAVIGATION = [
    NavItem(
        _("Signalements"),
        "cases:list",
        frozenset({Role.REPORTING_AGENT, Role.CELL_MEMBER, Role.REFERENT}),
    ),
    NavItem(_("Signalements transmis"), "cases:transmitted", frozenset({Role.LIAISON})),
    NavItem(
        _("Réunions"), "meetings:list", frozenset({Role.CELL_MEMBER, Role.REFERENT, Role.LIAISON})
    ),
    NavItem(
        _("Conventions et charte"), "conventions:list", frozenset({Role.REFERENT, Role.LIAISON})
    ),
    NavItem(
        _("Statistiques des signalements"),
        "statistics:index",
        frozenset({Role.REFERENT, Role.LIAISON}),
    ),
    NavItem(_("Formations"), "training:list", frozenset({Role.TRAINING_COORDINATOR})),
    NavItem(
        _("Statistiques de formation"),
        "training:stats",
        frozenset({Role.TRAINING_COORDINATOR, Role.REFERENT, Role.LIAISON}),
    ),
    NavItem(_("Journal d'audit"), "audit:search", frozenset({Role.DPO})),
    NavItem(_("Intégrité du journal"), "audit:integrity", frozenset({Role.DPO})),
    NavItem(_("Durées de conservation"), "retention:dashboard", frozenset({Role.DPO})),
    NavItem(_("Registre des traitements"), "register:page", frozenset({Role.DPO})),
    NavItem(_("Administration technique"), "admin:index", frozenset({Role.TECH_ADMIN})),
]


def items_for(roles: set[Role], path: str) -> list[dict[str, Any]]:
    """The entries ``roles`` may use, the current one marked (longest matching prefix)."""
    items: list[dict[str, Any]] = []
    for item in NAVIGATION:
        if not item.roles & roles:
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        items.append({"label": item.label, "url": url, "current": False})
    matching = [entry for entry in items if path.startswith(entry["url"])]
    if matching:
        max(matching, key=lambda entry: len(entry["url"]))["current"] = True
    return items


def all_roles(user: Any) -> set[Role]:
    """Every role the user holds anywhere (the navigation is not limited to one commune)."""
    role_map = permissions.role_map(user)
    held: set[Role] = set(role_map.installation)
    for roles in (*role_map.by_commune.values(), *role_map.by_department.values()):
        held |= roles
    return held


def context(request: HttpRequest) -> dict[str, Any]:
    """Template context: ``main_navigation`` and ``works_in_a_commune``."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"main_navigation": [], "works_in_a_commune": False}
    return {
        "main_navigation": items_for(all_roles(user), request.path),
        # Department roles (liaison, DPO) work for the whole department: no "commune de
        # travail" for them, and no commune switcher.
        "works_in_a_commune": bool(permissions.role_map(user).by_commune),
    }
