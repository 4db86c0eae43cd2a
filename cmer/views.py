"""Home page by role, and the unauthenticated health check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from cmer import health
from cmer.accounts.models import Role

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


@dataclass(frozen=True)
class Section:
    title: StrOrPromise
    description: StrOrPromise
    url_name: str
    roles: frozenset[Role]


# What each role may use, in the order shown. A section whose page is not built yet shows as
# "bientôt disponible" rather than a dead link.
SECTIONS = [
    Section(
        _("Déposer un signalement"),
        _("Signaler des signes de basculement vers la violence observés dans votre service."),
        "cases:create",
        frozenset({Role.REPORTING_AGENT, Role.CELL_MEMBER, Role.REFERENT}),
    ),
    Section(
        _("Signalements"),
        _("Les signalements que vous pouvez consulter."),
        "cases:list",
        frozenset({Role.REPORTING_AGENT, Role.CELL_MEMBER, Role.REFERENT}),
    ),
    Section(
        _("Signalements transmis à la préfecture"),
        _("Signalements transmis par les communes du département, et vos retours."),
        "cases:transmitted",
        frozenset({Role.LIAISON}),
    ),
    Section(
        _("Statistiques des signalements"),
        _("Nombres par mois, statut, urgence, signes, issue ; aucun nombre de 1 à 4 affiché."),
        "statistics:index",
        frozenset({Role.REFERENT, Role.LIAISON}),
    ),
    Section(
        _("Réunions de la cellule"),
        _("Ordres du jour, présences, relevés de décisions."),
        "meetings:list",
        frozenset({Role.CELL_MEMBER, Role.REFERENT, Role.LIAISON}),
    ),
    Section(
        _("Conventions et charte"),
        _("Protocoles préfecture–commune, charte de confidentialité."),
        "conventions:list",
        frozenset({Role.REFERENT, Role.LIAISON}),
    ),
    Section(
        _("Formations de sensibilisation"),
        _("Sessions, présences, attestations."),
        "training:list",
        frozenset({Role.TRAINING_COORDINATOR}),
    ),
    Section(
        _("Statistiques de formation"),
        _("Personnes formées et couverture par service."),
        "training:stats",
        frozenset({Role.TRAINING_COORDINATOR, Role.REFERENT, Role.LIAISON}),
    ),
    Section(
        _("Journal d'audit"),
        _("Qui a consulté ou modifié quoi, et quand."),
        "audit:search",
        frozenset({Role.DPO}),
    ),
    Section(
        _("Durées de conservation"),
        _("Règles en vigueur, échéances, gels, certificats de destruction."),
        "retention:dashboard",
        frozenset({Role.DPO}),
    ),
    Section(
        _("Registre des traitements"),
        _("Finalités, destinataires, durées de conservation, mesures de sécurité (article 30)."),
        "register:page",
        frozenset({Role.DPO}),
    ),
    Section(
        _("Administration technique"),
        _("Comptes, communes et rôles. Aucun accès au contenu des dossiers."),
        "admin:index",
        frozenset({Role.TECH_ADMIN}),
    ),
]


def sections_for(roles: set[Role]) -> list[dict[str, StrOrPromise | None]]:
    visible: list[dict[str, StrOrPromise | None]] = []
    for section in SECTIONS:
        if not section.roles & roles:
            continue
        try:
            url = reverse(section.url_name)
        except NoReverseMatch:
            url = None
        visible.append({"title": section.title, "description": section.description, "url": url})
    return visible


def home(request: HttpRequest) -> HttpResponse:
    from django.utils import timezone

    from cmer.accounts.memberships import pending_count_for
    from cmer.home import home_context

    roles = set(getattr(request, "roles", set()))
    context = {"sections": sections_for(roles), "today": timezone.localdate()}
    if request.user.is_authenticated:
        # What the apps add (cmer.home): the cell's action items due soon or overdue, …
        context.update(home_context(request.user))
        # Requests of roles waiting for this user's confirmation (four-eyes): no query for
        # someone with no authority to confirm.
        context["pending_memberships"] = pending_count_for(request.user)
    if Role.DPO in roles:
        from cmer.audit.health import trail_health

        context["audit_health"] = trail_health()  # shown in red when failing
    return render(request, "home.html", context)


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Health from stored state only (cmer.health): 200 ok, 503 degraded. No personal data.

    ``?live`` is the liveness probe of the proxy and of the container: it answers from this
    process alone (no database, no Redis), so a database outage does not get web restarted.
    """
    if "live" in request.GET:
        return JsonResponse({"status": "ok"})
    healthy, body = health.report()
    return JsonResponse(body, status=200 if healthy else 503)
