"""seed_demo adds one held meeting with approved minutes and one planned meeting in Tarascon."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from meetings.models import Meeting, MinutesDocument


@pytest.mark.django_db
def test_seed_demo_adds_two_tarascon_meetings_once(settings, django_capture_on_commit_callbacks):
    settings.DEBUG = True
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", stdout=io.StringIO())
    meetings = Meeting.objects.filter(commune__name="Tarascon").order_by("starts_at")
    held, planned = list(meetings)
    assert held.status == Meeting.Status.HELD and held.is_locked
    assert planned.status == Meeting.Status.PLANNED
    assert held.agenda_items.filter(referral__isnull=False).count() == 1
    assert MinutesDocument.objects.get(meeting=held).state == MinutesDocument.State.READY
    call_command("seed_demo", stdout=io.StringIO())
    assert Meeting.objects.count() == 2
