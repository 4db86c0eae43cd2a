"""Read side of conventions: who may see which convention, document and charter.

The referent manages the conventions of their commune(s); the prefecture liaison those of every
commune of their department. Nobody else sees a convention: a forbidden id answers 404, exactly
like a missing one (``cmer.permissions.get_or_404`` records the denial).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from cmer.accounts.models import Commune, Department, Membership, Role
from cmer.permissions import communes_where, get_or_404, has_role

from .models import CharterVersion, Convention, ConventionQuerySet, SignedDocument

MANAGER_ROLES = (Role.REFERENT, Role.LIAISON)


def managed_communes(user: Any) -> QuerySet[Commune]:
    """Communes whose conventions ``user`` manages: referent there, or department liaison."""
    return communes_where(user, *MANAGER_ROLES)


def liaison_departments(user: Any) -> QuerySet[Department]:
    """Departments where ``user`` is the prefecture liaison today."""
    return Department.objects.filter(
        pk__in=Membership.objects.active()
        .filter(user=user, role=Role.LIAISON, department__isnull=False)
        .values("department_id")
    )


def is_convention_manager(user: Any) -> bool:
    return managed_communes(user).exists()


def require_manager(user: Any) -> None:
    """404 for anyone who manages no convention at all (pages that are not about one object)."""
    if not is_convention_manager(user):
        raise Http404


def conventions_visible_to(user: Any) -> ConventionQuerySet:
    """Conventions of the communes ``user`` manages; one SQL statement (commune subquery)."""
    return Convention.objects.filter(commune__in=managed_communes(user))


def get_convention_for_user(request: HttpRequest, pk: int) -> Convention:
    """The convention ``pk`` if ``request.user`` manages its commune, else Http404."""
    queryset = conventions_visible_to(request.user).select_related(
        "commune", "commune__department", "parent", "created_by"
    )
    return get_or_404(queryset, request, pk=pk)


def get_document_for_user(request: HttpRequest, convention_pk: int, pk: int) -> SignedDocument:
    """A signed document of a convention ``request.user`` manages, else Http404."""
    queryset = SignedDocument.objects.filter(
        convention__in=conventions_visible_to(request.user)
    ).select_related("convention")
    return get_or_404(queryset, request, pk=pk, convention_id=convention_pk)


def documents_visible_to(user: Any) -> QuerySet[SignedDocument]:
    return SignedDocument.objects.filter(convention__in=conventions_visible_to(user))


# -- charter ----------------------------------------------------------------------------------


def get_commune_for_charter(request: HttpRequest, pk: int) -> Commune:
    """A commune whose charter ``request.user`` may see: its referent or department liaison."""
    queryset = managed_communes(request.user).select_related("department")
    return get_or_404(queryset, request, pk=pk)


def get_department_for_charter(request: HttpRequest, pk: int) -> Department:
    """A department whose charter ``request.user`` manages (its liaison)."""
    return get_or_404(liaison_departments(request.user), request, pk=pk)


def may_publish_commune_charter(user: Any, commune: Commune) -> bool:
    """A commune's charter is published by its referent (the liaison publishes department-wide)."""
    return has_role(user, commune, Role.REFERENT)


def charter_versions_of(scope: Commune | Department) -> QuerySet[CharterVersion]:
    versions = CharterVersion.objects.select_related("commune", "department")
    if isinstance(scope, Commune):
        return versions.filter(commune=scope)
    return versions.filter(department=scope)


def applicable_charter(commune: Commune) -> CharterVersion | None:
    """The charter binding a commune's cell: its own latest version, else its department's."""
    versions = CharterVersion.objects.select_related("commune", "department")
    own = versions.filter(commune=commune).order_by("-version").first()
    if own is not None:
        return own
    return versions.filter(department_id=commune.department_id).order_by("-version").first()


def people_bound_by(scope: Commune | Department) -> QuerySet:
    """Users who must acknowledge the charter of ``scope``: cell members and referents of a
    commune, or the liaisons of a department."""
    from django.contrib.auth import get_user_model

    memberships = Membership.objects.active()
    if isinstance(scope, Commune):
        memberships = memberships.filter(commune=scope, role__in=[Role.CELL_MEMBER, Role.REFERENT])
    else:
        memberships = memberships.filter(department=scope, role=Role.LIAISON)
    return get_user_model().objects.filter(pk__in=memberships.values("user_id"))
