"""The meeting's two downloads of personal data, treated like every other export (the referral
dossier, the attestations, the audit exports): the access check first (whoever may not take it
gets the same 404 as before, never a code prompt), then a fresh second factor
(``cmer.accounts.stepup``), then an export event in the audit trail, and the reader and the date
on every page.

- The approved minutes PDF (invitees and the referent): "Exemplaire nominatif de … — téléchargé
  le …" in the stamp slot of every page (meetings/stamp.py).
- The attendance sheet (the referent who runs the meeting): staff names and the external
  participants' names and institutions, "Extrait par … le …" at the foot of every page.
"""

from __future__ import annotations

import datetime
import io

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from cmer.audit.models import AuditEntry, Event
from meetings import actions
from meetings.models import MinutesDocument
from tests.conftest import step_up
from tests.meetings.helpers import minutes_document, other_commune_meeting, plan

pytestmark = pytest.mark.django_db

STEPUP = reverse("accounts:stepup")


def _pages(data: bytes) -> list[str]:
    assert data.startswith(b"%PDF")
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages]


def _exports():
    return AuditEntry.objects.filter(event=Event.EXPORT)


def _whats(user) -> list:
    return [
        (entry.additional_data or {}).get("what")
        for entry in AuditEntry.objects.filter(actor=user)
        if isinstance(entry.additional_data, dict)
    ]


def _asks_for_a_code(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(STEPUP)


# The minutes PDF --------------------------------------------------------------------------


@pytest.fixture
def document(world, django_capture_on_commit_callbacks):
    document = minutes_document(world, django_capture_on_commit_callbacks)
    assert document.state == MinutesDocument.State.READY
    return document


def _minutes_url(document, meeting_pk=None, document_pk=None) -> str:
    return reverse(
        "meetings:document",
        args=[meeting_pk or document.meeting_id, document_pk or document.pk],
    )


@pytest.mark.parametrize(
    "persona",
    [
        "other_referent",  # another commune
        "member_without_grant",  # the same cell, not invited
        "agent",
        "coordinator",
        "dpo",
        "admin",
        "other_department_liaison",
    ],
)
def test_minutes_pdf_is_404_before_any_code_prompt_for_whoever_may_not_take_it(
    as_user, world, document, persona
):
    client = as_user(getattr(world, persona))
    response = client.get(_minutes_url(document))
    assert response.status_code == 404
    # With a fresh code too: the code opens nothing the access rules close.
    assert step_up(client).get(_minutes_url(document)).status_code == 404
    assert not _exports().exists()


def test_minutes_pdf_guessed_ids_are_404_before_any_code_prompt(as_user, world, document):
    client = as_user(world.member)
    other = plan(world)
    for url in (
        _minutes_url(document, document_pk=document.pk + 1000),
        _minutes_url(document, meeting_pk=document.meeting_id + 1000),
        _minutes_url(document, meeting_pk=other.pk),  # the document under another meeting
    ):
        assert client.get(url).status_code == 404, url
    # A version not built (yet, or failed) is no download either.
    MinutesDocument.objects.filter(pk=document.pk).update(state=MinutesDocument.State.FAILED)
    assert client.get(_minutes_url(document)).status_code == 404
    assert not _exports().exists()


def test_minutes_pdf_asks_for_a_fresh_code_and_serves_nothing_before(as_user, world, document):
    client = as_user(world.member)
    first = client.get(_minutes_url(document))
    assert _asks_for_a_code(first)
    step_up(client)
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=6)):
        stale = client.get(_minutes_url(document))
    assert _asks_for_a_code(stale)
    assert not _exports().exists()
    assert "minutes_pdf" not in _whats(world.member)


@pytest.mark.parametrize("persona", ["member", "liaison", "referent"])
def test_minutes_pdf_after_the_code_names_the_reader_on_every_page_and_is_an_export(
    as_user, world, document, persona
):
    user = getattr(world, persona)
    response = step_up(as_user(user)).get(_minutes_url(document))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    pages = _pages(b"".join(response.streaming_content))
    day = timezone.localtime().strftime("%d/%m/%Y")
    for page in pages:
        assert f"Exemplaire nominatif de {user.get_full_name()}" in page
        assert f"téléchargé le {day}" in page
    (entry,) = _exports()
    assert entry.actor == user
    assert entry.additional_data["what"] == "minutes_pdf"
    assert entry.additional_data["sha256"] == document.sha256
    assert entry.object_pk == str(document.pk)
    assert entry.commune_id == world.tarascon.pk


# The attendance sheet ---------------------------------------------------------------------


@pytest.fixture
def meeting(world):
    meeting = plan(world)
    # Enough participants for several pages: the reader's line is on each one.
    for n in range(45):
        actions.do_add_external(
            meeting,
            name=f"Participant numéro {n}",
            institution="Conseil départemental",
            acting_user=world.referent,
        )
    return meeting


def _sheet_url(meeting_pk: int) -> str:
    return reverse("meetings:attendance_sheet", args=[meeting_pk])


@pytest.mark.parametrize(
    "persona",
    [
        "other_referent",  # another commune
        "member",  # invited, does not run the meeting
        "liaison",  # invited, does not run the meeting
        "member_without_grant",
        "coordinator",
        "dpo",
        "admin",
    ],
)
def test_attendance_sheet_is_404_before_any_code_prompt_for_whoever_does_not_run_it(
    as_user, world, meeting, persona
):
    client = as_user(getattr(world, persona))
    assert client.get(_sheet_url(meeting.pk)).status_code == 404
    assert step_up(client).get(_sheet_url(meeting.pk)).status_code == 404
    assert not _exports().exists()


def test_attendance_sheet_guessed_id_is_404_before_any_code_prompt(as_user, world, meeting):
    client = as_user(world.referent)
    assert client.get(_sheet_url(meeting.pk + 1000)).status_code == 404
    other_commune = other_commune_meeting(world)
    assert client.get(_sheet_url(other_commune.pk)).status_code == 404
    assert not _exports().exists()


def test_attendance_sheet_asks_for_a_fresh_code_and_serves_nothing_before(as_user, world, meeting):
    response = as_user(world.referent).get(_sheet_url(meeting.pk))
    assert _asks_for_a_code(response)
    assert not _exports().exists()
    assert "attendance_sheet" not in _whats(world.referent)


def test_attendance_sheet_after_the_code_names_the_reader_on_every_page_and_is_an_export(
    as_user, world, meeting
):
    response = step_up(as_user(world.referent)).get(_sheet_url(meeting.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f"emargement-reunion-{meeting.pk}" in response["Content-Disposition"]
    pages = _pages(b"".join(response.streaming_content))
    assert len(pages) > 1
    line = (
        f"Extrait par {world.referent.get_full_name()} le "
        f"{timezone.localtime().strftime('%d/%m/%Y')}"
    )
    for page in pages:
        assert line in page
    text = " ".join(pages)
    assert world.member.get_full_name() in text and "Participant numéro 44" in text
    (entry,) = _exports()
    assert entry.actor == world.referent
    assert entry.object_pk == str(meeting.pk)
    assert entry.commune_id == world.tarascon.pk
    assert entry.additional_data["what"] == "attendance_sheet"
    assert entry.additional_data["rows"] == 48  # two invitees, the chair, 45 externals
    assert "Participant" not in str(entry.additional_data)  # identifiers only, never names


def test_the_links_open_the_code_page_rather_than_saving_it_as_the_file(as_user, world, document):
    """A link with ``download`` would save the "Confirmez avec votre code" page under the PDF's
    name: the two links are plain links, the browser follows them to the code page."""
    html = as_user(world.referent).get(f"/reunions/{document.meeting_id}/").content.decode()
    for url in (_minutes_url(document), _sheet_url(document.meeting_id)):
        (link,) = [tag for tag in html.split("<a ")[1:] if f'href="{url}"' in tag]
        assert " download" not in link.split(">", 1)[0], url
