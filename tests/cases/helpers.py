from __future__ import annotations

import datetime
from typing import Any

from django.utils import timezone

from cases import actions
from cases.actions import ReferralContent
from cases.models import Referral, WeakSignalCategory

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def content(**overrides: Any) -> ReferralContent:
    values: dict[str, Any] = {
        "surname": "Dupont",
        "first_names": "Jeanne",
        "birth_date": datetime.date(2008, 5, 17),
        "facts": "Propos justifiant des violences devant le gymnase, à plusieurs reprises.",
        "facts_place": "Gymnase municipal",
        "facts_date": datetime.date(2026, 11, 2),
        "source": Referral.Source.MUNICIPAL_SERVICE,
        "author_service": "Service des sports",
        "urgency": Referral.Urgency.NORMAL,
        "categories": list(WeakSignalCategory.objects.filter(code="justification_of_violence")),
    }
    values.update(overrides)
    return ReferralContent(**values)


def file_referral(author, commune, *, submit: bool = True, attachments=(), **overrides) -> Referral:
    from cases.files import CheckedFile

    checked = [
        CheckedFile(content=data, content_type=ctype, display_name=name, sha256="0" * 64)
        for name, ctype, data in attachments
    ]
    referral = actions.do_save_draft(
        acting_user=author, commune=commune, content=content(**overrides), attachments=checked
    )
    if submit:
        referral = actions.do_submit_referral(referral, acting_user=author)
    return referral


def referral_in_assessment(world, *, entries, addendum, addendum_reason) -> Referral:
    """Filed by the agent with a PDF (``piece.pdf``), put in assessment by the referent, who
    writes ``entries`` (``(kind, text)`` pairs) in the timeline; then the agent's addendum."""
    referral = file_referral(
        world.agent, world.tarascon, attachments=[("piece.pdf", "application/pdf", PDF_BYTES)]
    )
    referral = actions.do_change_status(
        referral, to_status="in_assessment", acting_user=world.referent
    )
    for kind, text in entries:
        actions.do_add_timeline_entry(referral, kind=kind, text=text, acting_user=world.referent)
    actions.do_add_addendum(
        referral, text=addendum, reason=addendum_reason, acting_user=world.agent
    )
    return referral


def grant_follow_up(referral, world, *, contribute: bool = False):
    """The referent grants the member 30 days on ``referral``, for the person's follow-up."""
    return actions.do_grant_access(
        referral,
        member=world.member,
        contribute=contribute,
        reason="Suivi éducatif de la personne",
        expires_on=timezone.localdate() + datetime.timedelta(days=30),
        acting_user=world.referent,
    )


def form_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "surname": "Martin",
        "first_names": "Lucas",
        "birth_date": "2007-03-01",
        "approximate_age": "",
        "age_group": "unknown",
        "residence_commune": "Tarascon",
        "address": "",
        "facts": "Rupture brutale avec le club et propos valorisant des attaques.",
        "facts_date": "2026-11-10",
        "facts_place": "Stade",
        "source": "association",
        "author_service": "Sports",
        "urgency": "normal",
        # As the confirmation step posts it (a first "submit" only validates and asks).
        "confirmed": "1",
    }
    data.update(overrides)
    return data
