"""Four-eyes on access rights: who may confirm a requested membership, and the actions.

A membership the technical administrator adds or widens is *requested*; it gives nothing until a
second person with authority over it confirms it here (DESIGN.md, "Membership"):

- a commune's roles (agent, cell member, commune training coordinator): that commune's referent;
- the municipal referent: the prefecture liaison of the commune's department;
- department roles (liaison, DPO, department training coordinator): another holder of a department
  role in that department;
- the technical administrator's own installation role: another technical administrator.

Nobody decides on their own membership or on a request they made. The first holder of a
department role is bootstrapped on the server (``manage.py bootstrap_membership``) with a written
reason. Ending a membership (an earlier end date) applies at once.

Read side: ``requests_pending_for(user)`` (the requests in ``user``'s authority, one SQL statement,
built from the roles already loaded for the request). Write side: ``do_*`` actions, atomic, with
an audit entry (``Event.GRANT`` for request, confirmation, bootstrap; ``Event.REVOKE`` for refusal
and ending; ``data["membership"]`` names the step) and e-mails queued on commit.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from cmer import permissions
from cmer.audit.core import record_event
from cmer.audit.models import Event
from cmer.queue import enqueue_on_commit

from .models import (
    CONTENT_ROLES,
    Department,
    Membership,
    MembershipStatus,
    Role,
    User,
    widens,
)

# Roles confirmed by the commune's referent (when held in a commune).
REFERENT_CONFIRMS = (Role.REPORTING_AGENT, Role.CELL_MEMBER, Role.TRAINING_COORDINATOR)
# Department-scoped roles: any of them, in the department, confirms any of them.
DEPARTMENT_SCOPED = (Role.LIAISON, Role.DPO, Role.TRAINING_COORDINATOR)
BOOTSTRAP_ROLES = DEPARTMENT_SCOPED
MIN_REASON_LENGTH = 10


class Step:
    """``data["membership"]`` of the audit entries, and the e-mail sent."""

    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    REFUSED = "refused"
    ENDED = "ended"
    BOOTSTRAP = "bootstrap"


def _authority(user: Any) -> Q | None:
    """The requests ``user`` has authority over, as a condition; None if none at all."""
    roles = permissions.role_map(user)
    referent_of = sorted(cid for cid, held in roles.by_commune.items() if Role.REFERENT in held)
    liaison_of = sorted(did for did, held in roles.by_department.items() if Role.LIAISON in held)
    department_of = sorted(
        did for did, held in roles.by_department.items() if held & set(DEPARTMENT_SCOPED)
    )
    conditions = []
    if referent_of:
        conditions.append(Q(commune_id__in=referent_of, role__in=REFERENT_CONFIRMS))
    if liaison_of:
        conditions.append(Q(role=Role.REFERENT, commune__department_id__in=liaison_of))
    if department_of:
        conditions.append(Q(department_id__in=department_of, role__in=DEPARTMENT_SCOPED))
    if Role.TECH_ADMIN in roles.installation:
        conditions.append(Q(role=Role.TECH_ADMIN, commune__isnull=True, department__isnull=True))
    if not conditions:
        return None
    authority = conditions[0]
    for condition in conditions[1:]:
        authority |= condition
    return authority


def requests_pending_for(user: Any) -> QuerySet[Membership]:
    """Requested memberships ``user`` may confirm or refuse: in their authority, neither their own
    membership nor their own request, for an active account, never a content role for an
    administrator account. One SQL statement (the roles come from the request's role map)."""
    authority = _authority(user)
    if authority is None or user.pk is None:
        return Membership.objects.none()
    return (
        Membership.objects.filter(authority, status=MembershipStatus.REQUESTED)
        .filter(user__is_active=True)
        .exclude(user_id=user.pk)
        .exclude(requested_by_id=user.pk)
        .exclude(Q(role__in=CONTENT_ROLES) & (Q(user__is_staff=True) | Q(user__is_superuser=True)))
        .select_related("user", "requested_by", "commune__department", "department")
        .order_by("requested_at", "pk")
    )


def pending_count_for(user: Any) -> int:
    """How many requests wait for ``user`` (0 without a query when they have no authority)."""
    if _authority(user) is None:
        return 0
    return requests_pending_for(user).count()


def version_of(membership: Membership) -> str:
    """What the confirmer saw: a confirmation of a request changed since is refused."""
    stamp = membership.requested_at.isoformat() if membership.requested_at else ""
    return f"{membership.pk}:{stamp}"


def _audit(
    step: str,
    membership: Membership,
    *,
    actor: Any,
    request: HttpRequest | None,
    reason: str = "",
) -> None:
    data: dict[str, Any] = {
        "membership": step,
        "user": membership.user_id,
        "role": membership.role,
        "commune": membership.commune_id,
        "department": membership.department_id,
        "starts_on": membership.starts_on.isoformat() if membership.starts_on else None,
        "ends_on": membership.ends_on.isoformat() if membership.ends_on else None,
    }
    if reason:
        data["reason"] = reason
    event = Event.REVOKE if step in (Step.REFUSED, Step.ENDED) else Event.GRANT
    record_event(event, request=request, actor=actor, target=membership, data=data)


def _notify(membership: Membership, step: str) -> None:
    # By name: the task's module imports this one (confirmers_of).
    enqueue_on_commit("cmer.accounts.membership_tasks.notify_membership", membership.pk, step)


def do_save_membership_request(
    membership: Membership, *, acting_user: Any, request: HttpRequest | None = None
) -> Membership:
    """Save what the technical administrator entered (admin form): a new membership, or a change
    that gives more than was confirmed, becomes a request; an earlier end date on a confirmed
    membership applies at once ("ended"); other edits (service) just save."""
    with transaction.atomic():
        previous = None
        if membership.pk is not None:
            previous = Membership.objects.select_for_update().filter(pk=membership.pk).first()
        ending = (
            previous is not None
            and previous.status == MembershipStatus.CONFIRMED
            and not widens(previous, membership)
        )
        if ending:
            membership.save()
            if previous is not None and previous.ends_on != membership.ends_on:
                _audit(Step.ENDED, membership, actor=acting_user, request=request)
                _notify(membership, Step.ENDED)
            return membership
        membership.status = MembershipStatus.REQUESTED
        membership.requested_by = acting_user if getattr(acting_user, "pk", None) else None
        membership.requested_at = timezone.now()
        membership.decided_by = None
        membership.decided_at = None
        membership.decision_reason = ""
        membership.save()
        _audit(Step.REQUESTED, membership, actor=acting_user, request=request)
        _notify(membership, Step.REQUESTED)
    return membership


class DecisionRefused(Exception):
    """The decision cannot be taken (no longer pending, changed since it was shown)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _lock_pending(membership_id: int, acting_user: Any, version: str) -> Membership:
    """The request, locked, re-checked inside the transaction: still pending, still in the
    authority of ``acting_user``, and unchanged since they saw it."""
    locked = Membership.objects.select_for_update().filter(pk=membership_id).first()
    if locked is None or not requests_pending_for(acting_user).filter(pk=membership_id).exists():
        raise Membership.DoesNotExist
    if version_of(locked) != version:
        raise DecisionRefused(
            _("Cette demande a été modifiée depuis son affichage : vérifiez-la à nouveau.")
        )
    return locked


def do_confirm_membership(
    membership_id: int, *, acting_user: Any, version: str, request: HttpRequest | None = None
) -> Membership:
    """Confirm a request in ``acting_user``'s authority. ``Membership.DoesNotExist`` when it is
    not theirs to decide (the view answers 404), ``DecisionRefused`` when it changed."""
    with transaction.atomic():
        membership = _lock_pending(membership_id, acting_user, version)
        membership.status = MembershipStatus.CONFIRMED
        membership.decided_by = acting_user
        membership.decided_at = timezone.now()
        membership.decision_reason = ""
        membership._deciding = True
        membership.save()
        _audit(Step.CONFIRMED, membership, actor=acting_user, request=request)
        _notify(membership, Step.CONFIRMED)
    return membership


def do_refuse_membership(
    membership_id: int,
    *,
    acting_user: Any,
    version: str,
    reason: str,
    request: HttpRequest | None = None,
) -> Membership:
    """Refuse a request in ``acting_user``'s authority, with a reason (kept and audited)."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise DecisionRefused(_("Indiquez le motif du refus."))
    with transaction.atomic():
        membership = _lock_pending(membership_id, acting_user, version)
        membership.status = MembershipStatus.REFUSED
        membership.decided_by = acting_user
        membership.decided_at = timezone.now()
        membership.decision_reason = reason[:500]
        membership._deciding = True
        membership.save()
        _audit(Step.REFUSED, membership, actor=acting_user, request=request, reason=reason[:500])
        _notify(membership, Step.REFUSED)
    return membership


def department_has_holder(department: Department) -> bool:
    """Does someone hold a department role there today (who can then confirm the next one)?"""
    return (
        Membership.objects.active()
        .filter(department=department, role__in=DEPARTMENT_SCOPED)
        .exists()
    )


def do_bootstrap_membership(
    user: User, role: Role, department: Department, *, reason: str
) -> Membership:
    """The first holder of a department role, on the operator's written reason (server command):
    refused when the department already has a holder, who must confirm through the application.
    """
    reason = " ".join((reason or "").split())
    if len(reason) < MIN_REASON_LENGTH:
        raise ValidationError(
            _("Un motif écrit d'au moins %(count)d caractères est obligatoire.")
            % {"count": MIN_REASON_LENGTH}
        )
    if role not in BOOTSTRAP_ROLES:
        raise ValidationError(_("Seul un rôle départemental s'initialise ainsi."))
    with transaction.atomic():
        # Serialise bootstraps of one department: two operators cannot both be "the first".
        Department.objects.select_for_update().get(pk=department.pk)
        if department_has_holder(department):
            raise ValidationError(
                _(
                    "Ce département a déjà un titulaire d'un rôle départemental : la demande doit "
                    "être faite dans l'administration et confirmée par lui dans l'application."
                )
            )
        membership = Membership(
            user=user,
            role=role,
            department=department,
            status=MembershipStatus.CONFIRMED,
            decided_at=timezone.now(),
            decision_reason=reason[:500],
        )
        membership.full_clean()
        membership.save()
        _audit(Step.BOOTSTRAP, membership, actor=None, request=None, reason=reason[:500])
        _notify(membership, Step.BOOTSTRAP)
    return membership


def confirmers_of(membership: Membership) -> QuerySet[User]:
    """Everyone who may decide on ``membership`` (for the "a request awaits you" e-mail)."""
    active = Membership.objects.active()
    role = Role(membership.role)
    if membership.commune_id is not None and role in REFERENT_CONFIRMS:
        holders = active.filter(role=Role.REFERENT, commune_id=membership.commune_id)
    elif role == Role.REFERENT and membership.commune_id is not None:
        holders = active.filter(role=Role.LIAISON, department_id=membership.commune.department_id)
    elif membership.department_id is not None:
        holders = active.filter(role__in=DEPARTMENT_SCOPED, department_id=membership.department_id)
    elif role == Role.TECH_ADMIN:
        holders = active.filter(role=Role.TECH_ADMIN, commune__isnull=True, department__isnull=True)
    else:
        return User.objects.none()
    excluded = [membership.user_id, membership.requested_by_id]
    return User.objects.filter(pk__in=holders.values("user_id"), is_active=True).exclude(
        pk__in=[pk for pk in excluded if pk is not None]
    )
