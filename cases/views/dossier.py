"""A referral's dossier as a PDF: an export of personal data (issue 15).

What the reader's detail page shows them, no more (``access.shared_items_for``: the liaison reads
what was shared with the prefecture); the reader and the date at the foot of every page; behind
a fresh second factor (``cmer.accounts.stepup``); recorded as an export under the referral's
reference, so that the DPO's "who saw this referral" and the referent's access log show it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from cmer.accounts import stepup
from cmer.accounts.requests import AuthenticatedRequest
from cmer.audit.core import record_event
from cmer.audit.models import Event
from cmer.pdf import render_pdf
from conventions.gates import charter_required

from .. import access
from ..models import Referral, Transmission


@require_GET
@charter_required
def referral_dossier(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    # An archive reads only once opened with a reason (``views.archive``): before that, the
    # same 404 as the detail page.
    referral, caps = access.get_referral_for_user(request, pk)
    access.require(access.may_export_dossier(request.user, referral, caps), request, referral)
    if referral.anonymised_at is not None:
        messages.info(
            request, _("Ce signalement est anonymisé : il n'y a plus de données à exporter.")
        )
        return redirect("cases:detail", pk=referral.pk)
    # After the access check: someone who may not export gets the 404, not a code prompt.
    stepup.require(request)
    now = timezone.now()
    shared = access.shared_items_for(request.user, referral, caps)
    pdf = render_pdf("cases/dossier_pdf.html", _context(request, referral, caps, shared, now))
    record_event(
        Event.EXPORT,
        request=request,
        target=referral,
        data={"what": "dossier_pdf", "items": sorted(shared)},
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    stamp = timezone.localdate(now).isoformat()
    response["Content-Disposition"] = (
        f'attachment; filename="dossier-{referral.reference}-{stamp}.pdf"'
    )
    return response


def _context(
    request: AuthenticatedRequest,
    referral: Referral,
    caps: access.Capabilities,
    shared: frozenset[str],
    now: Any,
) -> dict[str, Any]:
    """The detail page's reading of the referral (``views.detail``), without its forms, grants
    and access log: those are the cell's management, not the dossier."""
    user: Any = request.user
    transmission = getattr(referral, "transmission", None)
    item_labels = dict(Transmission.Item.choices)
    return {
        "referral": referral,
        "caps": caps,
        "shared": shared,
        "timeline": access.timeline_for(referral, shared),
        "attachments": access.attachments_for(referral, shared).only(
            "pk", "display_name", "size", "referral_id"
        ),
        "categories": referral.categories.all(),
        "transmission": transmission,
        "shared_labels": [
            item_labels.get(item, item)
            for item in (transmission.shared_items if transmission else [])
        ],
        "reader": user.get_full_name() or user.email,
        "generated_at": now,
    }
