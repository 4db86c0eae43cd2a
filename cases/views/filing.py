"""Filing a referral: the agent's draft, its submission, the confirmation page."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import ResolverMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cmer.accounts.requests import AuthenticatedRequest
from cmer.audit.core import record_access

from .. import access, actions
from ..forms import (
    ReferralForm,
)
from ..models import Referral
from .common import _errors


def _filing_commune(request: AuthenticatedRequest) -> Any:
    commune = request.commune
    if (
        commune is None
        or not access.referral_commune_choices(request.user).filter(pk=commune.pk).exists()
    ):
        raise Http404
    return commune


def _form_page(
    request: AuthenticatedRequest,
    form: ReferralForm,
    commune: Any,
    referral: Referral | None = None,
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
def referral_create(request: AuthenticatedRequest) -> HttpResponse:
    commune = _filing_commune(request)
    form = ReferralForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid() and _submittable(request, form):
        return _save_and_maybe_submit(request, form, commune=commune, referral=None)
    return _form_page(request, form, commune)


@require_http_methods(["GET", "POST"])
def referral_edit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
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


def _submittable(request: AuthenticatedRequest, form: ReferralForm) -> bool:
    if "submit" in request.POST:
        return form.check_submittable()
    # A first save with nothing typed and no file would only leave an empty draft behind.
    if (
        form.is_blank()
        and not form.cleaned_data["attachments"]
        # Django resolves the URL before calling any view: never None here.
        and "pk" not in cast(ResolverMatch, request.resolver_match).kwargs
    ):
        form.add_error(None, _("Le brouillon est vide : rien n'a été enregistré."))
        return False
    return True


def _save_and_maybe_submit(
    request: AuthenticatedRequest, form: ReferralForm, *, commune: Any, referral: Referral | None
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
def referral_filed(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Confirmation after filing: the reference, and the emergency guidance when urgent."""
    referral, caps = access.get_referral_for_user(request, pk)
    access.require(caps.is_author, request, referral)
    return render(request, "cases/referral_filed.html", {"referral": referral})


@require_POST
def referral_discard(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    referral, caps = access.get_referral_for_user(request, pk)
    access.require(caps.edit_draft, request, referral)
    actions.do_discard_draft(referral, acting_user=request.user)
    messages.success(request, _("Brouillon supprimé."))
    return redirect("cases:list")
