"""Attestations: one PDF, the zip built by the worker, the public verification."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cmer import ratelimit
from cmer.accounts import stepup
from cmer.accounts.requests import AuthenticatedRequest
from cmer.audit.core import client_address, record_access, record_event
from cmer.audit.models import Event

from .. import access, actions, outputs
from ..forms import (
    VerifyForm,
)
from ..models import Attendance, Attestation, AttestationBundle

# Attestations --------------------------------------------------------------------------------


@require_GET
def attestation_pdf(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    attendance = access.get_attendance_for_user(request, pk)
    session = attendance.session
    if attendance.status != Attendance.Status.PRESENT or not actions.can_issue_attestations(
        session
    ):
        raise Http404
    stepup.require(request)
    pdf = actions.render_attestations(session, [attendance], reader=request.user)
    attestation = Attestation.objects.get(attendance=attendance)
    record_access(request, attestation, what="attestation_pdf")
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="attestation-{attestation.code}.pdf"'
    return response


@require_POST
def bundle_request(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    session = access.get_session_for_user(request, pk)
    stepup.require(request)
    try:
        bundle = actions.do_request_bundle(session, acting_user=request.user)
    except actions.ActionRefused as refusal:
        messages.error(request, str(refusal))
        return redirect("training:detail", pk=session.pk)
    return redirect("training:bundle_status", pk=bundle.pk)


@require_GET
def bundle_status(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """ "Being prepared → download": the page polls itself (JSON) while the task works."""
    bundle = access.get_bundle_for_user(request, pk)
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"state": bundle.state})
    context = {
        "bundle": bundle,
        "session": bundle.session,
        "can_attest": actions.can_issue_attestations(bundle.session),
    }
    return render(request, "training/bundle_status.html", context)


@require_GET
def bundle_download(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    bundle = access.get_bundle_for_user(request, pk)
    if bundle.state != AttestationBundle.State.READY or not bundle.file:
        raise Http404
    stepup.require(request)
    with bundle.file.open("rb") as stored:
        data = outputs.mark_bundle(
            stored.read(), session=bundle.session, reader=request.user, when=timezone.now()
        )
    record_access(request, bundle, what="attestations_zip")
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = (
        f'attachment; filename="attestations-session-{bundle.session_id}.zip"'
    )
    return response


# The public verification: a few checks a minute is what a person does; a script trying codes
# is stopped long before it could find one (12 symbols of 31: 60 bits).
VERIFY_LIMIT = 20
VERIFY_WINDOW = 600


@login_not_required
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """Anyone checks an attestation's code (POST: the code stays out of URLs and logs).

    Public, since the attestation tells its reader to check it here; shows only what the
    attestation states, limited per client address, every check in the audit trail.
    """
    form = VerifyForm(request.POST or None)
    context: dict = {"form": form, "checked": False, "found": None, "limited": None}
    if request.method == "POST":
        decision = ratelimit.hit(
            "training-verify",
            client_address(request) or "-",
            limit=VERIFY_LIMIT,
            window=VERIFY_WINDOW,
        )
        if not decision.allowed:
            if decision.first_refusal:
                record_event(
                    Event.DENIED,
                    request=request,
                    target_model=Attestation,
                    data={"what": "attestation_verification", "reason": "rate_limited"},
                )
            context["limited"] = max(1, round(decision.retry_after / 60))
            response = render(request, "training/verify.html", context, status=429)
            response["Retry-After"] = str(decision.retry_after)
            return response
        if form.is_valid():
            context["checked"] = True
            found = access.attestation_by_code(form.cleaned_data["code"])
            context["found"] = found
            if found is None:
                record_event(
                    Event.ACCESS,
                    request=request,
                    target_model=Attestation,
                    data={"what": "attestation_verification", "result": "unknown"},
                )
            else:
                context["withdrawn"] = found.withdrawn_at is not None or (
                    found.attendance.status != Attendance.Status.PRESENT
                )
                result = "withdrawn" if context["withdrawn"] else "valid"
                record_access(
                    request, found, what="attestation_verification", data={"result": result}
                )
    return render(request, "training/verify.html", context)
