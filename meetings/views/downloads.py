"""PDFs: the approved minutes (stamped for their reader), a failed build retried, and the
attendance sheet printed before the meeting.

Both downloads are exports of personal data (the minutes: what the cell said about referrals;
the sheet: the names of the staff and external participants), treated like the referral's
dossier: the access check first (whoever may not take the file gets the same 404 as before and
learns nothing from a code prompt), then a fresh second factor (``cmer.accounts.stepup``), then
an ``export`` audit entry; every page names the reader and the date.
"""

from __future__ import annotations

import io

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from cmer.accounts import stepup
from cmer.accounts.requests import AuthenticatedRequest
from cmer.audit.core import record_event
from cmer.audit.models import Event
from conventions.gates import charter_required

from .. import access, actions, documents
from .common import errors, managed


@require_GET
@charter_required
def document_download(
    request: AuthenticatedRequest, pk: int, document_pk: int
) -> HttpResponse | FileResponse:
    """The stored PDF, checked against its SHA-256 and stamped with the reader's name and the
    date on every page, streamed (meetings/stamp.py). A file changed or lost on disk is an
    integrity alarm: recorded, shown, not served."""
    meeting, _caps = access.get_meeting_for_user(request, pk)
    document = access.get_document_for_user(request, meeting, document_pk)
    if document.state != document.State.READY or not document.file:
        raise Http404
    # After the access check: someone who may not read the minutes gets the 404, not a prompt.
    stepup.require(request)
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
    record_event(
        Event.EXPORT, request=request, target=document, data={"what": "minutes_pdf", **data}
    )
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
def document_retry(request: AuthenticatedRequest, pk: int, document_pk: int) -> HttpResponse:
    meeting = managed(request, pk)
    document = access.get_document_for_user(request, meeting, document_pk)
    try:
        actions.do_retry_document(document, acting_user=request.user)
        messages.success(request, _("Nouvelle tentative de préparation du PDF lancée."))
    except ValidationError as exc:
        messages.error(request, errors(exc))
    return redirect("meetings:detail", pk=meeting.pk)


@require_GET
@charter_required
def attendance_sheet(request: AuthenticatedRequest, pk: int) -> FileResponse:
    """The printable attendance sheet: names and a signature column, no agenda; the reader
    and the date at the foot of every page."""
    meeting = managed(request, pk)
    # After the access check: only the referent running the meeting is asked for a code.
    stepup.require(request)
    sheet = documents.render_attendance_sheet(meeting, reader=request.user, when=timezone.now())
    data = sheet.data
    record_event(
        Event.EXPORT,
        request=request,
        target=meeting,
        data={"what": "attendance_sheet", "rows": sheet.rows},
    )
    response = FileResponse(
        io.BytesIO(data),
        as_attachment=True,
        filename=f"emargement-reunion-{meeting.pk}.pdf",
        content_type="application/pdf",
    )
    response["Content-Length"] = str(len(data))
    return response
