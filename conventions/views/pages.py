"""Conventions: the list, the liaison's overview, a convention's page, drafting and editing."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import ResolverMatch
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from cmer.accounts.models import Commune, Membership, Role
from cmer.audit.core import record_event
from cmer.audit.models import Event

from .. import access, actions, gates
from ..forms import (
    ConventionForm,
    DocumentForm,
    NonRenewalForm,
    SignatoryForm,
    TerminationForm,
)
from ..models import Convention, Side
from ..sides import SideRefused, side_label, sides_of


def _refused(request: HttpRequest, convention: Convention, error: SideRefused) -> HttpResponse:
    """The other party's part: the page again with the reason, 403, nothing changed.

    The attempt itself is kept in the audit trail (who tried what on which convention).
    """
    # Django resolves the URL before calling any view: never None here.
    match = cast(ResolverMatch, request.resolver_match)
    record_event(
        Event.DENIED,
        request=request,
        target=convention,
        data={"refused": "other_party", "url": match.url_name},
    )
    messages.error(request, error.message)
    return _render_detail(request, convention, status=403)


# -- conventions ------------------------------------------------------------------------------


@require_GET
def convention_list(request: HttpRequest) -> HttpResponse:
    access.require_manager(request.user)
    today = timezone.localdate()
    conventions = list(
        access.conventions_visible_to(request.user)
        .with_sides()
        .select_related("commune", "parent")
        .annotate(document_count=Count("documents"))
        .order_by("commune__name", "-effective_date", "-pk")
    )
    for convention in conventions:
        convention.state_today = convention.state_on(today)
        convention.state_today_label = Convention.Status(convention.state_today).label
        convention.period_end = convention.period_end_on(today)
    communes = list(access.managed_communes(request.user).order_by("name"))
    departments = list(access.liaison_departments(request.user).order_by("code"))
    return render(
        request,
        "conventions/list.html",
        {"conventions": conventions, "communes": communes, "departments": departments},
    )


@require_http_methods(["GET", "POST"])
def convention_create(request: HttpRequest) -> HttpResponse:
    access.require_manager(request.user)
    communes = access.managed_communes(request.user).order_by("name")
    visible = access.conventions_visible_to(request.user)
    initial: dict[str, Any] = {}
    parent_id = request.GET.get("parent", "")
    if parent_id.isdigit():
        parent = visible.filter(pk=int(parent_id)).first()
        if parent is not None:
            initial = {
                "parent": parent,
                "commune": parent.commune,
                "kind": request.GET.get("kind", Convention.Kind.AMENDMENT),
            }
    form = ConventionForm(
        request.POST or None,
        communes=communes,
        conventions=visible,
        initial=initial,
        instance=Convention(),
    )
    if request.method == "POST" and form.is_valid():
        try:
            convention = actions.do_create_convention(
                form.cleaned_data["commune"],
                form.cleaned_data,
                acting_user=request.user,
                request=request,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("La convention est enregistrée en brouillon."))
            return redirect("conventions:detail", pk=convention.pk)
    return render(
        request,
        "conventions/form.html",
        {"form": form, "title": _("Nouvelle convention")},
        status=400 if form.is_bound else 200,
    )


@require_http_methods(["GET", "POST"])
def convention_edit(request: HttpRequest, pk: int) -> HttpResponse:
    convention = access.get_convention_for_user(request, pk)
    if not convention.is_editable:
        messages.error(request, _("Une convention signée ne se modifie plus : ajoutez un avenant."))
        return redirect("conventions:detail", pk=convention.pk)
    if convention.created_side not in sides_of(request.user, convention.commune):
        refusal = SideRefused(
            _(
                "Ce projet a été rédigé par %(side)s : seule cette partie peut le modifier, "
                "l'envoyer à la signature ou l'abandonner. Rien n'a été modifié."
            )
            % {"side": side_label(convention.created_side)}
        )
        if request.method == "POST":
            return _refused(request, convention, refusal)
        messages.error(request, refusal.message)
        return redirect("conventions:detail", pk=convention.pk)
    form = ConventionForm(
        request.POST or None,
        communes=access.managed_communes(request.user),
        conventions=access.conventions_visible_to(request.user).exclude(pk=convention.pk),
        instance=convention,
    )
    if request.method == "POST" and form.is_valid():
        try:
            actions.do_update_convention(
                convention, form.cleaned_data, acting_user=request.user, request=request
            )
        except SideRefused as error:
            return _refused(request, convention, error)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("La convention est mise à jour."))
            return redirect("conventions:detail", pk=convention.pk)
    return render(
        request,
        "conventions/form.html",
        {"form": form, "title": _("Modifier la convention"), "convention": convention},
        status=400 if form.is_bound else 200,
    )


def _render_detail(
    request: HttpRequest, convention: Convention, *, status: int = 200, **forms: Any
) -> HttpResponse:
    today = timezone.localdate()
    signatories = list(
        convention.signatories.select_related("signature_recorded_by", "signed_document")
    )
    documents = list(convention.documents.select_related("uploaded_by"))
    children = list(
        access.conventions_visible_to(request.user)
        .filter(parent=convention)
        .order_by("effective_date", "pk")
    )
    for child in children:
        child.state_today_label = Convention.Status(child.state_on(today)).label
    state = convention.state_on(today)
    user_sides = sides_of(request.user, convention.commune)
    sides = []
    for side in (Side.COMMUNE, Side.PREFECTURE):
        own = [s for s in signatories if s.side == side]
        sides.append(
            {
                "side": side,
                "label": side.label,
                "signatories": own,
                "recorded": bool(own) and all(s.is_recorded for s in own),
                "mine": side in user_sides,
            }
        )
    context = {
        "convention": convention,
        "state": state,
        "state_label": Convention.Status(state).label,
        "period_end": convention.period_end_on(today),
        "notice_deadline": convention.notice_deadline_on(today),
        "signatories": signatories,
        "documents": documents,
        "text_in_force": documents[0] if documents and state == "in_force" else None,
        "children": children,
        # Looked up at call time (gates.…), so that a test's stand-in for the gate never stays
        # bound here after the test.
        "gate": gates.protocol_in_force(
            convention.commune,
            today,
            side=Side.PREFECTURE if user_sides == [Side.PREFECTURE] else Side.COMMUNE,
        ),
        "all_signed": all(side["recorded"] for side in sides),
        "sides": sides,
        "user_sides": user_sides,
        "drafting_side_label": Side(convention.created_side).label,
        "may_draft": convention.created_side in user_sides,
        # Never signed: only the drafting side abandons it. Signed: either party may leave.
        "may_terminate": convention.signed_at is not None or convention.created_side in user_sides,
        "signatory_form": forms.get("signatory_form") or SignatoryForm(sides=user_sides),
        "signature_form": forms.get("signature_form"),
        "signature_target": forms.get("signature_target"),
        "document_form": forms.get("document_form") or DocumentForm(),
        "termination_form": forms.get("termination_form") or TerminationForm(),
        "non_renewal_form": forms.get("non_renewal_form") or NonRenewalForm(),
        "today": today,
    }
    return render(request, "conventions/detail.html", context, status=status)


@require_GET
def convention_detail(request: HttpRequest, pk: int) -> HttpResponse:
    convention = access.get_convention_for_user(request, pk)
    return _render_detail(request, convention)


@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    """The liaison's department overview: each commune, its convention, whether its cell is
    active (a protocol in force and a referent designated). Fixed number of queries."""
    departments = list(access.liaison_departments(request.user).order_by("code"))
    if not departments:
        raise Http404
    today = timezone.localdate()
    referents = Membership.objects.active(today).filter(commune=OuterRef("pk"), role=Role.REFERENT)
    conventions = (
        Convention.objects.with_sides()
        .exclude(kind=Convention.Kind.AMENDMENT)
        .order_by("-effective_date", "-pk")
    )
    communes = list(
        Commune.objects.filter(department__in=departments)
        .select_related("department")
        .annotate(has_referent=Exists(referents))
        .prefetch_related(Prefetch("conventions", queryset=conventions, to_attr="main"))
        .order_by("department__code", "name")
    )
    rows = []
    for commune in communes:
        in_force = next((c for c in commune.main if c.is_in_force(today)), None)
        shown = in_force or (commune.main[0] if commune.main else None)
        state = shown.state_on(today) if shown else None
        rows.append(
            {
                "commune": commune,
                "convention": shown,
                "state_label": Convention.Status(state).label if state else None,
                "in_force": in_force is not None,
                "period_end": shown.period_end_on(today) if shown else None,
                "cell_active": in_force is not None and commune.has_referent,
            }
        )
    return render(request, "conventions/overview.html", {"rows": rows, "departments": departments})
