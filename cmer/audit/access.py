"""Read side of the audit trail: who may read which entries.

Only the data protection officer reads the trail, for the department(s) where they hold the role:
entries about objects of its communes, and entries without a commune (logins, account events)
that concern people holding a role there. Everyone else gets 404 on every audit page. (The
referent's "who accessed this referral" goes through ``core.entries_for_object`` in the cases app,
behind the referral's own access check.)
"""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest

from cmer.accounts.models import Membership, Role, User
from cmer.permissions import communes_where

from .models import AuditEntry, Event


def dpo_scope(user: Any) -> tuple[list[int], list[int]]:
    """(commune ids, department ids) where ``user`` is DPO today."""
    rows = list(communes_where(user, Role.DPO).values_list("pk", "department_id"))
    return [pk for pk, _ in rows], sorted({department for _, department in rows})


def require_dpo(request: HttpRequest) -> tuple[list[int], list[int]]:
    """The DPO's scope, or 404 for anyone else (the same answer as a missing page)."""
    communes, departments = dpo_scope(request.user)
    if not communes:
        raise Http404
    return communes, departments


def members_of(
    commune_ids: list[int], department_ids: list[int]
) -> QuerySet[Membership, Any]:  # rows of values("user_id")
    """Users holding (or having held) a role in these communes or departments, as a subquery."""
    return Membership.objects.filter(
        Q(commune_id__in=commune_ids) | Q(department_id__in=department_ids)
    ).values("user_id")


def entries_visible_to(user: Any) -> QuerySet[AuditEntry]:
    """Entries the DPO ``user`` may read; none for anyone else. One SQL statement."""
    commune_ids, department_ids = dpo_scope(user)
    if not commune_ids:
        return AuditEntry.objects.none()
    members = members_of(commune_ids, department_ids)
    user_type = ContentType.objects.get_for_model(User)
    membership_type = ContentType.objects.get_for_model(Membership)
    # A department role requested by the technical administrator has no commune: its request,
    # confirmation or refusal is found through the membership itself.
    department_memberships = Membership.objects.filter(department_id__in=department_ids).values(
        "pk"
    )
    return AuditEntry.objects.filter(
        Q(commune_id__in=commune_ids)
        | Q(commune__isnull=True, actor_id__in=members)
        | Q(commune__isnull=True, content_type=user_type, object_id__in=members)
        | Q(
            commune__isnull=True,
            content_type=membership_type,
            object_id__in=department_memberships,
        )
        # The installation's retention runs (counts only, no commune): the DPO answers for them.
        | Q(commune__isnull=True, event=Event.RETENTION)
    )


def users_visible_to(user: Any) -> QuerySet[User]:
    commune_ids, department_ids = dpo_scope(user)
    return User.objects.filter(pk__in=members_of(commune_ids, department_ids)).order_by("email")
