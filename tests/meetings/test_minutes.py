"""Review, approval that locks, addenda; the PDF built once per version, stamped per reader."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from pypdf import PdfReader

from cmer.audit.models import AuditEntry, Event
from meetings import actions, tasks
from meetings.models import (
    AgendaItem,
    Decision,
    Meeting,
    MinutesAddendum,
    MinutesDocument,
    ReviewComment,
)
from meetings.pseudonym import label
from tests.cases.helpers import file_referral
from tests.conftest import step_up
from tests.meetings.helpers import all_present, approved, hold, plan


def stored(document) -> bytes:
    with document.file.open("rb") as handle:
        return handle.read()


def pdf_text(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


@pytest.fixture
def referral(world):
    return file_referral(world.agent, world.tarascon)


@pytest.fixture
def held(world, referral):
    meeting = plan(world)
    actions.do_add_referral_item(meeting, reference=referral.reference, acting_user=world.referent)
    actions.do_add_external(
        meeting, name="Claire Martin", institution="Éducation nationale", acting_user=world.referent
    )
    meeting = hold(meeting, world.referent)
    item = AgendaItem.objects.get(meeting=meeting)
    actions.do_save_notes(item, notes="Situation stable.", acting_user=world.referent)
    actions.do_add_decision(item, text="suivi social décidé", acting_user=world.referent)
    actions.do_add_action_item(
        meeting,
        what="Rencontrer la famille",
        owner=world.member,
        due_on=meeting.local_day + datetime.timedelta(days=7),
        acting_user=world.referent,
    )
    return meeting


@pytest.mark.django_db
def test_approval_needs_attendance_and_review(as_user, world, held):
    client = as_user(world.referent)
    today = timezone.localdate().isoformat()
    # No attendance yet: neither review nor approval.
    client.post(f"/reunions/{held.pk}/relecture/", {"review_until": today})
    client.post(f"/reunions/{held.pk}/approbation/")
    held.refresh_from_db()
    assert held.minutes_state == Meeting.Minutes.DRAFT
    all_present(held, world.referent)
    client.post(f"/reunions/{held.pk}/approbation/")  # not reviewed yet
    held.refresh_from_db()
    assert held.minutes_state == Meeting.Minutes.DRAFT and not MinutesDocument.objects.exists()
    yesterday = (timezone.localdate() - datetime.timedelta(days=1)).isoformat()
    client.post(f"/reunions/{held.pk}/relecture/", {"review_until": yesterday})
    held.refresh_from_db()
    assert held.minutes_state == Meeting.Minutes.DRAFT
    client.post(f"/reunions/{held.pk}/relecture/", {"review_until": today})
    held.refresh_from_db()
    assert held.minutes_state == Meeting.Minutes.REVIEW


@pytest.mark.django_db
def test_attendees_propose_corrections_during_the_window_the_chair_reads_them(
    as_user, world, held, django_capture_on_commit_callbacks
):
    from django.core import mail

    all_present(held, world.referent)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        actions.do_send_for_review(
            held, review_until=timezone.localdate(), acting_user=world.referent
        )
    assert {m.to[0] for m in mail.outbox} == {
        world.referent.email,
        world.member.email,
        world.liaison.email,
    }
    assert all("suivi social" not in m.body for m in mail.outbox)
    member = as_user(world.member)
    member.post(f"/reunions/{held.pk}/corrections/", {"text": "Préciser la date du suivi."})
    assert ReviewComment.objects.get().author == world.member
    assert (
        "Préciser la date" in as_user(world.referent).get(f"/reunions/{held.pk}/").content.decode()
    )
    # Not invited: 404. After the window: refused.
    assert (
        as_user(world.member_without_grant)
        .post(f"/reunions/{held.pk}/corrections/", {"text": "x"})
        .status_code
        == 404
    )
    import time_machine

    with time_machine.travel(timezone.now() + datetime.timedelta(days=2)):
        member.post(f"/reunions/{held.pk}/corrections/", {"text": "Trop tard."})
    assert ReviewComment.objects.count() == 1


@pytest.mark.django_db
def test_approved_minutes_are_locked_even_against_a_crafted_post(as_user, world, held):
    meeting = approved(world, held)
    assert meeting.is_locked and meeting.approved_by == world.referent
    item = AgendaItem.objects.get(meeting=meeting)
    client = as_user(world.referent)
    base = f"/reunions/{meeting.pk}/"
    invitation = meeting.invitations.get(user=world.member)
    for url, data in (
        (f"{base}ordre-du-jour/{item.pk}/notes/", {"notes": "Réécrit"}),
        (f"{base}ordre-du-jour/{item.pk}/decision/", {"text": "Nouvelle décision"}),
        (f"{base}ordre-du-jour/sujet/", {"title": "Ajout"}),
        (f"{base}presences/", {f"invitation-{invitation.pk}": "absent"}),
        (f"{base}externes/", {"name": "X", "institution": "Y"}),
        (f"{base}approbation/", {}),
        (f"{base}relecture/", {"review_until": timezone.localdate().isoformat()}),
    ):
        response = client.post(url, data)
        assert response.status_code == 302, url
    item.refresh_from_db()
    invitation.refresh_from_db()
    assert item.notes == "Situation stable."
    assert Decision.objects.count() == 1 and AgendaItem.objects.count() == 1
    assert invitation.attendance == "present"
    assert MinutesDocument.objects.count() == 1
    # The models refuse it too, behind the actions.
    item.notes = "Réécrit"
    with pytest.raises(ValidationError):
        item.save()
    fresh = Meeting.objects.get(pk=meeting.pk)
    fresh.place = "Ailleurs"
    with pytest.raises(ValidationError):
        fresh.save()
    with pytest.raises(ValidationError):
        Decision.objects.get().delete()
    # An action item's status is follow-up: it may still change.
    action = meeting.action_items.get()
    actions.do_set_action_status(action, status="done", acting_user=world.member)


@pytest.mark.django_db
def test_addendum_after_approval_keeps_the_original_and_makes_a_new_version(
    as_user, world, held, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        meeting = approved(world, held)
    client = as_user(world.referent)
    client.post(f"/reunions/{meeting.pk}/additif/", {"reason": "", "text": "x"})
    assert not MinutesAddendum.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/reunions/{meeting.pk}/additif/",
            {"reason": "Erreur de date", "text": "Le suivi commence en avril."},
        )
    addendum = MinutesAddendum.objects.get()
    assert addendum.author == world.referent
    versions = {d.version: d for d in MinutesDocument.objects.all()}
    assert set(versions) == {1, 2}
    assert all(d.state == MinutesDocument.State.READY for d in versions.values())
    first = "\n".join(pdf_text(stored(versions[1])))
    second = "\n".join(pdf_text(stored(versions[2])))
    assert "Le suivi commence en avril." not in first
    assert "Le suivi commence en avril." in second and "Erreur de date" in second
    assert second.index("suivi social décidé") < second.index("Le suivi commence en avril.")
    with pytest.raises(ValidationError):
        addendum.text = "changé"
        addendum.save()
    # Before approval there is no addendum: the draft is corrected directly.
    other = hold(plan(world), world.referent)
    with pytest.raises(ValidationError):
        actions.do_add_addendum(other, reason="r", text="t", acting_user=world.referent)
    # Members read the addenda, they do not write them.
    response = as_user(world.member).post(
        f"/reunions/{meeting.pk}/additif/", {"reason": "r", "text": "t"}
    )
    assert response.status_code == 404


@pytest.mark.django_db
def test_pdf_is_french_a4_paged_pseudonymised_pdfa_and_stamped_for_each_reader(
    as_user, world, held, referral, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        meeting = approved(world, held)
    document = MinutesDocument.objects.get()
    assert document.state == MinutesDocument.State.READY and document.pages >= 1
    original = stored(document)
    import hashlib

    assert hashlib.sha256(original).hexdigest() == document.sha256
    reader = PdfReader(io.BytesIO(original))
    # PDF/A identification in the XMP metadata, and an output intent (sRGB).
    metadata = reader.trailer["/Root"]["/Metadata"].get_object().get_data()
    assert b"pdfaid:part" in metadata
    assert "/OutputIntents" in reader.trailer["/Root"]
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4 in points
    pages = pdf_text(original)
    text = "\n".join(pages)
    assert label(referral, meeting.local_day) in text.replace("\n", " ")
    assert referral.reference in text
    assert "Dupont" not in text and "Jeanne" not in text
    assert "Claire Martin" in text and "Éducation nationale" in text
    assert "suivi social décidé" in text and "Rencontrer la famille" in text
    for number, page in enumerate(pages, start=1):
        assert "Diffusion restreinte — Confidentiel" in page
        assert f"page {number} / {len(pages)}" in page

    response = step_up(as_user(world.member)).get(f"/reunions/{meeting.pk}/pdf/{document.pk}/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    stamped = b"".join(response.streaming_content)
    stamped_pages = pdf_text(stamped)
    assert len(stamped_pages) == len(pages)
    name = world.member.get_full_name()
    for page in stamped_pages:
        assert "Exemplaire nominatif de" in page and name in page
    document.refresh_from_db()
    assert stored(document) == original  # the stored copy never changes
    entry = AuditEntry.objects.filter(event=Event.EXPORT, actor=world.member).latest("pk")
    assert entry.additional_data["what"] == "minutes_pdf"
    assert entry.additional_data["sha256"] == document.sha256
    # Everyone else: 404, even with the document's id.
    for persona in ("member_without_grant", "dpo", "admin", "coordinator", "other_referent"):
        client = as_user(getattr(world, persona))
        assert client.get(f"/reunions/{meeting.pk}/pdf/{document.pk}/").status_code == 404


@pytest.mark.django_db
def test_attendance_sheet_before_the_meeting(as_user, world):
    meeting = plan(world)
    actions.do_add_external(
        meeting, name="Paul Roux", institution="Conseil départemental", acting_user=world.referent
    )
    response = step_up(as_user(world.referent)).get(f"/reunions/{meeting.pk}/emargement/")
    assert response.status_code == 200
    text = "\n".join(pdf_text(b"".join(response.streaming_content)))
    assert "Feuille d'émargement" in text and "Paul Roux" in text
    assert world.member.get_full_name() in text
    entry = AuditEntry.objects.filter(event=Event.EXPORT, actor=world.referent).latest("pk")
    assert entry.additional_data["what"] == "attendance_sheet"


@pytest.mark.django_db
def test_the_pdf_fetcher_refuses_local_files_and_internal_addresses(world, held, monkeypatch):
    import weasyprint.urls

    fetched = []
    original = weasyprint.urls.URLFetcher.fetch

    def spy(self, url, *args, **kwargs):
        fetched.append(url)
        return original(self, url, *args, **kwargs)

    monkeypatch.setattr(weasyprint.urls.URLFetcher, "fetch", spy)
    item = AgendaItem.objects.get(meeting=held)
    actions.do_save_notes(
        item,
        notes='<img src="file:///etc/passwd"> <img src="http://169.254.169.254/latest/"> '
        '<link rel="stylesheet" href="http://127.0.0.1:6379/">',
        acting_user=world.referent,
    )
    meeting = approved(world, held)
    document = MinutesDocument.objects.get(meeting=meeting)
    assert tasks.build_document(document.pk) is True
    document.refresh_from_db()
    text = "\n".join(pdf_text(stored(document)))
    assert "root:" not in text
    # Notes are escaped text: no tag reaches WeasyPrint, so nothing is even asked for.
    assert not [url for url in fetched if "passwd" in url or "169.254" in url or "6379" in url]
    # And the fetcher itself refuses them when a template would name them.
    from cmer.pdf import _make_fetcher

    fetcher = _make_fetcher()
    for url in ("file:///etc/passwd", "http://169.254.169.254/", "http://127.0.0.1:6379/"):
        with pytest.raises(ValueError):
            fetcher.fetch(url)


@pytest.mark.django_db
def test_pdf_task_is_idempotent_and_a_failure_is_shown_to_the_chair(
    as_user, world, held, monkeypatch, django_capture_on_commit_callbacks
):
    from django.db import IntegrityError, transaction

    meeting = approved(world, held)  # on_commit not run: the PDF is still pending
    document = MinutesDocument.objects.get()
    assert document.state == MinutesDocument.State.PENDING
    page = as_user(world.referent).get(f"/reunions/{meeting.pk}/").content.decode()
    assert 'data-testid="document-pending"' in page
    assert tasks.build_minutes_pdf.apply(args=[document.pk]).get() is True
    first = MinutesDocument.objects.get()
    assert tasks.build_minutes_pdf.apply(args=[document.pk]).get() is False  # run twice
    assert MinutesDocument.objects.get().file.name == first.file.name
    with pytest.raises(IntegrityError), transaction.atomic():
        MinutesDocument.objects.create(meeting=meeting, version=1, requested_by=world.referent)
    assert tasks.build_minutes_pdf.name == "meetings.build_minutes_pdf"
    assert tasks.build_minutes_pdf.acks_late is True
    from django.conf import settings

    visibility = settings.CELERY_VISIBILITY_TIMEOUT
    assert tasks.build_minutes_pdf.time_limit < visibility

    # A failure: stored, shown to the chair, who asks again.
    with django_capture_on_commit_callbacks(execute=True):
        actions.do_add_addendum(meeting, reason="r", text="t", acting_user=world.referent)
    second = MinutesDocument.objects.get(version=2)
    assert second.state == MinutesDocument.State.READY
    broken = MinutesDocument.objects.create(meeting=meeting, version=3, requested_by=world.referent)

    def boom(*args, **kwargs):
        raise RuntimeError("render failed")

    monkeypatch.setattr("meetings.documents.render_minutes", boom)
    with pytest.raises(RuntimeError):
        tasks.build_minutes_pdf.apply(args=[broken.pk], throw=True)
    broken.refresh_from_db()
    assert broken.state == MinutesDocument.State.FAILED and broken.error == "RuntimeError"
    page = as_user(world.referent).get(f"/reunions/{meeting.pk}/").content.decode()
    assert 'data-testid="document-failed"' in page
    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        as_user(world.referent).post(f"/reunions/{meeting.pk}/pdf/{broken.pk}/relancer/")
    broken.refresh_from_db()
    assert broken.state == MinutesDocument.State.READY
    assert (
        as_user(world.member).post(f"/reunions/{meeting.pk}/pdf/{broken.pk}/relancer/").status_code
        == 404
    )


@pytest.mark.django_db
def test_approval_commits_when_the_broker_is_down_and_the_pdf_follows(
    as_user, world, held, monkeypatch, django_capture_on_commit_callbacks
):
    """Broker unreachable at approval: the approval commits quickly, the PDF shows "en
    préparation", and the outbox's resend job builds it once the broker is back."""
    import time

    from cmer.celery import app
    from cmer.outbox.models import QueuedTask
    from cmer.queue import resend_unsent

    all_present(held, world.referent)
    actions.do_send_for_review(held, review_until=timezone.localdate(), acting_user=world.referent)
    app.conf.task_always_eager = False  # restored by the autouse fixture

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(app, "send_task", broker_down)
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(world.referent).post(f"/reunions/{held.pk}/approbation/")
    assert time.monotonic() - started < 2
    assert response.status_code == 302
    held.refresh_from_db()
    assert held.is_locked
    queued = QueuedTask.objects.get(task_name="meetings.build_minutes_pdf")
    assert queued.sent_at is None and queued.last_error == "ConnectionRefusedError"
    page = as_user(world.member).get(f"/reunions/{held.pk}/").content.decode()
    assert 'data-testid="document-pending"' in page
    # The broker is back: the beat job sends it, a worker builds it.
    monkeypatch.setattr(
        app, "send_task", lambda name, args, **kw: app.tasks[name].apply(args=args, throw=True)
    )
    assert resend_unsent(older_than=datetime.timedelta(0)) >= 1
    assert MinutesDocument.objects.get().state == MinutesDocument.State.READY


@pytest.mark.django_db
def test_a_pdf_left_pending_is_queued_again_by_beat(
    world, held, settings, django_capture_on_commit_callbacks
):
    import time_machine

    meeting = approved(world, held)  # on_commit not run: as if its worker was lost
    document = MinutesDocument.objects.get(meeting=meeting)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.requeue_stale_documents() == 0  # too recent: maybe still rendering
    later = timezone.now() + datetime.timedelta(minutes=11)
    with time_machine.travel(later), django_capture_on_commit_callbacks(execute=True):
        assert tasks.requeue_stale_documents() == 1
    document.refresh_from_db()
    assert document.state == MinutesDocument.State.READY
    entries = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "meetings.requeue_stale_documents" in entries


@pytest.mark.django_db
def test_a_chair_who_is_not_the_referent_reads_every_proposed_correction(as_user, world, referral):
    meeting = plan(world, chair=world.member)
    meeting = hold(meeting, world.referent)
    all_present(meeting, world.referent)
    actions.do_send_for_review(
        meeting, review_until=timezone.localdate(), acting_user=world.referent
    )
    actions.do_propose_correction(meeting, text="Préciser la date.", acting_user=world.liaison)
    assert (
        "Préciser la date."
        in as_user(world.member).get(f"/reunions/{meeting.pk}/").content.decode()
    )
    # Another invitee reads only their own.
    actions.do_propose_correction(meeting, text="Ajouter un point.", acting_user=world.member)
    page = as_user(world.liaison).get(f"/reunions/{meeting.pk}/").content.decode()
    assert "Préciser la date." in page and "Ajouter un point." not in page
