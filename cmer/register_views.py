"""The DPO's register of processing (art. 30): page and PDF. Everyone else: 404."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from cmer import register
from cmer.audit import access
from cmer.audit.core import record_event
from cmer.audit.models import AuditEntry, Event
from cmer.pdf import render_pdf


@require_GET
def page(request: HttpRequest) -> HttpResponse:
    access.require_dpo(request)
    return render(request, "register/page.html", {"register": register.build()})


@require_GET
def pdf(request: HttpRequest) -> HttpResponse:
    # A few pages (about 0.5 s): rendered in the request, unlike 2,000-row audit exports.
    access.require_dpo(request)
    content = render_pdf("register/pdf.html", {"register": register.build(), "user": request.user})
    record_event(
        Event.EXPORT, request=request, target_model=AuditEntry, data={"what": "register_pdf"}
    )
    response = HttpResponse(content, content_type="application/pdf")
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="registre-traitement-{stamp}.pdf"'
    return response
