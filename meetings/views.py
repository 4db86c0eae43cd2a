"""Meeting pages. Thin: reads through meetings.access, writes through meetings.actions.

Every page behind the charter (like referrals), every read and download recorded in the audit
trail, every refusal a 404 identical to a missing id.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cmer import permissions
from cmer.accounts.models import Role
from cmer.audit.core import record_access, record_event
from cmer.audit.models import Event
from conventions.gates import blocked_scopes, charter_required

from . import access, actions, documents
from .forms import (
    ActionItemForm,
    ActionStatusForm,
    AddendumForm,
    CancelForm,
    CorrectionForm,
    DecisionForm,
    ExternalForm,
    MeetingForm,
    NotesForm,
    ReferralItemForm,
    ReviewForm,
    TopicForm,
)
from .models import (
    CONFIRM_WITHIN_DAYS,
    ActionItem,
    AgendaItem,
    Attendance,
    ExternalParticipant,
    Meeting,
)


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


# ---------------------------------------------------------------- lists


@require_GET
@charter_required
def meeting_list(request: HttpRequest) -> HttpResponse:
    # Meetings of a commune whose charter is still to be read are left out (and said so).
    blocked = blocked_scopes(request.user, request)
    visible = access.meetings_visible_to(request.user).select_related("commune")
    if blocked:
        visible = visible.exclude(blocked.q())
    now = timezone.now()
    upcoming = list(
        visible.filter(starts_at__gte=now, status=Meeting.Status.PLANNED).order_by(
            "starts_at", "pk"
        )[:100]
    )
    past = list(visible.exclude(starts_at__gte=now, status=Meeting.Status.PLANNED)[:100])
    listed = [meeting.pk for meeting in upcoming + past]
    if listed:
        record_event(
            Event.ACCESS,
            request=request,
            target_model=Meeting,
            data={"what": "list", "meetings": listed},
        )
    context = {
        "upcoming": upcoming,
        "past": past,
        "can_plan": request.commune is not None
        and access.planning_communes(request.user).filter(pk=request.commune.pk).exists(),
        "is_liaison": bool(permissions.communes_where(request.user, Role.LIAISON).exists()),
    }
    return render(request, "meetings/meeting_list.html", context)


@require_GET
@charter_required
def calendar(request: HttpRequest) -> HttpResponse:
    """The department's calendar for the liaison: no content, only that cells meet."""
    if not permissions.communes_where(request.user, Role.LIAISON).exists():
        raise Http404
    rows = access.department_calendar(request.user).select_related("commune")[:500]
    record_event(Event.ACCESS, request=request, target_model=Meeting, data={"what": "calendar"})
    context = {"rows": rows, "confirm_days": CONFIRM_WITHIN_DAYS}
    return render(request, "meetings/calendar.html", context)


# ---------------------------------------------------------------- planning


def _meeting_form(request: HttpRequest, commune: Any, **kwargs: Any) -> MeetingForm:
    return MeetingForm(
        request.POST or None,
        chairs=access.chair_choices(commune),
        invitable=access.invitable_users(commune),
        **kwargs,
    )


@require_http_methods(["GET", "POST"])
@charter_required
def meeting_create(request: HttpRequest) -> HttpResponse:
    commune = request.commune
    if commune is None or not access.planning_communes(request.user).filter(pk=commune.pk):
        raise Http404
    form = _meeting_form(request, commune, initial={"chair": request.user.pk})
    if request.method == "POST" and form.is_valid():
        try:
            meeting = actions.do_plan_meeting(
                commune=commune, acting_user=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_error(None, _errors(exc))
        else:
            messages.success(request, _("Réunion planifiée ; les invitations partent par e-mail."))
            return redirect("meetings:detail", pk=meeting.pk)
    return render(request, "meetings/meeting_form.html", {"form": form, "commune": commune})


@require_http_methods(["GET", "POST"])
@charter_required
def meeting_edit(request: HttpRequest, pk: int) -> HttpResponse:
    meeting, caps = access.get_meeting_for_user(request, pk)
    access.require(caps.manage, request, meeting)
    if request.method == "GET":
        record_access(request, meeting, what="edit_form")
    initial = {
        "starts_at": timezone.localtime(meeting.starts_at),
        "duration_minutes": meeting.duration_minutes,
        "place": meeting.place,
        "chair": meeting.chair_id,
        "invitees": list(
            meeting.invitations.filter(withdrawn_at__isnull=True).values_list("user_id", flat=True)
        ),
    }
    form = _meeting_form(request, meeting.commune, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            actions.do_reschedule_meeting(meeting, acting_user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, _errors(exc))
        else:
            messages.success(
                request, _("Réunion modifiée ; les personnes invitées sont prévenues.")
            )
            return redirect("meetings:detail", pk=meeting.pk)
    context = {"form": form, "commune": meeting.commune, "meeting": meeting}
    return render(request, "meetings/meeting_form.html", context)


# ---------------------------------------------------------------- detail


@require_GET
@charter_required
def meeting_detail(request: HttpRequest, pk: int) -> HttpResponse:
    meeting, caps = access.get_meeting_for_user(request, pk)
    record_access(request, meeting, what="minutes" if meeting.is_locked else "detail")
    invitations = list(
        meeting.invitations.filter(withdrawn_at__isnull=True)
        .select_related("user")
        .order_by("user__last_name", "user__first_name", "pk")
    )
    comments = meeting.review_comments.select_related("author")
    # The chair (président de séance) reads the proposed corrections, even when not the referent.
    if not caps.manage and meeting.chair_id != request.user.pk:
        comments = comments.filter(author=request.user)
    editable = caps.manage and not meeting.is_locked and meeting.status != Meeting.Status.CANCELLED
    held = meeting.status == Meeting.Status.HELD
    owners = access.invitable_users(meeting.commune).filter(
        pk__in=[inv.user_id for inv in invitations]
    )
    context: dict[str, Any] = {
        "meeting": meeting,
        "caps": caps,
        "agenda": access.agenda_with_labels(meeting, request.user),
        "invitations": invitations,
        "externals": list(meeting.externals.all()),
        "actions": meeting.action_items.select_related("owner", "agenda_item").order_by(
            "due_on", "pk"
        ),
        "comments": comments,
        "addenda": meeting.addenda.select_related("author"),
        "documents": meeting.documents.order_by("-version"),
        "attendance_choices": Attendance.choices,
        "editable": editable,
        "held": held,
        "can_mark_held": editable
        and meeting.status == Meeting.Status.PLANNED
        and meeting.local_day <= timezone.localdate(),
        "review_open": access.review_open(meeting),
        "action_status_choices": ActionItem.Status.choices,
    }
    if editable:
        context.update(
            topic_form=TopicForm(auto_id="topic_%s"),
            referral_form=ReferralItemForm(auto_id="referral_%s"),
            external_form=ExternalForm(auto_id="external_%s"),
            cancel_form=CancelForm(auto_id="cancel_%s")
            if meeting.status == Meeting.Status.PLANNED
            else None,
        )
        if held:
            context.update(
                decision_form=DecisionForm(auto_id=False),
                action_form=ActionItemForm(owners=owners, auto_id="action_%s"),
                review_form=ReviewForm(auto_id="review_%s")
                if meeting.minutes_state == Meeting.Minutes.DRAFT
                else None,
            )
    if caps.propose_correction:
        context["correction_form"] = CorrectionForm(auto_id="correction_%s")
    if caps.manage and meeting.is_locked:
        context["addendum_form"] = AddendumForm(auto_id="addendum_%s")
    return render(request, "meetings/meeting_detail.html", context)


# ---------------------------------------------------------------- actions


def _managed(request: HttpRequest, pk: int) -> Meeting:
    meeting, caps = access.get_meeting_for_user(request, pk)
    access.require(caps.manage, request, meeting)
    return meeting


def _apply(
    request: HttpRequest,
    meeting: Meeting,
    form: Any,
    action: Callable[[dict[str, Any]], object],
    *,
    success: str,
    failure: str,
    anchor: str = "",
) -> HttpResponse:
    """The shape of every POST on a meeting: valid form → action → message → back to detail.
    A refused action saves nothing (each action is one transaction)."""
    if form.is_valid():
        try:
            action(form.cleaned_data)
            messages.success(request, success)
        except ValidationError as exc:
            messages.error(request, f"{failure} {_errors(exc)}")
    else:
        details = " ".join(str(e) for errors in form.errors.values() for e in errors)
        messages.error(request, f"{failure} {details}")
    response = redirect("meetings:detail", pk=meeting.pk)
    if anchor:
        response["Location"] += f"#{anchor}"
    return response


def _agenda_item(request: HttpRequest, meeting: Meeting, item_pk: int) -> AgendaItem:
    return permissions.get_or_404(AgendaItem.objects.filter(meeting=meeting), request, pk=item_pk)


@require_POST
@charter_required
def meeting_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = _managed(request, pk)
    return _apply(
        request,
        meeting,
        CancelForm(request.POST),
        lambda data: actions.do_cancel_meeting(meeting, acting_user=request.user, **data),
        success=_("Réunion annulée ; les personnes invitées sont prévenues."),
        failure=_("Réunion non annulée :"),
    )


@require_POST
@charter_required
def mark_held(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = _managed(request, pk)
    try:
        actions.do_mark_held(meeting, acting_user=request.user)
        messages.success(request, _("Réunion indiquée comme tenue : rédigez le compte rendu."))
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    return redirect("meetings:detail", pk=meeting.pk)


@require_POST
@charter_required
def add_external(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = _managed(request, pk)
    return _apply(
        request,
        meeting,
        ExternalForm(request.POST),
        lambda data: actions.do_add_external(meeting, acting_user=request.user, **data),
        success=_("Participant extérieur ajouté."),
        failure=_("Participant non ajouté :"),
        anchor="attendance",
    )


@require_POST
@charter_required
def remove_external(request: HttpRequest, pk: int, external_pk: int) -> HttpResponse:
    meeting = _managed(request, pk)
    external = permissions.get_or_404(
        ExternalParticipant.objects.filter(meeting=meeting), request, pk=external_pk
    )
    try:
        actions.do_remove_external(external, acting_user=request.user)
        messages.success(request, _("Participant extérieur retiré."))
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    return redirect("meetings:detail", pk=meeting.pk)


@require_POST
@charter_required
def add_topic(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = _managed(request, pk)
    return _apply(
        request,
        meeting,
        TopicForm(request.POST),
        lambda data: actions.do_add_topic(meeting, acting_user=request.user, **data),
        success=_("Sujet ajouté à l'ordre du jour."),
        failure=_("Sujet non ajouté :"),
        anchor="agenda",
    )


@require_POST
@charter_required
def add_referral(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = _managed(request, pk)
    return _apply(
        request,
        meeting,
        ReferralItemForm(request.POST),
        lambda data: actions.do_add_referral_item(meeting, acting_user=request.user, **data),
        success=_("Signalement ajouté à l'ordre du jour (sous pseudonyme)."),
        failure=_("Signalement non ajouté :"),
        anchor="agenda",
    )


@require_POST
@charter_required
def save_notes(request: HttpRequest, pk: int, item_pk: int) -> HttpResponse:
    meeting = _managed(request, pk)
    item = _agenda_item(request, meeting, item_pk)
    return _apply(
        request,
        meeting,
        NotesForm(request.POST),
        lambda data: actions.do_save_notes(item, acting_user=request.user, **data),
        success=_("Notes enregistrées."),
        failure=_("Notes non enregistrées :"),
        anchor=f"item-{item.pk}",
    )


@require_POST
@charter_required
def add_decision(request: HttpRequest, pk: int, item_pk: int) -> HttpResponse:
    meeting = _managed(request, pk)
    item = _agenda_item(request, meeting, item_pk)
    return _apply(
        request,
        meeting,
        DecisionForm(request.POST),
        lambda data: actions.do_add_decision(item, acting_user=request.user, **data),
        success=_("Décision enregistrée."),
        failure=_("Décision non enregistrée :"),
        anchor=f"item-{item.pk}",
    )


def _attendance_values(request: HttpRequest, prefix: str) -> dict[int, str]:
    values = {}
    for key, value in request.POST.items():
        if key.startswith(prefix):
            try:
                values[int(key.removeprefix(prefix))] = value
            except ValueError as exc:
                raise ValidationError(_("Valeur de présence inconnue.")) from exc
    return values


@require_POST
@charter_required
def record_attendance(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = _managed(request, pk)
    try:
        actions.do_record_attendance(
            meeting,
            invitations=_attendance_values(request, "invitation-"),
            externals=_attendance_values(request, "external-"),
            acting_user=request.user,
        )
        messages.success(request, _("Présences enregistrées."))
    except ValidationError as exc:
        messages.error(request, _("Présences non enregistrées :") + " " + _errors(exc))
    response = redirect("meetings:detail", pk=meeting.pk)
    response["Location"] += "#attendance"
    return response


@require_POST
@charter_required
def add_action(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = _managed(request, pk)
    owners = access.invitable_users(meeting.commune).filter(
        meeting_invitations__meeting=meeting, meeting_invitations__withdrawn_at__isnull=True
    )
    item = None
    if request.POST.get("agenda_item"):
        item = _agenda_item(request, meeting, request.POST["agenda_item"])
    return _apply(
        request,
        meeting,
        ActionItemForm(request.POST, owners=owners),
        lambda data: actions.do_add_action_item(
            meeting, acting_user=request.user, agenda_item=item, **data
        ),
        success=_("Action ajoutée."),
        failure=_("Action non ajoutée :"),
        anchor="actions",
    )


@require_POST
@charter_required
def action_status(request: HttpRequest, pk: int, action_pk: int) -> HttpResponse:
    meeting, caps = access.get_meeting_for_user(request, pk)
    action = permissions.get_or_404(
        ActionItem.objects.filter(meeting=meeting), request, pk=action_pk
    )
    access.require(caps.manage or action.owner_id == request.user.pk, request, meeting)
    return _apply(
        request,
        meeting,
        ActionStatusForm(request.POST),
        lambda data: actions.do_set_action_status(action, acting_user=request.user, **data),
        success=_("État de l'action mis à jour."),
        failure=_("État non modifié :"),
        anchor="actions",
    )


@require_POST
@charter_required
def send_for_review(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = _managed(request, pk)
    return _apply(
        request,
        meeting,
        ReviewForm(request.POST),
        lambda data: actions.do_send_for_review(meeting, acting_user=request.user, **data),
        success=_("Compte rendu envoyé en relecture aux personnes invitées."),
        failure=_("Relecture non lancée :"),
        anchor="minutes",
    )


@require_POST
@charter_required
def propose_correction(request: HttpRequest, pk: int) -> HttpResponse:
    meeting, caps = access.get_meeting_for_user(request, pk)
    access.require(caps.invited, request, meeting)
    return _apply(
        request,
        meeting,
        CorrectionForm(request.POST),
        lambda data: actions.do_propose_correction(meeting, acting_user=request.user, **data),
        success=_("Correction proposée au président de séance."),
        failure=_("Correction non enregistrée :"),
        anchor="minutes",
    )


@require_POST
@charter_required
def approve(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = _managed(request, pk)
    try:
        actions.do_approve_minutes(meeting, acting_user=request.user)
        messages.success(
            request, _("Compte rendu approuvé et verrouillé ; le PDF est en préparation.")
        )
    except ValidationError as exc:
        messages.error(request, _("Compte rendu non approuvé :") + " " + _errors(exc))
    response = redirect("meetings:detail", pk=meeting.pk)
    response["Location"] += "#minutes"
    return response


@require_POST
@charter_required
def add_addendum(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = _managed(request, pk)
    return _apply(
        request,
        meeting,
        AddendumForm(request.POST),
        lambda data: actions.do_add_addendum(meeting, acting_user=request.user, **data),
        success=_("Additif ajouté ; une nouvelle version du PDF est en préparation."),
        failure=_("Additif non enregistré :"),
        anchor="minutes",
    )


# ---------------------------------------------------------------- documents


@require_GET
@charter_required
def document_download(request: HttpRequest, pk: int, document_pk: int) -> HttpResponse:
    """The stored PDF, checked against its SHA-256 and stamped with the reader's name and the
    date on every page, streamed (meetings/stamp.py). A file changed or lost on disk is an
    integrity alarm: recorded, shown, not served."""
    meeting, _caps = access.get_meeting_for_user(request, pk)
    document = access.get_document_for_user(request, meeting, document_pk)
    if document.state != document.State.READY or not document.file:
        raise Http404
    reader = request.user.get_full_name() or request.user.email
    data = {"meeting": meeting.pk, "version": document.version, "sha256": document.sha256}
    try:
        stamped, size = documents.open_stamped(document, documents.stamp_text(reader))
    except documents.IntegrityError as exc:
        record_event(
            Event.ACCESS,
            request=request,
            target=document,
            data={"what": "minutes_pdf", "integrity": str(exc), **data},
        )
        context = {"meeting": meeting, "document": document}
        return render(request, "meetings/integrity_alarm.html", context, status=409)
    record_access(request, document, what="minutes_pdf", data=data)
    response = FileResponse(
        stamped,
        as_attachment=True,
        filename=f"compte-rendu-reunion-{meeting.pk}-v{document.version}.pdf",
        content_type="application/pdf",
    )
    response["Content-Length"] = str(size)
    return response


@require_POST
@charter_required
def document_retry(request: HttpRequest, pk: int, document_pk: int) -> HttpResponse:
    meeting = _managed(request, pk)
    document = access.get_document_for_user(request, meeting, document_pk)
    try:
        actions.do_retry_document(document, acting_user=request.user)
        messages.success(request, _("Nouvelle tentative de préparation du PDF lancée."))
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    return redirect("meetings:detail", pk=meeting.pk)


@require_GET
@charter_required
def attendance_sheet(request: HttpRequest, pk: int) -> FileResponse:
    """The printable attendance sheet: names and a signature column, no agenda."""
    meeting = _managed(request, pk)
    data = documents.render_attendance_sheet(meeting)
    record_access(request, meeting, what="attendance_sheet")
    response = FileResponse(
        io.BytesIO(data),
        as_attachment=True,
        filename=f"emargement-reunion-{meeting.pk}.pdf",
        content_type="application/pdf",
    )
    response["Content-Length"] = str(len(data))
    return response
