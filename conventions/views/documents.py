"""Signed PDF versions: upload, download (re-verified each time) and the verify page."""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cmer.audit.core import record_access, record_event
from cmer.audit.models import Event

from .. import access, actions, rules
from ..forms import (
    DocumentForm,
    VerifyForm,
)
from ..sides import SideRefused
from .pages import _refused, _render_detail


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
