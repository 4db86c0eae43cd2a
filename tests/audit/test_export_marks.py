"""The DPO's exports of the trail (issue 15): the CSV and the PDF name the reader and the date in
the bytes served, ask for a fresh second factor first (nothing served or recorded before), are
recorded, and are 404 for every other role and for another department's DPO."""

from __future__ import annotations

import csv
import datetime
import io

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from cmer.accounts.models import Role
from cmer.audit.core import record_event
from cmer.audit.models import AuditEntry, AuditExport, Event
from tests.conftest import make_user, step_up

pytestmark = pytest.mark.django_db

CSV = reverse("audit:export", args=["csv"])
PDF = reverse("audit:export", args=["pdf"])
PERSONAS = ["referent", "member", "agent", "liaison", "coordinator", "admin", "other_referent"]


def _reader(user) -> str:
    return f"{user.get_full_name()} <{user.email}>"


def _exports() -> int:
    return AuditEntry.objects.filter(event=Event.EXPORT).count()


@pytest.fixture
def entry(world):
    return record_event(
        Event.ACCESS, actor=world.referent, target=world.tarascon, commune=world.tarascon
    )


def test_csv_names_the_reader_and_the_date_on_its_first_line(world, as_user, entry):
    response = step_up(as_user(world.dpo)).post(CSV, {})
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(body)))
    when = timezone.localtime().strftime("%d/%m/%Y")
    assert rows[0][0].startswith(f"Export établi le {when} ")
    assert rows[0][0].endswith(f" par {_reader(world.dpo)}")
    assert rows[1][0] == "position"
    (export,) = AuditEntry.objects.filter(event=Event.EXPORT)
    assert export.actor == world.dpo and export.additional_data["what"] == "audit_csv"


def test_pdf_names_the_reader_and_the_date_on_every_page(
    world, as_user, django_capture_on_commit_callbacks
):
    for _ in range(120):  # enough rows for several pages
        record_event(
            Event.ACCESS, actor=world.referent, target=world.tarascon, commune=world.tarascon
        )
    client = step_up(as_user(world.dpo))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(PDF, {})
    prepared = AuditExport.objects.get()
    assert prepared.status == AuditExport.Status.READY
    download = client.get(reverse("audit:export_download", args=[prepared.pk]))
    assert download.status_code == 200
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(download.content)).pages]
    assert len(pages) >= 2
    when = timezone.localtime(prepared.created_at).strftime("%d/%m/%Y")
    for text in pages:
        assert f"Établi le {when}" in text
        assert _reader(world.dpo) in text
    whats = {e.additional_data["what"] for e in AuditEntry.objects.filter(event=Event.EXPORT)}
    assert whats == {"audit_pdf", "audit_pdf_download"}


def test_exports_need_a_fresh_code(world, as_user, entry):
    client = as_user(world.dpo)
    for url in (CSV, PDF):
        response = client.post(url, {})
        assert response.status_code == 403  # the code page in place: nothing done
        assert b"position" not in response.content
    # A code typed more than five minutes ago is not fresh any more.
    step_up(client)
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=6)):
        assert client.post(CSV, {}).status_code == 403
    assert _exports() == 0
    assert not AuditExport.objects.exists()


def test_pdf_download_needs_a_fresh_code(world, as_user, django_capture_on_commit_callbacks):
    client = step_up(as_user(world.dpo))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(PDF, {})
    prepared = AuditExport.objects.get()
    before = _exports()
    later = timezone.now() + datetime.timedelta(minutes=6)
    with time_machine.travel(later):
        response = client.get(reverse("audit:export_download", args=[prepared.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:stepup"))
    assert not response.content.startswith(b"%PDF")
    assert _exports() == before


@pytest.mark.parametrize("persona", PERSONAS)
def test_exports_are_404_for_other_roles(world, as_user, entry, persona):
    client = step_up(as_user(getattr(world, persona)))
    assert client.post(CSV, {}).status_code == 404
    assert client.post(PDF, {}).status_code == 404
    assert _exports() == 0


def test_another_dpos_pdf_is_404(world, as_user, django_capture_on_commit_callbacks):
    client = step_up(as_user(world.dpo))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(PDF, {})
    prepared = AuditExport.objects.get()
    other = make_user("dpo@pref30.test", Role.DPO, department=world.other_department)
    before = _exports()
    response = step_up(as_user(other)).get(reverse("audit:export_download", args=[prepared.pk]))
    assert response.status_code == 404
    assert _exports() == before
