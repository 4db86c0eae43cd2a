"""``cases.access`` states the referral table twice: as SQL (``_content_arms``, for lists) and
as Python (``capabilities()``, for one referral). They must agree on every referral.

Exhaustive over every persona × every status × transmitted or not × no grant, a view grant, a
contribute grant or an expired grant (to the cell member), × filed by the agent or by the member.
"""

from __future__ import annotations

import datetime
import itertools

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from cases import access
from cases.models import Referral, ReferralUserObjectPermission, Transmission
from tests.cases.helpers import file_referral

Status = Referral.Status
GRANTS = ("none", "view", "contribute", "expired")


def _grant(referral: Referral, world, kind: str) -> None:
    if kind == "none":
        return
    codename = "view_referral" if kind == "view" else "contribute_referral"
    shift = datetime.timedelta(days=-1 if kind == "expired" else 30)
    ReferralUserObjectPermission.objects.create(
        content_object=referral,
        user=world.member,
        permission=Permission.objects.get(codename=codename, content_type__app_label="cases"),
        reason="Suivi",
        expires_at=timezone.now() + shift,
        granted_by=world.referent,
    )


@pytest.fixture
def every_referral(world):
    """One referral per combination, in Tarascon; a few in Miramas (another commune)."""
    made = []
    combinations = itertools.product(Status.values, (False, True), GRANTS, ("agent", "member"))
    for status, transmitted, grant, author in combinations:
        referral = file_referral(
            getattr(world, author), world.tarascon, submit=status != Status.DRAFT
        )
        if status not in (Status.DRAFT, Status.SUBMITTED):
            Referral.objects.filter(pk=referral.pk).update(status=status)
        if transmitted:
            Transmission.objects.create(
                referral=referral,
                transmitted_by=world.referent,
                shared_items=["identity"],
                reason="Transmis",
            )
        _grant(referral, world, grant)
        made.append(referral.pk)
    for status in Status.values:
        referral = file_referral(world.other_referent, world.miramas, submit=status != "draft")
        Referral.objects.filter(pk=referral.pk).update(status=status)
        made.append(referral.pk)
    return made


PERSONAS = (
    "referent",
    "member",
    "member_without_grant",
    "agent",
    "other_agent",
    "liaison",
    "coordinator",
    "dpo",
    "admin",
    "other_referent",
    "other_department_liaison",
)


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
def test_sql_lists_and_capabilities_agree_on_every_referral(world, every_referral, persona):
    user = getattr(world, persona)
    readable = set(access.referrals_readable_by(user).values_list("pk", flat=True))
    listed = set(access.referrals_listed_for(user).values_list("pk", flat=True))
    parts = [set(part.values_list("pk", flat=True)) for part in access.listed_parts(user)]
    referrals = Referral.objects.filter(pk__in=every_referral).select_related(
        "commune", "transmission"
    )
    disagreements = []
    for referral in referrals:
        caps = access.capabilities(user, referral)
        # A draft is its author's to edit, not content a list reads; an archive needs a reason.
        reads = caps.read_content and not caps.edit_draft
        own = caps.is_author and referral.status != Status.ARCHIVED
        if (referral.pk in readable) != reads or (referral.pk in listed) != (reads or own):
            disagreements.append(
                (referral.status, hasattr(referral, "transmission"), referral.author.email)
            )
    assert disagreements == []
    # The list page's disjoint parts are the same rows as the list, each once.
    assert set().union(*parts) == listed
    assert sum(len(part) for part in parts) == len(listed)
    if persona in {"referent", "member", "liaison", "agent"}:
        assert readable or listed, "the persona must see something for the test to mean anything"
