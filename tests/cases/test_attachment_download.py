"""A referral's attachment downloaded: a copy of the person's data that outlives the reader's
access, so an export like the dossier PDF (cases/views/dossier.py). The access check first
(whoever may not see it gets the same 404 as before, and no code prompt), then a fresh second
factor (cmer.accounts.stepup), then the file, recorded as a read of the attachment and as an
export under the referral's reference."""

from __future__ import annotations

import datetime
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases import actions
from cases.access import ARCHIVE_SESSION_KEY
from cases.models import Referral
from cmer.accounts.demo import current_code
from cmer.accounts.stepup import STEPUP_FIELD
from cmer.audit.models import AuditEntry, Event
from tests.cases.helpers import PDF_BYTES, PNG_BYTES, file_referral, form_data
from tests.conftest import login, step_up

pytestmark = pytest.mark.django_db

STEPUP = reverse("accounts:stepup")


@pytest.fixture
def referral(world):
    referral = file_referral(
        world.agent, world.tarascon, attachments=[("piece.pdf", "application/pdf", PDF_BYTES)]
    )
    return actions.do_change_status(referral, to_status="in_assessment", acting_user=world.referent)


def _url(referral, attachment_pk=None) -> str:
    if attachment_pk is None:
        attachment_pk = referral.attachments.get().pk
    return reverse("cases:attachment", args=[referral.pk, attachment_pk])


def _downloads():
    """What a download leaves in the trail: the read of the attachment, the export."""

    def what(event: str, value: str) -> list[AuditEntry]:
        entries = AuditEntry.objects.filter(event=event).order_by("pk")
        return [e for e in entries if (e.additional_data or {}).get("what") == value]

    return what(Event.ACCESS, "download"), what(Event.EXPORT, "attachment_export")


def _nothing_downloaded() -> bool:
    reads, exports = _downloads()
    return not reads and not exports


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _is_code_prompt(response, url: str) -> bool:
    if response.status_code != 302:
        return False
    location = urlsplit(response["Location"])
    return location.path == STEPUP and parse_qs(location.query).get("next") == [url]


def _grant(referral, world, days=30):
    return actions.do_grant_access(
        referral,
        member=world.member,
        contribute=False,
        reason="Suivi éducatif de la personne",
        expires_on=timezone.localdate() + datetime.timedelta(days=days),
        acting_user=world.referent,
    )


def _transmit(referral, world, items):
    return actions.do_transmit(
        referral, items=list(items), reason="Signes de passage à l'acte", acting_user=world.referent
    )


def test_without_a_fresh_code_the_download_asks_for_one_and_serves_nothing(
    as_user, world, referral
):
    client = as_user(world.referent)
    url = _url(referral)
    first = client.get(url)
    assert _is_code_prompt(first, url)
    assert PDF_BYTES not in first.content
    # A code typed more than five minutes ago no longer counts.
    step_up(client)
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=6)):
        stale = client.get(url)
    assert _is_code_prompt(stale, url)
    assert _nothing_downloaded()


def test_after_a_fresh_code_the_file_is_served_read_and_exported(as_user, world, referral):
    client = step_up(as_user(world.referent))
    attachment = referral.attachments.get()
    response = client.get(_url(referral))
    assert response.status_code == 200
    assert _body(response) == PDF_BYTES
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Length"] == str(len(PDF_BYTES))
    assert response["Content-Disposition"].startswith("attachment")
    assert "piece.pdf" in response["Content-Disposition"]
    assert "no-store" in response["Cache-Control"]
    (read,), (export,) = _downloads()
    # The read of the attachment, as before.
    assert read.actor == world.referent
    assert read.object_pk == str(attachment.pk)
    assert read.additional_data["referral"] == referral.reference
    # The export, under the referral's reference, like the dossier PDF.
    assert export.actor == world.referent
    assert export.object_pk == str(referral.pk)
    assert export.object_repr == referral.reference
    assert export.commune_id == world.tarascon.pk
    assert export.additional_data == {"what": "attachment_export", "attachment": attachment.pk}
    assert "piece" not in str(read.additional_data) + str(export.additional_data)


def test_the_download_is_shown_to_the_dpo_and_in_the_referents_access_log(as_user, world, referral):
    client = step_up(as_user(world.referent))
    assert client.get(_url(referral)).status_code == 200
    dpo_page = (
        as_user(world.dpo)
        .get(reverse("audit:search"), {"reference": referral.reference})
        .content.decode()
    )
    assert "téléchargement d&#x27;une pièce jointe" in dpo_page
    assert "export d&#x27;une pièce jointe" in dpo_page
    detail = client.get(reverse("cases:detail", args=[referral.pk])).content.decode()
    access_log = detail.split('data-testid="access-log"', 1)[1].split("</ul>", 1)[0]
    assert "export d&#x27;une pièce jointe" in access_log


def test_the_code_page_leads_back_to_the_download(world, referral):
    """GET → the code page → the code → back to the same download (as the browser does)."""
    client = login(Client(), world.referent)
    url = _url(referral)
    prompt = client.get(url)
    page = client.get(prompt["Location"])
    assert page.status_code == 200
    assert "Confirmez avec votre code" in page.content.decode()
    assert _nothing_downloaded()
    code = current_code(TOTPDevice.objects.get(user=world.referent, confirmed=True))
    confirmed = client.post(STEPUP, {"next": url, STEPUP_FIELD: code})
    assert confirmed.status_code == 302 and confirmed["Location"] == url
    response = client.get(url)
    assert response.status_code == 200
    assert _body(response) == PDF_BYTES
    reads, exports = _downloads()
    assert len(reads) == 1 and len(exports) == 1


def test_a_wrong_code_serves_nothing(world, referral):
    client = login(Client(), world.referent)
    url = _url(referral)
    response = client.post(STEPUP, {"next": url, STEPUP_FIELD: "000000"})
    assert response.status_code == 200
    assert "rien n&#x27;a été fait" in response.content.decode()
    assert _is_code_prompt(client.get(url), url)
    assert _nothing_downloaded()


OUTSIDERS = [
    "other_referent",  # another commune
    "agent",  # the author: status only once submitted
    "other_agent",
    "member_without_grant",
    "member",  # no grant
    "coordinator",
    "dpo",
    "admin",
    "liaison",  # not transmitted
    "other_department_liaison",
]


@pytest.mark.parametrize("persona", OUTSIDERS)
def test_whoever_may_not_see_it_gets_404_and_no_code_prompt(as_user, world, referral, persona):
    url = _url(referral)
    client = as_user(getattr(world, persona))
    # The same 404 as before, code or no code: the prompt would tell that something is there.
    assert client.get(url).status_code == 404
    assert step_up(client).get(url).status_code == 404
    assert _nothing_downloaded()


def test_a_guessed_id_or_another_referrals_attachment_is_404_without_a_prompt(
    as_user, world, referral
):
    other = file_referral(
        world.agent, world.tarascon, attachments=[("autre.png", "image/png", PNG_BYTES)]
    )
    other_attachment = other.attachments.get()
    client = as_user(world.referent)
    for url in (
        _url(referral, referral.attachments.get().pk + 1000),
        _url(referral, other_attachment.pk),  # readable, but not under this referral
        reverse("cases:attachment", args=[referral.pk + 1000, other_attachment.pk]),
    ):
        assert client.get(url).status_code == 404, url
    # Its own referral's address still asks for the code.
    assert _is_code_prompt(client.get(_url(other)), _url(other))
    assert _nothing_downloaded()


def test_a_granted_member_downloads_after_the_code_until_the_grant_expires(
    as_user, world, referral
):
    _grant(referral, world, days=3)
    url = _url(referral)
    client = as_user(world.member)
    assert _is_code_prompt(client.get(url), url)
    assert step_up(client).get(url).status_code == 200
    with time_machine.travel(timezone.now() + datetime.timedelta(days=5)):
        # A fresh code changes nothing once the grant has expired: 404, no prompt.
        expired = as_user(world.member)
        assert expired.get(url).status_code == 404
        assert step_up(expired).get(url).status_code == 404


def test_the_liaison_downloads_after_the_code_only_when_attachments_were_shared(
    as_user, world, referral, protocol
):
    _transmit(referral, world, items=("facts",))
    url = _url(referral)
    client = as_user(world.liaison)
    assert client.get(url).status_code == 404
    assert step_up(client).get(url).status_code == 404
    assert _nothing_downloaded()
    referral.transmission.shared_items = ["facts", "attachments"]
    referral.transmission.save()
    client = as_user(world.liaison)
    assert _is_code_prompt(client.get(url), url)
    response = step_up(client).get(url)
    assert response.status_code == 200 and _body(response) == PDF_BYTES
    assert step_up(as_user(world.other_department_liaison)).get(url).status_code == 404


def test_an_archive_asks_for_the_code_only_once_opened_with_a_reason(as_user, world, referral):
    referral = actions.do_change_status(
        referral, to_status="closed", close_reason="no_further_action", acting_user=world.referent
    )
    referral = actions.do_archive_referral(referral, acting_user=world.referent)
    url = _url(referral)
    client = as_user(world.referent)
    assert client.get(url).status_code == 404
    session = client.session
    session[ARCHIVE_SESSION_KEY] = {str(referral.pk): time.time() + 600}
    session.save()
    assert _is_code_prompt(client.get(url), url)
    assert step_up(client).get(url).status_code == 200
    assert step_up(as_user(world.other_referent)).get(url).status_code == 404


def test_only_get(as_user, world, referral):
    client = step_up(as_user(world.referent))
    assert client.post(_url(referral)).status_code == 405
    assert _nothing_downloaded()


def test_anonymous_goes_to_login(world, referral):
    response = Client().get(_url(referral))
    assert response.status_code == 302
    assert not response["Location"].startswith(STEPUP)
    assert _nothing_downloaded()


def test_the_referral_page_links_to_the_download_without_forcing_a_save(as_user, world, referral):
    """A link with ``download`` would save the code page as the file: a plain link lets the
    browser follow GET → code page → download."""
    html = as_user(world.referent).get(reverse("cases:detail", args=[referral.pk])).content
    link = f'href="{_url(referral)}"'
    page = html.decode()
    assert link in page
    tag = page.split(link, 1)[1].split(">", 1)[0]
    assert "download" not in tag


def test_a_scanned_upload_downloads_unchanged_after_the_code(clamav, as_user, world):
    """The antivirus checks the file once, at upload (tests/cases/test_attachment_scan.py);
    the download serves those very bytes, after the code."""
    upload = SimpleUploadedFile("note.pdf", PDF_BYTES)
    response = as_user(world.agent).post(
        reverse("cases:create"), {**form_data(submit="1"), "attachments": upload}
    )
    assert response.status_code == 302
    referral = Referral.objects.get()
    url = _url(referral)
    client = as_user(world.referent)
    assert _is_code_prompt(client.get(url), url)
    download = step_up(client).get(url)
    assert download.status_code == 200 and _body(download) == PDF_BYTES
    assert not AuditEntry.objects.filter(event=Event.MALWARE).exists()


def test_a_stored_attachment_still_downloads_while_the_antivirus_is_down(
    request, as_user, world, referral
):
    # Stored files were scanned at upload: reading one needs no verdict.
    request.getfixturevalue("stopped_clamav")  # after the referral's upload
    response = step_up(as_user(world.referent)).get(_url(referral))
    assert response.status_code == 200 and _body(response) == PDF_BYTES
