"""A referral's dossier as a PDF (issue 15, an export of personal data): what the reader's detail
page shows them and no more, their name and the date at the foot of every page, behind a fresh
second factor (nothing served or recorded before), recorded as an export the DPO finds by the
reference; 404 for whoever may not export it, even if they read the referral."""

from __future__ import annotations

import datetime
import io
import time

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from cases import actions
from cases.access import ARCHIVE_SESSION_KEY
from cases.models import Referral
from cmer.audit.models import AuditEntry, Event
from tests.cases.helpers import file_referral, grant_follow_up, referral_in_assessment
from tests.conftest import step_up

pytestmark = pytest.mark.django_db

NOTE = "Entretien avec la famille, suivi éducatif proposé."
ADDENDUM = "Le club signale une seconde altercation."
FACTS = "Propos justifiant des violences"


@pytest.fixture
def referral(world):
    return referral_in_assessment(
        world,
        entries=[("note", NOTE)],
        addendum=ADDENDUM,
        addendum_reason="Information reçue après dépôt",
    )


def _url(referral) -> str:
    return reverse("cases:dossier", args=[referral.pk])


def _pages(data: bytes) -> list[str]:
    assert data.startswith(b"%PDF")
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages]


def _reader_line(user) -> str:
    return f"Extrait par {user.get_full_name()} le {timezone.localtime().strftime('%d/%m/%Y')}"


def _exports():
    return AuditEntry.objects.filter(event=Event.EXPORT)


def _transmit(referral, world, items):
    return actions.do_transmit(
        referral, items=list(items), reason="Signes de passage à l'acte", acting_user=world.referent
    )


def test_referent_gets_the_whole_dossier_naming_them_on_every_page(as_user, world, referral):
    # Enough notes for several pages: the foot is on each one, not only the last.
    for n in range(40):
        actions.do_add_timeline_entry(
            referral, kind="note", text=f"Point de suivi numéro {n}.", acting_user=world.referent
        )
    response = step_up(as_user(world.referent)).get(_url(referral))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f"dossier-{referral.reference}-" in response["Content-Disposition"]
    pages = _pages(response.content)
    assert len(pages) > 1
    for page in pages:
        assert _reader_line(world.referent) in page
        assert "Document confidentiel" in page
    text = " ".join(pages)
    for expected in (
        referral.reference,
        "En évaluation",  # status
        "Dupont Jeanne",  # identity
        FACTS,
        "Gymnase municipal",
        NOTE,
        ADDENDUM,
        "Point de suivi numéro 39.",
        "piece.pdf",  # the attachment's name and size, never its content
        "Tarascon",
    ):
        assert expected in text, expected


def test_without_a_fresh_code_nothing_is_served_or_recorded(as_user, world, referral):
    client = as_user(world.referent)
    first = client.get(_url(referral))
    assert first.status_code == 302
    assert first["Location"].startswith(reverse("accounts:stepup"))
    # A code typed more than five minutes ago no longer counts.
    step_up(client)
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=6)):
        stale = client.get(_url(referral))
    assert stale.status_code == 302
    assert stale["Location"].startswith(reverse("accounts:stepup"))
    assert b"%PDF" not in first.content + stale.content
    assert not _exports().exists()


def test_export_is_recorded_and_shown_to_the_dpo_and_the_referent(as_user, world, referral):
    client = step_up(as_user(world.referent))
    assert client.get(_url(referral)).status_code == 200
    (entry,) = _exports()
    assert entry.actor == world.referent
    assert entry.object_repr == referral.reference
    assert entry.object_pk == str(referral.pk)
    assert entry.commune_id == world.tarascon.pk
    assert entry.additional_data["what"] == "dossier_pdf"
    assert NOTE not in str(entry.additional_data)  # identifiers only, never content
    dpo_page = (
        as_user(world.dpo)
        .get(reverse("audit:search"), {"reference": referral.reference})
        .content.decode()
    )
    assert "export PDF du dossier" in dpo_page
    assert world.referent.email in dpo_page
    detail = client.get(reverse("cases:detail", args=[referral.pk])).content.decode()
    access_log = detail.split('data-testid="access-log"', 1)[1].split("</ul>", 1)[0]
    assert "export PDF du dossier" in access_log


@pytest.mark.parametrize(
    "persona",
    [
        "other_referent",
        "agent",  # the author: status only once submitted
        "other_agent",
        "member_without_grant",
        "coordinator",
        "dpo",
        "admin",
        "liaison",  # not transmitted
        "other_department_liaison",
    ],
)
def test_404_for_whoever_does_not_read_it(as_user, world, referral, persona):
    response = step_up(as_user(getattr(world, persona))).get(_url(referral))
    assert response.status_code == 404
    assert b"%PDF" not in response.content
    assert not _exports().exists()


def test_a_granted_member_reads_it_but_may_not_export_it(as_user, world, referral):
    grant_follow_up(referral, world, contribute=True)
    client = step_up(as_user(world.member))
    assert client.get(reverse("cases:detail", args=[referral.pk])).status_code == 200
    assert client.get(_url(referral)).status_code == 404
    assert not _exports().exists()
    assert AuditEntry.objects.filter(
        event=Event.DENIED, actor=world.member, object_repr=referral.reference
    ).exists()


def test_guessed_id_is_404(as_user, world, referral):
    client = step_up(as_user(world.referent))
    assert client.get(reverse("cases:dossier", args=[referral.pk + 1000])).status_code == 404
    draft = file_referral(world.agent, world.tarascon, submit=False)
    assert client.get(_url(draft)).status_code == 404
    # The author of a draft edits it; a draft is no dossier.
    assert step_up(as_user(world.agent)).get(_url(draft)).status_code == 404
    assert not _exports().exists()


def test_liaisons_dossier_holds_only_what_was_shared(as_user, world, referral, protocol):
    _transmit(referral, world, items=("facts",))
    response = step_up(as_user(world.liaison)).get(_url(referral))
    assert response.status_code == 200
    text = " ".join(_pages(response.content))
    assert _reader_line(world.liaison) in text
    assert FACTS in text
    for hidden in ("Dupont", "Jeanne", "piece.pdf", NOTE, ADDENDUM):
        assert hidden not in text, hidden
    (entry,) = _exports()
    assert entry.actor == world.liaison
    assert entry.additional_data["items"] == ["facts"]
    # The liaison of another department still gets 404.
    other = step_up(as_user(world.other_department_liaison)).get(_url(referral))
    assert other.status_code == 404


def test_liaison_reads_the_notes_when_the_timeline_was_shared(as_user, world, referral, protocol):
    _transmit(referral, world, items=("facts", "timeline"))
    text = " ".join(_pages(step_up(as_user(world.liaison)).get(_url(referral)).content))
    for shown in (FACTS, NOTE):
        assert shown in text, shown
    # Notes and decisions, not the addenda: exactly the liaison's detail page.
    for hidden in (ADDENDUM, "Dupont", "piece.pdf"):
        assert hidden not in text, hidden


def _archive(referral, world):
    referral = actions.do_change_status(
        referral, to_status="closed", close_reason="no_further_action", acting_user=world.referent
    )
    return actions.do_archive_referral(referral, acting_user=world.referent)


def test_an_archive_only_once_opened_with_a_reason(as_user, world, referral):
    referral = _archive(referral, world)
    client = step_up(as_user(world.referent))
    assert client.get(_url(referral)).status_code == 404
    # As ``views.archive`` leaves the session after the reason and the code.
    session = client.session
    session[ARCHIVE_SESSION_KEY] = {str(referral.pk): time.time() + 600}
    session.save()
    response = client.get(_url(referral))
    assert response.status_code == 200
    text = " ".join(_pages(response.content))
    assert "Archive consultée pour un motif tracé." in text
    assert "Dupont Jeanne" in text
    assert _exports().count() == 1
    assert step_up(as_user(world.other_referent)).get(_url(referral)).status_code == 404


def test_an_anonymised_referral_has_nothing_to_export(as_user, world, referral):
    Referral.objects.filter(pk=referral.pk).update(anonymised_at=timezone.now())
    client = step_up(as_user(world.referent))
    response = client.get(_url(referral), follow=True)
    assert response.redirect_chain[0][0] == reverse("cases:detail", args=[referral.pk])
    assert "il n&#x27;y a plus de données à exporter" in response.content.decode()
    assert not _exports().exists()
    assert step_up(as_user(world.other_referent)).get(_url(referral)).status_code == 404


def test_the_detail_page_offers_the_export_to_whoever_may_take_it(
    as_user, world, referral, protocol
):
    grant_follow_up(referral, world)
    _transmit(referral, world, items=("facts",))
    detail = reverse("cases:detail", args=[referral.pk])
    for user, offered in (
        (world.referent, True),
        (world.liaison, True),
        (world.member, False),
        (world.agent, False),
    ):
        client = step_up(as_user(user))
        page = client.get(detail).content.decode()
        assert ('data-testid="dossier-export"' in page) is offered, user
        # The link and the export agree.
        assert client.get(_url(referral)).status_code == (200 if offered else 404), user
    Referral.objects.filter(pk=referral.pk).update(anonymised_at=timezone.now())
    page = as_user(world.referent).get(detail).content.decode()
    assert 'data-testid="dossier-export"' not in page
