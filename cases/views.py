"""Referral pages. Thin: reads through cases.access, writes through cases.actions.

Every page that shows content records the read through the audit core; every refusal is a 404.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Sequence
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db import connections
from django.db.models import Count, QuerySet, Window
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format, get_format
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import match_token

from cmer import permissions
from cmer.accounts.models import Role
from cmer.audit.core import record_access, record_event
from cmer.audit.models import Event
from conventions.gates import blocked_scopes, charter_required

from . import access, actions, files
from .forms import (
    AddendumForm,
    ArchiveOpenForm,
    FeedbackForm,
    GrantForm,
    ListFilterForm,
    PersonSearchForm,
    ReferralForm,
    RevokeForm,
    StateInformationForm,
    StatusForm,
    TimelineEntryForm,
    TransmitForm,
)
from .models import Referral, Transmission, WeakSignalCategory

PAGE_SIZE = 50


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


# ---------------------------------------------------------------- lists


Parts = QuerySet[Referral] | Sequence[QuerySet[Referral]]


def _filtered(request: HttpRequest, parts: Sequence[QuerySet[Referral]]) -> list[QuerySet]:
    """The list's filters, applied to each part of the list (see ``list_page``)."""
    if not request.GET:
        return list(parts)  # no filter asked: no form to build
    form = ListFilterForm(request.GET)
    if not form.is_valid():
        return list(parts)
    data = form.cleaned_data
    lookups: dict[str, Any] = {}
    if data["reference"]:
        lookups["reference__icontains"] = data["reference"].strip()
    if data["status"]:
        lookups["status"] = data["status"]
    if data["urgency"]:
        lookups["urgency"] = data["urgency"]
    if data["category"]:
        lookups["categories"] = data["category"]
    if data["since"]:
        lookups["submitted_at__date__gte"] = data["since"]
    if data["until"]:
        lookups["submitted_at__date__lte"] = data["until"]
    return [part.filter(**lookups) for part in parts]


def list_page(parts: Parts, number: Any, per_page: int | None = None) -> Page:
    """One page of a referral list and the total number of rows, in one SQL statement.

    ``parts`` is a queryset or disjoint querysets (``access.listed_parts``) read as one
    ``UNION ALL``. The total comes with the rows (``COUNT(*) OVER ()``): the database sorts
    every visible row for the page anyway, so counting them in the same pass saves a second
    scan. A page past the end gives the last page (as ``Paginator.get_page``) for one more
    statement: the last rows in reverse order, with the total. Rows are dicts of non-encrypted
    columns: no decryption, no personal data, no model instances.
    """
    if isinstance(parts, QuerySet):
        parts = [parts]
    per_page = per_page or PAGE_SIZE
    try:
        number = max(int(number), 1)
    except (TypeError, ValueError):
        number = 1
    rows = _list_rows(parts, (number - 1) * per_page, per_page)
    total = rows[0]["total"] if rows else 0
    if not rows and number > 1:
        tail = _list_rows(parts, 0, per_page, reverse=True)
        total = tail[0]["total"] if tail else 0
        number = max(1, -(-total // per_page))
        rows = tail[: total - (number - 1) * per_page][::-1]
    paginator = Paginator(rows, per_page)
    paginator.count = total  # known: no COUNT query (cached_property)
    return Page(rows, number, paginator)


# Only non-encrypted columns on list pages: no decryption, no personal data. The sort columns
# follow, and the primary key last: a total order, so that pages never overlap and the reverse
# order is exact.
LIST_COLUMNS = ("pk", "reference", "status", "urgency", "submitted_at", "commune__name")
LIST_ORDER = ("submitted_at", "created_at", "pk")


def _list_rows(
    parts: Sequence[QuerySet[Referral]], start: int, size: int, reverse: bool = False
) -> list[dict[str, Any]]:
    sign = "" if reverse else "-"
    if len(parts) == 1:
        ordered = parts[0].order_by(*(sign + name for name in LIST_ORDER))
        rows = ordered.values(*LIST_COLUMNS).annotate(total=Window(Count("pk")))
        return list(rows[start : start + size])
    # Several parts: the ORM cannot put a window over a UNION, so the union the ORM compiled
    # is wrapped in one outer SELECT that sorts, counts and slices it (columns by position).
    columns = (*LIST_COLUMNS, "created_at")
    first, *others = (part.order_by().values(*columns) for part in parts)
    union = first.union(*others, all=True)
    compiler = union.query.get_compiler(using=union.db)
    sql, params = compiler.as_sql()
    direction = "ASC" if reverse else "DESC"
    positions = [columns.index(name) + 1 for name in LIST_ORDER]
    order = ", ".join(f"{position} {direction}" for position in positions)
    with connections[union.db].cursor() as cursor:
        cursor.execute(
            f"SELECT listed.*, COUNT(*) OVER () FROM ({sql}) listed "  # noqa: S608 (compiled SQL)
            f"ORDER BY {order} LIMIT %s OFFSET %s",
            (*params, size, start),
        )
        fetched = cursor.fetchall()
    # As the ORM would: the database's values through the fields' converters (SQLite's dates).
    # Compiler internals, pinned by tests/core/test_django_internals.py.
    converters = compiler.get_converters([expression for expression, _, _ in compiler.select])
    if converters:
        fetched = list(compiler.apply_converters(fetched, converters))
    keys = (*LIST_COLUMNS, "sort_created_at", "total")
    return [dict(zip(keys, row, strict=True)) for row in fetched]


def _render_list(
    request: HttpRequest, parts: Parts, template: str, *, row_suffix: str = "", **extra: Any
) -> HttpResponse:
    """``row_suffix``: where a row leads below ``/signalements/<id>/`` (the archives' rows open
    the archive page: reason and a fresh code)."""
    if isinstance(parts, QuerySet):
        parts = [parts]
    blocked = blocked_scopes(request.user, request)
    if blocked:
        # A commune whose charter is still to be read: its referrals wait (base.html says so).
        parts = [part.exclude(blocked.q()) for part in parts]
    page = list_page(_filtered(request, parts), request.GET.get("page"))
    references = [row["reference"] for row in page.object_list if row["reference"]]
    if references:
        record_event(
            Event.ACCESS,
            request=request,
            target_model=Referral,
            data={"what": "list", "references": references},
        )
    context = {
        "page": page,
        "rows": _rows_html(page.object_list, suffix=row_suffix),
        # The values the filters show again (as typed); category ids as text to compare.
        "chosen": {name: request.GET.get(name, "") for name in ListFilterForm.base_fields},
        "status_choices": Referral.Status.choices,
        "urgency_choices": Referral.Urgency.choices,
        "category_choices": [
            (str(pk), _(label))
            for pk, label in WeakSignalCategory.objects.values_list("pk", "label")
        ],
        **extra,
    }
    return render(request, template, context)


# The table rows of cases/_table.html, written here once rather than with template tags per
# cell: with 50 rows, the template engine's cost per variable was most of the page's render
# (bench/RESULTS.md, "Referrals list"). Every value is escaped below.
_ROW = (
    '<tr><td><a href="{prefix}{pk}/{suffix}">{label}</a></td><td>{commune}</td>'
    '<td><span class="fr-badge fr-badge--sm">{status}</span></td><td>{urgency}</td>'
    "<td>{submitted}</td></tr>\n"
)
_URGENT = '<span class="fr-badge fr-badge--error fr-badge--sm">{}</span>'
# Django date format letters that strftime writes the same way (zero-padded numbers).
_STRFTIME = {"d": "%d", "m": "%m", "Y": "%Y", "y": "%y", "/": "/", ".": ".", "-": "-", " ": " "}


def _short_date() -> Callable[[Any], str]:
    """SHORT_DATE_FORMAT of the active language, in local time: strftime when it can say it."""
    pattern = get_format("SHORT_DATE_FORMAT")
    tz = timezone.get_current_timezone()
    if all(char in _STRFTIME for char in pattern):
        strftime = "".join(_STRFTIME[char] for char in pattern)
        return lambda value: value.astimezone(tz).strftime(strftime)
    return lambda value: date_format(value.astimezone(tz), "SHORT_DATE_FORMAT")


def _rows_html(rows: list[dict[str, Any]], suffix: str = "") -> str:
    """The ``<tr>`` of a list page: no query, labels translated once per page."""
    prefix = reverse("cases:list")  # row links: one reversed prefix, not one reverse() per row
    status_labels = {value: html.escape(str(label)) for value, label in Referral.Status.choices}
    urgency_labels = {value: html.escape(str(label)) for value, label in Referral.Urgency.choices}
    urgency_labels[Referral.Urgency.DANGER] = _URGENT.format(
        urgency_labels[Referral.Urgency.DANGER]
    )
    short_date = _short_date()
    written = []
    for row in rows:
        submitted = row["submitted_at"]
        written.append(
            _ROW.format(
                prefix=prefix,
                pk=int(row["pk"]),
                suffix=suffix,
                # as Referral.__str__: a draft has no reference yet
                label=html.escape(row["reference"] or f"brouillon-{row['pk']}"),
                commune=html.escape(row["commune__name"]),
                status=status_labels[row["status"]],
                urgency=urgency_labels[row["urgency"]],
                submitted=html.escape(short_date(submitted)) if submitted else "—",
            )
        )
    # Every value above is escaped (html.escape, which is what Django's escape() calls).
    return mark_safe("".join(written))  # noqa: S308


@require_GET
@charter_required
def referral_list(request: HttpRequest) -> HttpResponse:
    if Role.LIAISON in request.roles and not (
        {Role.REFERENT, Role.CELL_MEMBER, Role.REPORTING_AGENT} & request.roles
    ):
        return redirect("cases:transmitted")
    parts = access.listed_parts(request.user)
    is_referent = Role.REFERENT in request.roles
    return _render_list(request, parts, "cases/referral_list.html", is_referent=is_referent)


@require_GET
@charter_required
def transmitted_list(request: HttpRequest) -> HttpResponse:
    queryset = access.transmitted_for_liaison(request.user)
    return _render_list(request, queryset, "cases/transmitted_list.html")


@require_GET
@charter_required
def archive_list(request: HttpRequest) -> HttpResponse:
    queryset = access.archived_for_referent(request.user)
    return _render_list(request, queryset, "cases/archive_list.html", row_suffix="archive/")


# ---------------------------------------------------------------- filing


def _filing_commune(request: HttpRequest) -> Any:
    commune = request.commune
    if (
        commune is None
        or not access.referral_commune_choices(request.user).filter(pk=commune.pk).exists()
    ):
        raise Http404
    return commune


def _form_page(
    request: HttpRequest, form: ReferralForm, commune: Any, referral: Referral | None = None
) -> HttpResponse:
    context = {
        "form": form,
        "commune": commune,
        "referral": referral,
        # Submission is confirmed only once the server found nothing missing (see
        # _save_and_maybe_submit): the confirmation box is shown with the saved draft.
        "confirming": referral is not None and request.GET.get("confirmer") == "1",
    }
    return render(request, "cases/referral_form.html", context)


@require_http_methods(["GET", "POST"])
def referral_create(request: HttpRequest) -> HttpResponse:
    commune = _filing_commune(request)
    form = ReferralForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid() and _submittable(request, form):
        return _save_and_maybe_submit(request, form, commune=commune, referral=None)
    return _form_page(request, form, commune)


@require_http_methods(["GET", "POST"])
def referral_edit(request: HttpRequest, pk: int) -> HttpResponse:
    referral, caps = access.get_referral_for_user(request, pk)
    access.require(caps.edit_draft, request, referral)
    if request.method == "POST":
        form = ReferralForm(request.POST, request.FILES)
        if form.is_valid() and _submittable(request, form):
            return _save_and_maybe_submit(
                request, form, commune=referral.commune, referral=referral
            )
    else:
        form = ReferralForm(initial=ReferralForm.initial_from(referral))
        # The author reads the draft's identity and facts (decrypted): a read like any other.
        record_access(request, referral, what="draft")
    return _form_page(request, form, referral.commune, referral)


def _submittable(request: HttpRequest, form: ReferralForm) -> bool:
    if "submit" in request.POST:
        return form.check_submittable()
    # A first save with nothing typed and no file would only leave an empty draft behind.
    if (
        form.is_blank()
        and not form.cleaned_data["attachments"]
        and "pk" not in request.resolver_match.kwargs
    ):
        form.add_error(None, _("Le brouillon est vide : rien n'a été enregistré."))
        return False
    return True


def _save_and_maybe_submit(
    request: HttpRequest, form: ReferralForm, *, commune: Any, referral: Referral | None
) -> HttpResponse:
    try:
        referral = actions.do_save_draft(
            acting_user=request.user,
            commune=commune,
            content=form.content(),
            attachments=form.cleaned_data["attachments"],
            referral=referral,
        )
    except ValidationError as exc:
        form.add_error(None, _errors(exc))
        return _form_page(request, form, commune, referral)
    if "submit" in request.POST and not request.POST.get("confirmed"):
        # Everything required is there: what was typed (files included) is kept as a draft,
        # and the author confirms, knowing the text is frozen once filed.
        return redirect(f"{reverse('cases:edit', args=[referral.pk])}?confirmer=1")
    if "submit" in request.POST:
        try:
            actions.do_submit_referral(referral, acting_user=request.user)
        except ValidationError as exc:
            messages.error(
                request, _("Brouillon enregistré, mais pas encore déposé : ") + _errors(exc)
            )
            return redirect("cases:edit", pk=referral.pk)
        messages.success(request, _("Signalement déposé. Le référent municipal est prévenu."))
        return redirect("cases:filed", pk=referral.pk)
    messages.success(request, _("Brouillon enregistré. Vous pourrez le reprendre plus tard."))
    return redirect("cases:edit", pk=referral.pk)


@require_GET
def referral_filed(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirmation after filing: the reference, and the emergency guidance when urgent."""
    referral, caps = access.get_referral_for_user(request, pk)
    access.require(caps.is_author, request, referral)
    return render(request, "cases/referral_filed.html", {"referral": referral})


@require_POST
def referral_discard(request: HttpRequest, pk: int) -> HttpResponse:
    referral, caps = access.get_referral_for_user(request, pk)
    access.require(caps.edit_draft, request, referral)
    actions.do_discard_draft(referral, acting_user=request.user)
    messages.success(request, _("Brouillon supprimé."))
    return redirect("cases:list")


# ---------------------------------------------------------------- detail


@require_GET
@charter_required
def referral_detail(request: HttpRequest, pk: int) -> HttpResponse:
    referral, caps = access.get_referral_for_user(request, pk)
    if caps.edit_draft:
        return redirect("cases:edit", pk=referral.pk)
    if caps.sees_status_only:
        context: dict[str, Any] = {"referral": referral, "caps": caps}
        context["agent_feedback"] = access.agent_feedback_for(referral)
        context["addendum_form"] = AddendumForm() if caps.add_addendum else None
        record_access(request, referral, what="status")
        return render(request, "cases/referral_status.html", context)
    record_access(request, referral, what="archive" if caps.via_archive else "detail")
    return _render_detail(request, referral, caps)


def _render_detail(
    request: HttpRequest,
    referral: Referral,
    caps: access.Capabilities,
    *,
    bound: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    """The detail page; ``bound`` replaces a blank form by the one posted with errors, shown
    in place with DSFR's error markup (the page's other forms stay blank)."""
    bound = bound or {}
    context: dict[str, Any] = {"referral": referral, "caps": caps}
    shared = access.shared_items_for(request.user, referral, caps)
    transmission = getattr(referral, "transmission", None)
    item_labels = dict(Transmission.Item.choices)
    context.update(
        shared=shared,
        timeline=access.timeline_for(referral, shared),
        transmission=transmission,
        shared_labels=[
            item_labels.get(item, item)
            for item in (transmission.shared_items if transmission else [])
        ],
        attachments=access.attachments_for(referral, shared),
        categories=referral.categories.all(),
        # auto_id: several forms share field names on this page; ids must stay unique.
        note_form=bound.get("note_form")
        or (TimelineEntryForm(auto_id="note_%s") if caps.add_note else None),
        addendum_form=bound.get("addendum_form")
        or (AddendumForm(auto_id="addendum_%s") if caps.add_addendum else None),
        feedback_form=bound.get("feedback_form")
        or (FeedbackForm(auto_id="prefecture_%s") if caps.write_feedback else None),
    )
    if caps.manage and not caps.via_archive:
        allowed = actions.MANUAL_TRANSITIONS.get(referral.status, set())
        grants = list(access.grants_of(referral))
        revoke_form = bound.get("revoke_form")
        for grant in grants:
            grant.revoke_form = (
                revoke_form
                if revoke_form is not None and revoke_form.grant_pk == grant.pk
                else RevokeForm(auto_id=f"revoke{grant.pk}_%s")
            )
        context.update(
            status_form=bound.get("status_form")
            or (StatusForm(allowed=allowed, auto_id="status_%s") if allowed else None),
            grant_form=bound.get("grant_form")
            or GrantForm(members=actions.grantable_members(referral), auto_id="grant_%s"),
            grants=grants,
            agent_feedback_form=bound.get("agent_feedback_form")
            or FeedbackForm(auto_id="agent_%s"),
            duplicates=actions.duplicates_of(referral).only("id", "reference", "status"),
            state_info=access.sent_state_information_of(referral),
            # Offered only where it can happen: a closed or already transmitted referral does
            # not show it; a newly submitted one says it comes after the assessment.
            offer_transmission=referral.status in access.TRANSMITTABLE,
        )
    if caps.see_access_log:
        context["access_log"] = _access_log(referral, request.GET.get("consultations"))
    return render(request, "cases/referral_detail.html", context, status=status)


ACCESS_LOG_PAGE_SIZE = 20


def _access_log(referral: Referral, number: Any) -> Page:
    """One page of ``access.access_log_of`` (grouped per person and kind of access), each
    line named in words."""
    from cmer.audit.labels import READS

    page = Paginator(access.access_log_of(referral), ACCESS_LOG_PAGE_SIZE).get_page(number)
    events = dict(Event.choices)
    for row in page.object_list:
        data = row["additional_data"] if isinstance(row["additional_data"], dict) else {}
        row["label"] = READS.get(data.get("what")) or events.get(row["event"], row["event"])
    return page


@require_GET
@charter_required
def attachment_download(request: HttpRequest, pk: int, attachment_pk: int) -> FileResponse:
    referral, caps = access.get_referral_for_user(request, pk)
    attachment = access.get_attachment_for_user(request, referral, caps, attachment_pk)
    content = files.read_decrypted(attachment.stored_name)
    record_access(request, attachment, what="download", data={"referral": referral.reference})
    response = FileResponse(
        io.BytesIO(content),
        as_attachment=True,
        filename=attachment.display_name,
        content_type=attachment.content_type,
    )
    response["Content-Length"] = str(len(content))
    return response


# ---------------------------------------------------------------- actions on a referral


def _post_action(request: HttpRequest, pk: int, condition: str) -> tuple[Referral, Any]:
    referral, caps = access.get_referral_for_user(request, pk)
    access.require(bool(getattr(caps, condition)) and not caps.via_archive, request, referral)
    return referral, caps


def _apply_form(
    request: HttpRequest,
    referral: Referral,
    form: Any,
    action: Callable[[dict[str, Any]], object],
    *,
    success: str,
    failure: str,
    slot: str | None = None,
    caps: access.Capabilities | None = None,
) -> HttpResponse:
    """The shape of every POST on a referral: valid form → action → message → back to detail.

    A form with errors is shown again in its place on the detail page (``slot``: its name in
    the page's context), with DSFR's error markup and the focus on it, rather than as a
    message far from the field; nothing is written.
    """
    if form.is_valid():
        try:
            action(form.cleaned_data)
            messages.success(request, success)
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        return redirect("cases:detail", pk=referral.pk)
    if slot is not None and caps is not None and not caps.sees_status_only:
        form.cmer_focus = True
        record_access(request, referral, what="detail")
        return _render_detail(request, referral, caps, bound={slot: form}, status=400)
    details = " ".join(str(e) for errors in form.errors.values() for e in errors)
    messages.error(request, f"{failure} {details}")
    return redirect("cases:detail", pk=referral.pk)


@require_POST
@charter_required
def add_note(request: HttpRequest, pk: int) -> HttpResponse:
    referral, caps = _post_action(request, pk, "add_note")
    return _apply_form(
        request,
        referral,
        TimelineEntryForm(request.POST, auto_id="note_%s"),
        lambda data: actions.do_add_timeline_entry(
            referral, kind=data["kind"], text=data["text"], acting_user=request.user
        ),
        success=_("Entrée ajoutée au suivi."),
        failure=_("Entrée non enregistrée :"),
        slot="note_form",
        caps=caps,
    )


@require_POST
def add_addendum(request: HttpRequest, pk: int) -> HttpResponse:
    referral, caps = _post_action(request, pk, "add_addendum")
    return _apply_form(
        request,
        referral,
        AddendumForm(request.POST, auto_id="addendum_%s"),
        lambda data: actions.do_add_addendum(referral, acting_user=request.user, **data),
        success=_("Complément ajouté après le texte d'origine."),
        failure=_("Complément non enregistré :"),
        slot="addendum_form",
        caps=caps,
    )


@require_POST
@charter_required
def change_status(request: HttpRequest, pk: int) -> HttpResponse:
    referral, caps = _post_action(request, pk, "manage")
    allowed = actions.MANUAL_TRANSITIONS.get(referral.status, set())
    return _apply_form(
        request,
        referral,
        StatusForm(request.POST, allowed=allowed, auto_id="status_%s"),
        lambda data: actions.do_change_status(referral, acting_user=request.user, **data),
        success=_("Statut mis à jour."),
        failure=_("Statut non modifié :"),
        slot="status_form",
        caps=caps,
    )


@require_POST
@charter_required
def archive_referral(request: HttpRequest, pk: int) -> HttpResponse:
    referral, _caps = _post_action(request, pk, "manage")
    try:
        actions.do_archive_referral(referral, acting_user=request.user)
        messages.success(request, _("Signalement archivé."))
        return redirect("cases:list")
    except ValidationError as exc:
        messages.error(request, _errors(exc))
        return redirect("cases:detail", pk=referral.pk)


@require_POST
@charter_required
def grant_access(request: HttpRequest, pk: int) -> HttpResponse:
    referral, caps = _post_action(request, pk, "manage")
    return _apply_form(
        request,
        referral,
        GrantForm(request.POST, members=actions.grantable_members(referral), auto_id="grant_%s"),
        lambda data: actions.do_grant_access(referral, acting_user=request.user, **data),
        success=_("Accès accordé."),
        failure=_("Accès non accordé :"),
        slot="grant_form",
        caps=caps,
    )


@require_POST
@charter_required
def revoke_access(request: HttpRequest, pk: int, grant_pk: int) -> HttpResponse:
    referral, caps = _post_action(request, pk, "manage")
    grant = access.get_grant(request, referral, grant_pk)
    form = RevokeForm(request.POST, auto_id=f"revoke{grant.pk}_%s")
    form.grant_pk = grant.pk
    return _apply_form(
        request,
        referral,
        form,
        lambda data: actions.do_revoke_access(grant, acting_user=request.user, **data),
        success=_("Accès retiré."),
        failure=_("Accès non retiré :"),
        slot="revoke_form",
        caps=caps,
    )


@require_http_methods(["GET", "POST"])
@charter_required
def transmit(request: HttpRequest, pk: int) -> HttpResponse:
    referral, _caps = _post_action(request, pk, "manage")
    decision = access.can_transmit(referral)
    form = TransmitForm(request.POST or None)
    if request.method == "POST" and decision and form.is_valid():
        try:
            actions.do_transmit(
                referral,
                items=form.cleaned_data["items"],
                reason=form.cleaned_data["reason"],
                acting_user=request.user,
            )
            messages.success(request, _("Signalement transmis à la préfecture."))
            return redirect("cases:detail", pk=referral.pk)
        except ValidationError as exc:
            form.add_error(None, _errors(exc))
    context = {"referral": referral, "form": form, "decision": decision}
    return render(request, "cases/transmit.html", context)


@require_POST
@charter_required
def prefecture_feedback(request: HttpRequest, pk: int) -> HttpResponse:
    referral, caps = _post_action(request, pk, "write_feedback")
    return _apply_form(
        request,
        referral,
        FeedbackForm(request.POST, auto_id="prefecture_%s"),
        lambda data: actions.do_prefecture_feedback(referral, acting_user=request.user, **data),
        success=_("Retour enregistré ; le référent est prévenu."),
        failure=_("Retour non enregistré :"),
        slot="feedback_form",
        caps=caps,
    )


@require_POST
@charter_required
def agent_feedback(request: HttpRequest, pk: int) -> HttpResponse:
    referral, caps = _post_action(request, pk, "manage")
    return _apply_form(
        request,
        referral,
        FeedbackForm(request.POST, auto_id="agent_%s"),
        lambda data: actions.do_agent_feedback(referral, acting_user=request.user, **data),
        success=_("Retour transmis à l'agent."),
        failure=_("Retour non enregistré :"),
        slot="agent_feedback_form",
        caps=caps,
    )


# ---------------------------------------------------------------- archive and search


@require_http_methods(["GET", "POST"])
@charter_required
def archive_open(request: HttpRequest, pk: int) -> HttpResponse:
    referral = permissions.get_or_404(access.archived_for_referent(request.user), request, pk=pk)
    form = ArchiveOpenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # Re-authentication with the second factor before an archive opens.
        if match_token(request.user, form.cleaned_data["token"].replace(" ", "")) is None:
            record_event(Event.OTP_FAILED, request=request, target=request.user)
            form.add_error("token", _("Code incorrect ou déjà utilisé."))
        else:
            actions.do_open_archive(request, referral, reason=form.cleaned_data["reason"])
            return redirect("cases:detail", pk=referral.pk)
    return render(request, "cases/archive_open.html", {"referral": referral, "form": form})


@require_http_methods(["GET", "POST"])
@charter_required
def search_person(request: HttpRequest) -> HttpResponse:
    """Search by person: POST only, through the blind index. No name in a URL or a log line."""
    communes = permissions.communes_where(request.user, Role.REFERENT)
    if not communes.exists():
        raise Http404
    form = PersonSearchForm(request.POST or None)
    results = None
    if request.method == "POST" and form.is_valid():
        results = list(
            actions.search_person(
                communes.values_list("pk", flat=True),
                surname=form.cleaned_data["surname"],
                first_names=form.cleaned_data["first_names"],
                birth_year=form.cleaned_data["birth_year"],
            ).only("id", "reference", "status", "submitted_at")
        )
        record_event(
            Event.ACCESS,
            request=request,
            target_model=Referral,
            data={"what": "person_search", "references": [r.reference for r in results]},
        )
    return render(request, "cases/search_person.html", {"form": form, "results": results})


# ---------------------------------------------------------------- information from the State


@require_GET
@charter_required
def state_info_list(request: HttpRequest) -> HttpResponse:
    items = access.state_information_visible_to(request.user).select_related("commune")
    can_write = bool(permissions.communes_where(request.user, Role.LIAISON).exists())
    return render(
        request, "cases/state_info_list.html", {"items": items[:200], "can_write": can_write}
    )


@require_http_methods(["GET", "POST"])
@charter_required
def state_info_create(request: HttpRequest) -> HttpResponse:
    communes = permissions.communes_where(request.user, Role.LIAISON)
    if not communes.exists():
        raise Http404
    form = StateInformationForm(request.POST or None, communes=communes)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        referral = None
        if data["referral_reference"]:
            referral = access.transmitted_by_reference(
                request.user, data["commune"], data["referral_reference"]
            )
            if referral is None:
                form.add_error(
                    "referral_reference",
                    _("Aucun signalement de cette commune ne porte cette référence."),
                )
        if form.is_valid():
            info = actions.do_create_state_information(
                data, referral=referral, acting_user=request.user
            )
            messages.success(request, _("Information enregistrée (non envoyée)."))
            return redirect("cases:state_info_detail", pk=info.pk)
    return render(request, "cases/state_info_form.html", {"form": form})


@require_http_methods(["GET", "POST"])
@charter_required
def state_info_detail(request: HttpRequest, pk: int) -> HttpResponse:
    info = access.get_state_information(request, pk)
    is_author = info.author_id == request.user.pk
    if request.method == "POST":
        if not is_author:
            raise Http404
        try:
            actions.do_send_state_information(info, acting_user=request.user)
            messages.success(request, _("Information envoyée au référent de la commune."))
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        return redirect("cases:state_info_detail", pk=info.pk)
    record_access(request, info, what="detail")
    return render(request, "cases/state_info_detail.html", {"info": info, "is_author": is_author})
