"""Opening an archived referral: a stated reason and the second factor again."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from cmer import permissions
from cmer.accounts import stepup
from cmer.accounts.requests import AuthenticatedRequest
from conventions.gates import charter_required

from .. import access, actions
from ..forms import (
    ArchiveOpenForm,
)


@require_http_methods(["GET", "POST"])
@charter_required
def archive_open(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    referral = permissions.get_or_404(access.archived_for_referent(request.user), request, pk=pk)
    form = ArchiveOpenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # Re-authentication with the second factor before an archive opens.
        if not stepup.confirm(request, form.cleaned_data["token"]):
            form.add_error("token", _("Code incorrect ou déjà utilisé."))
        else:
            actions.do_open_archive(request, referral, reason=form.cleaned_data["reason"])
            return redirect("cases:detail", pk=referral.pk)
    return render(request, "cases/archive_open.html", {"referral": referral, "form": form})
