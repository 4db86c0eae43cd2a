"""What of a referral's timeline the prefecture's liaison reads (``cases.access.timeline_for``).

DESIGN.md gives the liaison what was transmitted, nothing more: the roles table ("prefecture
liaison | department | sees referrals transmitted to the prefecture by the department's communes,
writes feedback, …"), the referral table ("read identity, facts, attachments | … | liaison: if
transmitted"; "assess, change status, add notes | … | liaison: –"). A transmission can share the
cell's notes and decisions (``Transmission.Item.TIMELINE``); the commune's own entries — the
addenda written to the frozen text, the feedback the referent gives the reporting agent — are
no part of any transmission. Sharing all four parts used to hand the liaison the whole timeline,
those included: the liaison must read exactly what sharing the timeline gives, however many
other parts were shared. Detail page and dossier PDF alike (the PDF reuses the same function).
"""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from pypdf import PdfReader

from cases import access, actions
from cases.models import TimelineEntry, Transmission
from tests.cases.helpers import grant_follow_up, referral_in_assessment
from tests.conftest import step_up

pytestmark = pytest.mark.django_db

NOTE = "Entretien avec la famille, suivi éducatif proposé."
DECISION = "Orientation vers la cellule départementale."
ADDENDUM = "Le club signale une seconde altercation."
ADDENDUM_REASON = "Information reçue après dépôt"
AGENT_FEEDBACK = "Merci, la situation est suivie par la cellule."
PREFECTURE_FEEDBACK = "Situation connue des services, suivie."
FACTS = "Propos justifiant des violences"
INTERNAL = (ADDENDUM, ADDENDUM_REASON, AGENT_FEEDBACK)
ALL_FOUR = tuple(Transmission.Item.values)


@pytest.fixture
def referral(world):
    referral = referral_in_assessment(
        world,
        entries=[("note", NOTE), ("decision", DECISION)],
        addendum=ADDENDUM,
        addendum_reason=ADDENDUM_REASON,
    )
    actions.do_agent_feedback(referral, text=AGENT_FEEDBACK, acting_user=world.referent)
    return referral


def _transmit(referral, world, items):
    actions.do_transmit(
        referral, items=list(items), reason="Signes de passage à l'acte", acting_user=world.referent
    )
    referral.refresh_from_db()
    actions.do_prefecture_feedback(referral, text=PREFECTURE_FEEDBACK, acting_user=world.liaison)
    return referral


def _detail(client, referral) -> str:
    response = client.get(reverse("cases:detail", args=[referral.pk]))
    assert response.status_code == 200
    return response.content.decode().replace("&#x27;", "'")


def _dossier(client, referral) -> str:
    response = step_up(client).get(reverse("cases:dossier", args=[referral.pk]))
    assert response.status_code == 200
    pages = PdfReader(io.BytesIO(response.content)).pages
    return " ".join(" ".join(page.extract_text().split()) for page in pages)


def _kinds_for(user, referral) -> list[str]:
    caps = access.capabilities(user, referral)
    shared = access.shared_items_for(user, referral, caps)
    return sorted({entry.kind for entry in access.timeline_for(referral, shared)})


def test_liaison_with_all_four_parts_reads_no_internal_entry(as_user, world, referral, protocol):
    referral = _transmit(referral, world, ALL_FOUR)
    client = as_user(world.liaison)
    for text in (_detail(client, referral), _dossier(client, referral)):
        for shown in ("Dupont", FACTS, "piece.pdf", NOTE, DECISION, PREFECTURE_FEEDBACK):
            assert shown in text, shown
        for hidden in INTERNAL:
            assert hidden not in text, hidden


def test_all_four_parts_give_the_liaison_the_timeline_that_sharing_it_gives(
    world, referral, protocol
):
    referral = _transmit(referral, world, ALL_FOUR)
    expected = sorted(
        {
            TimelineEntry.Kind.NOTE,
            TimelineEntry.Kind.DECISION,
            TimelineEntry.Kind.STATUS,
            TimelineEntry.Kind.PREFECTURE_FEEDBACK,
        }
    )
    assert _kinds_for(world.liaison, referral) == expected
    # Shared alone, the timeline gives the very same entries.
    referral.transmission.shared_items = [Transmission.Item.TIMELINE]
    referral.transmission.save()
    assert _kinds_for(world.liaison, referral) == expected
    # Without it, the prefecture's own feedback only.
    referral.transmission.shared_items = [Transmission.Item.IDENTITY, Transmission.Item.FACTS]
    referral.transmission.save()
    assert _kinds_for(world.liaison, referral) == [TimelineEntry.Kind.PREFECTURE_FEEDBACK]


def test_the_commune_still_reads_every_entry(as_user, world, referral, protocol):
    referral = _transmit(referral, world, ALL_FOUR)
    every_kind = sorted(TimelineEntry.Kind.values)
    assert _kinds_for(world.referent, referral) == every_kind
    referent = as_user(world.referent)
    for text in (_detail(referent, referral), _dossier(referent, referral)):
        for shown in (*INTERNAL, NOTE, DECISION, PREFECTURE_FEEDBACK):
            assert shown in text, shown
    # A granted member reads the whole referral too (not an export: the page only).
    grant_follow_up(referral, world)
    assert _kinds_for(world.member, referral) == every_kind
    member_page = _detail(as_user(world.member), referral)
    for shown in INTERNAL:
        assert shown in member_page, shown


def test_a_stored_list_cannot_widen_what_the_liaison_reads(world, referral, protocol):
    """``shared_items`` is a JSON list: whatever it holds beyond the four parts is ignored."""
    referral = _transmit(referral, world, ALL_FOUR)
    referral.transmission.shared_items = [*ALL_FOUR, *sorted(access.ALL_ITEMS)]
    referral.transmission.save()
    caps = access.capabilities(world.liaison, referral)
    assert access.shared_items_for(world.liaison, referral, caps) == frozenset(ALL_FOUR)
    assert TimelineEntry.Kind.AGENT_FEEDBACK not in _kinds_for(world.liaison, referral)
