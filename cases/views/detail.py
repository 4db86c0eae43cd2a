"""A referral's page and its attachments, each read recorded through the audit core."""

from __future__ import annotations

import io
from typing import Any

from django.core.paginator import Page, Paginator
from django.http import FileResponse, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from cmer.accounts import stepup
from cmer.accounts.requests import AuthenticatedRequest
from cmer.audit.core import record_access, record_event
from cmer.audit.models import Event
from conventions.gates import charter_required

from .. import access, actions, files
from ..forms import (
    AddendumForm,
    FeedbackForm,
    GrantForm,
    RevokeForm,
    StatusForm,
    TimelineEntryForm,
)
from ..models import Referral, TimelineEntry, Transmission


@require_GET
@charter_required
def referral_detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
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
    request: AuthenticatedRequest,
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
    # The button follows the rule the export itself applies (one rule, never two).
    context["may_export_dossier"] = not referral.anonymised_at and access.may_export_dossier(
        request.user, referral, caps
    )
    shared = access.shared_items_for(request.user, referral, caps)
    transmission = getattr(referral, "transmission", None)
    item_labels = dict(Transmission.Item.choices)
    context.update(
        shared=shared,
        timeline=_labelled(access.timeline_for(referral, shared)),
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


def _labelled(timeline: Any) -> list[TimelineEntry]:
    """The timeline's entries, each with its kind and statuses in words (``kind_label``,
    ``from_label``, ``to_label``), every label translated once per page: ``get_FOO_display``
    translates each choice of the field again on every call."""
    kinds = {value: str(label) for value, label in TimelineEntry.Kind.choices}
    statuses = {value: str(label) for value, label in Referral.Status.choices}
    entries = list(timeline)
    for entry in entries:
        entry.kind_label = kinds.get(entry.kind, entry.kind)
        entry.from_label = statuses.get(entry.from_status, entry.from_status)
        entry.to_label = statuses.get(entry.to_status, entry.to_status)
    return entries


ACCESS_LOG_PAGE_SIZE = 20


def _access_log(referral: Referral, number: Any) -> Page:
    """One page of ``access.access_log_of`` (grouped per person and kind of access), each
    line named in words."""
    from cmer.audit.labels import READS

    log = access.access_log_of(referral)
    page = None
    if number in (None, "", "1"):
        # The first page, as most readers see it: one more row than a page tells whether
        # there are others; only then is the log counted (Paginator counts it first, always).
        rows = list(log[: ACCESS_LOG_PAGE_SIZE + 1])
        if len(rows) <= ACCESS_LOG_PAGE_SIZE:
            page = Paginator(rows, ACCESS_LOG_PAGE_SIZE).page(1)
        else:
            page = Paginator(log, ACCESS_LOG_PAGE_SIZE).page(1)
            page.object_list = rows[:ACCESS_LOG_PAGE_SIZE]
    if page is None:
        page = Paginator(log, ACCESS_LOG_PAGE_SIZE).get_page(number)
    events = dict(Event.choices)
    for row in page.object_list:
        data = row["additional_data"] if isinstance(row["additional_data"], dict) else {}
        row["label"] = READS.get(data.get("what", "")) or events.get(row["event"], row["event"])
    return page


@require_GET
@charter_required
def attachment_download(request: AuthenticatedRequest, pk: int, attachment_pk: int) -> FileResponse:
    """A copy of the person's data that outlives the reader's access: an export, like the
    dossier PDF (``views.dossier``), behind a fresh second factor."""
    referral, caps = access.get_referral_for_user(request, pk)
    attachment = access.get_attachment_for_user(request, referral, caps, attachment_pk)
    # After the access check: whoever may not see it gets the 404, not a code prompt.
    stepup.require(request)
    content = files.read_decrypted(attachment.stored_name)
    record_access(request, attachment, what="download", data={"referral": referral.reference})
    # Also an export under the referral's reference: the referent's access log and the DPO's
    # search by reference show it, as they show the dossier's.
    record_event(
        Event.EXPORT,
        request=request,
        target=referral,
        data={"what": "attachment_export", "attachment": attachment.pk},
    )
    response = FileResponse(
        io.BytesIO(content),
        as_attachment=True,
        filename=attachment.display_name,
        content_type=attachment.content_type,
    )
    response["Content-Length"] = str(len(content))
    return response
