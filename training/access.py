"""Read side of training: who sees which sessions, attendance and statistics.

- The training coordinator manages the sessions of the communes where they hold the role (a
  department-scope coordinator: every commune of the department, plus department-level sessions).
- The referent (their commune) and the liaison (their department, department-level sessions
  included) see the statistics of their scope, never the names.
- Everyone else gets 404, the same as a missing session.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404, HttpRequest

from cmer import permissions
from cmer.accounts.models import Commune, Department, Membership, Role

from .models import (
    Attendance,
    AttendanceImport,
    Attestation,
    AttestationBundle,
    ServiceHeadcount,
    Trainee,
    TrainingSession,
)

COORDINATOR = Role.TRAINING_COORDINATOR
STATS_ROLES = (Role.TRAINING_COORDINATOR, Role.REFERENT, Role.LIAISON)


def departments_where(user: Any, *roles: Role) -> QuerySet[Department]:
    """Departments where ``user`` holds one of ``roles`` at department scope today."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Department.objects.none()
    held = Membership.objects.active().filter(
        user=user, role__in=list(roles), department__isnull=False
    )
    return Department.objects.filter(pk__in=held.values("department_id"))


def _scope_filter(user: Any, roles: tuple[Role, ...], prefix: str = "") -> Q:
    communes = permissions.communes_where(user, *roles)
    departments = departments_where(user, *roles)
    return Q(**{f"{prefix}commune__in": communes}) | Q(**{f"{prefix}department__in": departments})


def sessions_visible_to(user: Any) -> QuerySet[TrainingSession]:
    """Sessions the user manages (coordinator only). Filtered in SQL: usable for list pages."""
    if not permissions.all_roles(user) & {COORDINATOR}:
        return TrainingSession.objects.none()
    return TrainingSession.objects.filter(_scope_filter(user, (COORDINATOR,)))


def can_manage_training(user: Any) -> bool:
    return COORDINATOR in permissions.all_roles(user)


def require_coordinator(request: HttpRequest) -> None:
    """Pages of the coordinator only: anyone else gets 404, as for a missing page."""
    if not can_manage_training(request.user):
        raise Http404


def get_session_for_user(request: HttpRequest, pk: Any) -> TrainingSession:
    """The session, if the user manages it; otherwise 404 (denial recorded)."""
    queryset = sessions_visible_to(request.user).select_related("commune", "department")
    return permissions.get_or_404(queryset, request, pk=pk)


def session_list_for(user: Any) -> QuerySet[TrainingSession]:
    """The list page's queryset: one query, with attendance counts."""
    return (
        sessions_visible_to(user)
        .select_related("commune", "department")
        .annotate(
            present_count=Count(
                "attendances", filter=Q(attendances__status=Attendance.Status.PRESENT)
            ),
            attendance_count=Count("attendances"),
        )
    )


def get_import_for_user(request: HttpRequest, pk: Any) -> AttendanceImport:
    queryset = AttendanceImport.objects.filter(
        session__in=sessions_visible_to(request.user)
    ).select_related("session", "session__commune", "session__department")
    return permissions.get_or_404(queryset, request, pk=pk)


def get_attendance_for_user(request: HttpRequest, pk: Any) -> Attendance:
    queryset = Attendance.objects.filter(
        session__in=sessions_visible_to(request.user)
    ).select_related("session", "session__commune", "session__department", "trainee")
    return permissions.get_or_404(queryset, request, pk=pk)


def get_bundle_for_user(request: HttpRequest, pk: Any) -> AttestationBundle:
    queryset = AttestationBundle.objects.filter(session__in=sessions_visible_to(request.user))
    return permissions.get_or_404(queryset, request, pk=pk)


def manageable_scopes(user: Any) -> list[tuple[str, str]]:
    """Choices "c:<id>" / "d:<id>" for a session or headcount form: where the user coordinates."""
    choices = [
        (f"c:{commune.pk}", commune.name)
        for commune in permissions.communes_where(user, COORDINATOR).order_by("name")
    ]
    choices += [
        (f"d:{department.pk}", f"{department.name} — session départementale")
        for department in departments_where(user, COORDINATOR).order_by("code")
    ]
    return choices


def resolve_scope(user: Any, value: str) -> Commune | Department:
    """Turn a "c:<id>" / "d:<id>" choice back into a commune or department the user manages."""
    kind, _sep, raw_pk = (value or "").partition(":")
    if not raw_pk.isdigit():
        raise Http404
    if kind == "c":
        commune = permissions.communes_where(user, COORDINATOR).filter(pk=int(raw_pk)).first()
        if commune is not None:
            return commune
    elif kind == "d":
        department = departments_where(user, COORDINATOR).filter(pk=int(raw_pk)).first()
        if department is not None:
            return department
    raise Http404


# Verification (public) -------------------------------------------------------------------


def attestation_by_code(code: str) -> Attestation | None:
    """The attestation with this code, withdrawn or not, with what it states (one query).

    Public lookup: the caller shows only what the attestation itself says.
    """
    return (
        Attestation.objects.select_related(
            "attendance__trainee",
            "attendance__session__commune",
            "attendance__session__department",
        )
        .filter(code=code)
        .first()
    )


# Statistics ----------------------------------------------------------------------------------


def can_view_stats(user: Any) -> bool:
    return bool(permissions.all_roles(user) & set(STATS_ROLES))


def stats_sessions_for(user: Any) -> QuerySet[TrainingSession]:
    """Sessions counted in the user's statistics: coordinator, referent (commune), liaison."""
    if not can_view_stats(user):
        return TrainingSession.objects.none()
    return TrainingSession.objects.filter(_scope_filter(user, STATS_ROLES))


def stats_scopes(user: Any) -> list[tuple[str, str]]:
    """Filter choices on the statistics page: each commune and department the user may see."""
    choices = [
        (f"c:{commune.pk}", commune.name)
        for commune in permissions.communes_where(user, *STATS_ROLES).order_by("name")
    ]
    choices += [
        (f"d:{department.pk}", f"{department.name} — sessions départementales")
        for department in departments_where(user, *STATS_ROLES).order_by("code")
    ]
    return choices


def headcounts_visible_to(user: Any) -> QuerySet[ServiceHeadcount]:
    if not can_view_stats(user):
        return ServiceHeadcount.objects.none()
    return ServiceHeadcount.objects.filter(_scope_filter(user, STATS_ROLES))


def headcounts_managed_by(user: Any) -> QuerySet[ServiceHeadcount]:
    if not can_manage_training(user):
        return ServiceHeadcount.objects.none()
    return ServiceHeadcount.objects.filter(_scope_filter(user, (COORDINATOR,)))


# Membership admin ----------------------------------------------------------------------------


def attended_training_exists(outer_ref: str = "user__email") -> Exists:
    """``Exists()``: a trainee with this e-mail was present at a held session (any department)."""
    return Exists(
        Attendance.objects.filter(
            trainee__email__iexact=OuterRef(outer_ref),
            status=Attendance.Status.PRESENT,
            session__status=TrainingSession.Status.HELD,
        )
    )


def attended_training(email: str) -> bool:
    if not email:
        return False
    return Trainee.objects.filter(
        email__iexact=email,
        attendances__status=Attendance.Status.PRESENT,
        attendances__session__status=TrainingSession.Status.HELD,
    ).exists()


def annotate_training_attended(memberships: QuerySet[Membership]) -> QuerySet[Membership]:
    """The membership admin's list: one ``Exists()`` column instead of a query per row."""
    return memberships.annotate(_training_attended=attended_training_exists("user__email"))


def training_attended_label(membership: Membership) -> str:
    """For a reporting agent: whether they attended a session (matched on their e-mail)."""
    from django.utils.translation import gettext as _

    if membership.pk is None or membership.role != Role.REPORTING_AGENT:
        return "—"
    attended = getattr(membership, "_training_attended", None)
    if attended is None:
        attended = attended_training(membership.user.email)
    return str(_("oui") if attended else _("non"))
