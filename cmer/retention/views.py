"""The DPO's retention page: the rules in force, what goes in the next 30 days, legal holds, the
25th-birthday switch, the runs and their certificates (download, verification).

Only a DPO reaches these pages (404 for everyone else, like the audit pages); the page shows
references, dates and counts, never content. Writes go through ``policy`` and
``cases.retention``; a refused form changes nothing and says why.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from cmer import permissions
from cmer.audit.access import require_dpo
from cmer.audit.core import record_event
from cmer.audit.models import Event

from . import certificate, policy, registry, runner
from .forms import AgeRuleForm, LegalHoldForm, LiftHoldForm, VerifyForm
from .models import AgeRuleChange, RetentionRun
from .rules import APPLIED_RULES, LABELS, rule_table

UPCOMING_DAYS = 30
RUNS_SHOWN = 20
VERDICTS = {
    "ok": "",
    "too_large": gettext_lazy("Ce fichier est trop volumineux pour un certificat."),
    "not_a_certificate": gettext_lazy("Ce fichier n'est pas un certificat de destruction de CMER."),
    "no_seal": gettext_lazy("Ce certificat n'a pas de sceau."),
    "bad_seal": gettext_lazy(
        "Le sceau ne correspond pas : le certificat a été modifié, ou vient d'une autre "
        "installation."
    ),
}


def _lift_form(hold_pk: int, data: Any = None) -> LiftHoldForm:
    return LiftHoldForm(data, auto_id=f"lift{hold_pk}_%s")


# The forms share a page and field names ("reason", one lift form per hold): each gets its own
# ids, so that every label points at its own field.
def _context(request: HttpRequest, **forms: Any) -> dict[str, Any]:
    communes, departments = require_dpo(request)
    today = timezone.localdate()
    state = policy.age_rule_state()
    refused = forms.get("lift_form")
    # Each running hold with its lift form; a refused one is shown again, bound and open.
    holds = []
    for hold in registry.holds().running(communes, today):
        if refused and refused[0] == hold.pk:
            holds.append((hold, refused[1]))
            refused = None
        else:
            holds.append((hold, _lift_form(hold.pk)))
    upcoming = runner.plan(
        today + datetime.timedelta(days=UPCOMING_DAYS),
        commune_ids=communes,
        department_ids=departments,
        today=today,
    )
    return {
        "rules": rule_table(age_rule_enabled=state.enabled),
        "age_rule": state,
        "age_rule_history": AgeRuleChange.objects.select_related("changed_by")[:10],
        "upcoming": [
            {"rule": rule, "label": LABELS[rule], "items": upcoming.items[rule]}
            for rule in APPLIED_RULES
        ],
        "upcoming_total": upcoming.total,
        "upcoming_held": upcoming.held,
        "upcoming_days": UPCOMING_DAYS,
        "today": today,
        "holds": holds,
        # A refused lift of a hold no longer listed (lifted or ended meanwhile): said above it.
        "lift_errors": [e for errors in refused[1].errors.values() for e in errors]
        if refused
        else [],
        "runs": RetentionRun.objects.defer("pdf", "text")[:RUNS_SHOWN],
        "age_form": forms.get("age_form")
        or AgeRuleForm(initial={"enabled": "0" if state.enabled else "1"}, auto_id="age_%s"),
        "hold_form": forms.get("hold_form") or LegalHoldForm(auto_id="hold_%s"),
        "verify_form": forms.get("verify_form") or VerifyForm(auto_id="verify_%s"),
        "verdict": forms.get("verdict"),
    }


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "retention/dashboard.html", _context(request))


def _refused(request: HttpRequest, form_name: str, form: Any) -> HttpResponse:
    return render(
        request, "retention/dashboard.html", _context(request, **{form_name: form}), status=400
    )


@require_POST
def age_rule(request: HttpRequest) -> HttpResponse:
    require_dpo(request)
    form = AgeRuleForm(request.POST, auto_id="age_%s")
    if not form.is_valid():
        return _refused(request, "age_form", form)
    try:
        policy.do_switch_age_rule(
            enabled=form.cleaned_data["enabled"],
            reason=form.cleaned_data["reason"],
            acting_user=request.user,
        )
    except ValidationError as exc:
        form.add_error(None, exc)
        return _refused(request, "age_form", form)
    messages.success(request, _("Le changement de la règle des 25 ans est enregistré."))
    return redirect("retention:dashboard")


@require_POST
def legal_hold(request: HttpRequest) -> HttpResponse:
    communes, _departments = require_dpo(request)
    form = LegalHoldForm(request.POST, auto_id="hold_%s")
    if not form.is_valid():
        return _refused(request, "hold_form", form)
    try:
        hold = registry.holds().place(
            reference=form.cleaned_data["reference"],
            reason=form.cleaned_data["reason"],
            until=form.cleaned_data["until"],
            commune_ids=communes,
            acting_user=request.user,
        )
    except ValidationError as exc:
        form.add_error(None, exc)
        return _refused(request, "hold_form", form)
    messages.success(
        request,
        _("Gel posé sur %(reference)s jusqu'au %(until)s.")
        % {"reference": hold.referral.reference, "until": hold.until.strftime("%d/%m/%Y")},
    )
    return redirect("retention:dashboard")


@require_POST
def lift_hold(request: HttpRequest, pk: int) -> HttpResponse:
    """Lift a hold of the DPO's communes before its end; any other hold is a 404."""
    communes, _departments = require_dpo(request)
    holds = registry.holds()
    hold = permissions.get_or_404(holds.of(communes), request, pk=pk)
    form = _lift_form(hold.pk, request.POST)
    if not form.is_valid():
        return _refused(request, "lift_form", (hold.pk, form))
    try:
        holds.lift(hold, reason=form.cleaned_data["reason"], acting_user=request.user)
    except ValidationError as exc:
        form.add_error(None, exc)
        return _refused(request, "lift_form", (hold.pk, form))
    messages.success(
        request,
        _("Gel levé sur %(reference)s : le signalement suit de nouveau les règles de conservation.")
        % {"reference": hold.referral.reference},
    )
    return redirect("retention:dashboard")


@require_GET
def certificate_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    require_dpo(request)
    run = permissions.get_or_404(
        RetentionRun.objects.filter(status=RetentionRun.Status.DONE, pdf__isnull=False),
        request,
        pk=pk,
    )
    if run.pdf is None:  # excluded by the query: says so to the type checker
        raise Http404
    record_event(Event.EXPORT, request=request, target=run, data={"what": "retention_certificate"})
    response = HttpResponse(bytes(run.pdf), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="certificat-conservation-{run.pk}.pdf"'
    return response


@require_POST
def verify(request: HttpRequest) -> HttpResponse:
    require_dpo(request)
    form = VerifyForm(request.POST, request.FILES, auto_id="verify_%s")
    if not form.is_valid():
        return _refused(request, "verify_form", form)
    data = form.cleaned_data["document"].read(certificate.MAX_UPLOAD_BYTES + 1)
    verdict = certificate.verify(data)
    verdict.message = str(VERDICTS.get(verdict.message, verdict.message))
    return render(request, "retention/dashboard.html", _context(request, verdict=verdict))
