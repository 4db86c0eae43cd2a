"""Conventions and charter pages. Thin: reads in access.py, writes in actions.py."""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Prefetch
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cmer.accounts.models import Commune, Membership, Role
from cmer.audit.core import record_access, record_event
from cmer.audit.models import Event

from . import access, actions, rules
from .forms import (
    CharterForm,
    ConventionForm,
    DocumentForm,
    NonRenewalForm,
    SignatoryForm,
    SignatureForm,
    TerminationForm,
    VerifyForm,
)
from .gates import current_charters_for, pending_charters_for, protocol_in_force
from .models import CharterAcknowledgement, Convention, Side, Signatory
from .sides import SideRefused, require_side, side_label, sides_of


def _safe_next(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def _error_text(error: ValidationError) -> str:
    return " ".join(str(message) for message in error.messages)


def _refused(request: HttpRequest, convention: Convention, error: SideRefused) -> HttpResponse:
    """The other party's part: the page again with the reason, 403, nothing changed.

    The attempt itself is kept in the audit trail (who tried what on which convention).
    """
    record_event(
        Event.DENIED,
        request=request,
        target=convention,
        data={"refused": "other_party", "url": request.resolver_match.url_name},
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
        "gate": protocol_in_force(
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


@require_POST
def signatory_add(request: HttpRequest, pk: int) -> HttpResponse:
    convention = access.get_convention_for_user(request, pk)
    form = SignatoryForm(request.POST, sides=sides_of(request.user, convention.commune))
    if form.is_valid():
        try:
            actions.do_add_signatory(
                convention, form.cleaned_data, acting_user=request.user, request=request
            )
        except SideRefused as error:
            return _refused(request, convention, error)
        except ValidationError as error:
            messages.error(request, _error_text(error))
        else:
            messages.success(request, _("Le signataire est ajouté."))
        return redirect("conventions:detail", pk=convention.pk)
    return _render_detail(request, convention, status=400, signatory_form=form)


def _get_signatory(convention: Convention, signatory_id: int) -> Signatory:
    signatory = convention.signatories.filter(pk=signatory_id).first()
    if signatory is None:
        raise Http404
    signatory.convention = convention
    return signatory


@require_POST
def signatory_remove(request: HttpRequest, pk: int, signatory_id: int) -> HttpResponse:
    convention = access.get_convention_for_user(request, pk)
    signatory = _get_signatory(convention, signatory_id)
    try:
        actions.do_remove_signatory(signatory, acting_user=request.user, request=request)
    except SideRefused as error:
        return _refused(request, convention, error)
    except ValidationError as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(request, _("Le signataire est retiré."))
    return redirect("conventions:detail", pk=convention.pk)


@require_POST
def signature_record(request: HttpRequest, pk: int, signatory_id: int) -> HttpResponse:
    convention = access.get_convention_for_user(request, pk)
    signatory = _get_signatory(convention, signatory_id)
    if signatory.side not in sides_of(request.user, convention.commune):
        # Refused before the date is even read: the other party's signature is not ours to
        # record, whatever the date says (the action checks again).
        try:
            require_side(request.user, convention.commune, signatory.side)
        except SideRefused as error:
            return _refused(request, convention, error)
    form = SignatureForm(request.POST, convention=convention)
    if form.is_valid():
        try:
            actions.do_record_signature(
                signatory,
                form.cleaned_data["signed_on"],
                acting_user=request.user,
                request=request,
            )
        except SideRefused as error:
            return _refused(request, convention, error)
        except ValidationError as error:
            form.add_error("signed_on", error)
        else:
            messages.success(request, _("La signature est enregistrée pour votre partie."))
            return redirect("conventions:detail", pk=convention.pk)
    return _render_detail(
        request, convention, status=400, signature_form=form, signature_target=signatory.pk
    )


def _simple_transition(request: HttpRequest, pk: int, action: Any, success: str) -> HttpResponse:
    convention = access.get_convention_for_user(request, pk)
    try:
        action(convention, acting_user=request.user, request=request)
    except SideRefused as error:
        return _refused(request, convention, error)
    except ValidationError as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(request, success)
    return redirect("conventions:detail", pk=convention.pk)


@require_POST
def request_signatures(request: HttpRequest, pk: int) -> HttpResponse:
    return _simple_transition(
        request, pk, actions.do_request_signatures, _("La convention attend ses signatures.")
    )


@require_POST
def mark_signed(request: HttpRequest, pk: int) -> HttpResponse:
    return _simple_transition(
        request,
        pk,
        actions.do_mark_signed,
        _("Les deux parties ont signé : la convention est signée et en vigueur à sa date d'effet."),
    )


@require_POST
def terminate(request: HttpRequest, pk: int) -> HttpResponse:
    convention = access.get_convention_for_user(request, pk)
    form = TerminationForm(request.POST)
    if form.is_valid():
        try:
            actions.do_terminate_convention(
                convention,
                reason=form.cleaned_data["reason"],
                terminated_on=form.cleaned_data["terminated_on"],
                acting_user=request.user,
                request=request,
            )
        except SideRefused as error:
            return _refused(request, convention, error)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request, _("La convention est résiliée ; l'autre partie en est avertie par e-mail.")
            )
            return redirect("conventions:detail", pk=convention.pk)
    return _render_detail(request, convention, status=400, termination_form=form)


@require_POST
def non_renewal(request: HttpRequest, pk: int) -> HttpResponse:
    convention = access.get_convention_for_user(request, pk)
    form = NonRenewalForm(request.POST)
    if form.is_valid():
        try:
            actions.do_record_non_renewal(
                convention,
                form.cleaned_data["notified_on"],
                acting_user=request.user,
                request=request,
            )
        except SideRefused as error:
            return _refused(request, convention, error)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("La non-reconduction est enregistrée."))
            return redirect("conventions:detail", pk=convention.pk)
    return _render_detail(request, convention, status=400, non_renewal_form=form)


@require_POST
def document_upload(request: HttpRequest, pk: int) -> HttpResponse:
    convention = access.get_convention_for_user(request, pk)
    form = DocumentForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            document = actions.do_upload_document(
                convention, form.cleaned_data["file"], acting_user=request.user, request=request
            )
        except SideRefused as error:
            return _refused(request, convention, error)
        except ValidationError as error:
            form.add_error("file", error)
        else:
            messages.success(
                request,
                _("La version %(version)s du PDF signé est enregistrée.")
                % {"version": document.version},
            )
            return redirect("conventions:detail", pk=convention.pk)
    return _render_detail(request, convention, status=400, document_form=form)


@require_GET
def document_download(request: HttpRequest, pk: int, document_id: int) -> HttpResponse:
    """Stream a signed PDF after checking that its bytes still match the stored SHA-256.

    The bytes are read once, hashed and served from memory (20 MB at most), so what is served
    is exactly what was verified. A mismatch or a missing file is an integrity alarm: recorded,
    shown, and the file is not served.
    """
    document = access.get_document_for_user(request, pk, document_id)
    try:
        with document.file.open("rb") as stream:
            content = stream.read(rules.MAX_PDF_BYTES + 1)
    except OSError:
        content = None
    actual = hashlib.sha256(content).hexdigest() if content is not None else ""
    if actual != document.sha256:
        record_event(
            Event.ACCESS,
            request=request,
            target=document,
            data={
                "what": "download",
                "integrity": "missing" if content is None else "mismatch",
                "expected": document.sha256,
                "actual": actual,
            },
        )
        return render(
            request,
            "conventions/integrity_alarm.html",
            {"document": document, "convention": document.convention, "actual": actual},
            status=409,
        )
    record_access(request, document, what="download", data={"integrity": "ok"})
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{document.download_name}"'
    response["Cache-Control"] = "no-store, private"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """Is this file, byte for byte, one the system holds? Compared by hash; nothing is stored."""
    access.require_manager(request.user)
    form = VerifyForm(request.POST or None, request.FILES or None)
    result: dict[str, Any] | None = None
    if request.method == "POST" and form.is_valid():
        digest = rules.sha256_of(form.cleaned_data["file"])
        matches = list(
            access.documents_visible_to(request.user)
            .filter(sha256=digest)
            .select_related("convention", "convention__commune")
            .order_by("convention__pk", "version")
        )
        for match in matches:
            record_access(request, match, what="verify")
        result = {"sha256": digest, "matches": matches}
    return render(request, "conventions/verify.html", {"form": form, "result": result})


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


# -- charter ----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def charter(request: HttpRequest) -> HttpResponse:
    """The charters binding the user; POST acknowledges the versions shown on the page."""
    next_url = _safe_next(request)
    current = current_charters_for(request.user)
    pending = pending_charters_for(request.user)
    if request.method == "POST":
        shown = set(request.POST.getlist("charter"))
        to_acknowledge = [v for v in pending if str(v.pk) in shown]
        if to_acknowledge:
            actions.do_acknowledge_charters(request.user, to_acknowledge, request=request)
        pending = [v for v in pending if v not in to_acknowledge]
        if not pending:
            if to_acknowledge:
                messages.success(request, _("Votre prise de connaissance est enregistrée."))
            return HttpResponseRedirect(next_url or reverse("home"))
        messages.warning(
            request, _("La charte a changé entre-temps : lisez la version affichée ci-dessous.")
        )
    return render(
        request,
        "conventions/charter.html",
        {"current": current, "pending": pending, "next_url": next_url},
    )


def _charter_scope_page(
    request: HttpRequest, scope: Any, *, may_publish: bool, applicable: Any
) -> HttpResponse:
    versions = list(access.charter_versions_of(scope).order_by("-version"))
    own_current = versions[0] if versions else None
    form = CharterForm(
        request.POST or None, initial={"text": own_current.text if own_current else ""}
    )
    if request.method == "POST":
        if not may_publish:
            return HttpResponse(status=403)
        if form.is_valid():
            version = actions.do_publish_charter(
                scope, form.cleaned_data["text"], acting_user=request.user, request=request
            )
            messages.success(
                request,
                _("La version %(version)s de la charte est publiée : chacun doit la relire.")
                % {"version": version.version},
            )
            return redirect(request.path)
    bound = list(access.people_bound_by(scope).order_by("last_name", "first_name", "email"))
    acknowledged: dict[int, Any] = {}
    if applicable is not None:
        acknowledged = dict(
            CharterAcknowledgement.objects.filter(
                charter=applicable, user__in=[u.pk for u in bound]
            ).values_list("user_id", "acknowledged_at")
        )
    people = [{"user": user, "acknowledged_at": acknowledged.get(user.pk)} for user in bound]
    shown_versions = [v.pk for v in versions] + ([applicable.pk] if applicable else [])
    history = list(
        CharterAcknowledgement.objects.filter(
            charter__in=shown_versions, user__in=[u.pk for u in bound]
        )
        .select_related("user", "charter__commune", "charter__department")
        .order_by("-acknowledged_at")[:200]
    )
    record_access(request, versions[0] if versions else scope, what="charter_acknowledgements")
    return render(
        request,
        "conventions/charter_scope.html",
        {
            "scope": scope,
            "versions": versions,
            "applicable": applicable,
            "form": form,
            "may_publish": may_publish,
            "people": people,
            "history": history,
        },
        status=400 if form.is_bound else 200,
    )


@require_http_methods(["GET", "POST"])
def charter_commune(request: HttpRequest, commune_id: int) -> HttpResponse:
    commune = access.get_commune_for_charter(request, commune_id)
    return _charter_scope_page(
        request,
        commune,
        may_publish=access.may_publish_commune_charter(request.user, commune),
        applicable=access.applicable_charter(commune),
    )


@require_http_methods(["GET", "POST"])
def charter_department(request: HttpRequest, department_id: int) -> HttpResponse:
    department = access.get_department_for_charter(request, department_id)
    applicable = access.charter_versions_of(department).order_by("-version").first()
    return _charter_scope_page(request, department, may_publish=True, applicable=applicable)
