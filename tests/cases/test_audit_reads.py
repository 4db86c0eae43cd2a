"""Every read of decrypted content is recorded (drafts included); masking in the trail comes from
the field types; reasons of grants, revokes and archive openings are stored encrypted and never
reach the trail in clear."""

from __future__ import annotations

import datetime

import pytest
from auditlog.registry import auditlog
from django.apps import apps
from django.db import connection
from django.test.utils import isolate_apps
from django.utils import timezone

from cases import actions
from cases.models import AccessReason, Referral, ReferralUserObjectPermission
from cmer.audit.core import MASK, register, sensitive_fields
from cmer.audit.models import AuditEntry, Event
from cmer.crypto import PREFIX, EncryptedTextField
from tests.cases.helpers import file_referral, form_data

pytestmark = pytest.mark.django_db

SECRET_REASON = "Suivi éducatif de Jeanne Dupont par le club"


def test_the_author_reading_a_draft_through_the_edit_page_is_recorded(world, as_user):
    draft = file_referral(world.agent, world.tarascon, submit=False)
    before = AuditEntry.objects.filter(event=Event.ACCESS, object_pk=str(draft.pk)).count()
    page = as_user(world.agent).get(f"/signalements/{draft.pk}/brouillon/")
    assert page.status_code == 200
    assert "Dupont" in page.content.decode()  # decrypted identity on the page
    reads = AuditEntry.objects.filter(event=Event.ACCESS, object_pk=str(draft.pk))
    assert reads.count() == before + 1
    read = reads.order_by("-id").first()
    assert read.actor == world.agent
    assert read.additional_data == {"what": "draft"}
    assert "Dupont" not in str(read.additional_data) + read.object_repr


def test_no_encrypted_or_declared_sensitive_field_reaches_the_trail_in_clear():
    """Walks every model: an audited model's encrypted (or declared sensitive) fields are all
    masked or excluded, so a new encrypted field is masked without anyone listing it."""
    problems = []
    for model in apps.get_models():
        risky = sensitive_fields(model)
        if not risky or not auditlog.contains(model):
            continue
        meta = auditlog.get_model_fields(model)
        hidden = set(meta["mask_fields"]) | set(meta["exclude_fields"])
        problems += [f"{model._meta.label}.{name}" for name in sorted(risky - hidden)]
    assert problems == []
    # At least the referral's identity and facts are covered by the walk.
    assert {"surname", "facts"} <= sensitive_fields(Referral)


@isolate_apps("cases")
def test_a_new_encrypted_field_is_masked_without_being_listed():
    """register() derives the mask from the field type: a model with a new encrypted field and
    no list at all still writes "[masqué]"; a declared clear field too."""
    from django.db import models

    class Probe(models.Model):
        secret = EncryptedTextField(blank=True)
        nickname = models.CharField(max_length=20, blank=True)
        label = models.CharField(max_length=20, blank=True)
        audit_sensitive_fields = ("nickname",)

        class Meta:
            app_label = "cases"

    try:
        register(Probe)
        masked = set(auditlog.get_model_fields(Probe)["mask_fields"])
        assert masked == {"secret", "nickname"}
    finally:
        auditlog.unregister(Probe)


def test_referral_content_is_masked_in_the_trail(world):
    referral = file_referral(world.agent, world.tarascon, submit=False)
    entry = AuditEntry.objects.filter(object_pk=str(referral.pk), event=Event.CHANGE).first()
    assert MASK in str(entry.changes["surname"])
    assert "Dupont" not in str(entry.changes)
    assert "name_index" not in entry.changes


def _trail_text() -> str:
    rows = AuditEntry.objects.values_list("object_repr", "changes", "additional_data")
    return " ".join(str(value) for row in rows for value in row)


@pytest.fixture
def submitted(world):
    return file_referral(world.agent, world.tarascon)


def test_grant_and_revoke_reasons_are_encrypted_and_masked(world, submitted):
    grant = actions.do_grant_access(
        submitted,
        member=world.member,
        contribute=False,
        reason=SECRET_REASON,
        expires_on=timezone.localdate() + datetime.timedelta(days=30),
        acting_user=world.referent,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reason FROM cases_referraluserobjectpermission WHERE id = %s", [grant.pk]
        )
        assert cursor.fetchone()[0].startswith(PREFIX)
    assert ReferralUserObjectPermission.objects.get(pk=grant.pk).reason == SECRET_REASON
    actions.do_revoke_access(grant, reason=SECRET_REASON + " (fin)", acting_user=world.referent)
    stated = AccessReason.objects.get(kind=AccessReason.Kind.REVOKE)
    assert stated.reason == SECRET_REASON + " (fin)"
    revoke = AuditEntry.objects.get(event=Event.REVOKE)
    assert revoke.additional_data["reason_id"] == stated.pk
    assert "Dupont" not in _trail_text()
    assert SECRET_REASON not in _trail_text()


def test_archive_opening_and_transmission_reasons_never_reach_the_trail(
    world, submitted, rf, protocol
):
    from django.contrib.sessions.backends.db import SessionStore

    referral = actions.do_change_status(
        submitted, to_status="in_assessment", acting_user=world.referent
    )
    actions.do_transmit(referral, items=["facts"], reason=SECRET_REASON, acting_user=world.referent)
    request = rf.get("/")
    request.user = world.referent
    request.session = SessionStore()
    actions.do_open_archive(request, referral, reason=SECRET_REASON + " (archive)")
    stated = AccessReason.objects.get(kind=AccessReason.Kind.ARCHIVE_OPEN)
    assert stated.reason.endswith("(archive)")
    opened = AuditEntry.objects.get(event=Event.ARCHIVE_READ)
    assert opened.additional_data == {"reason_id": stated.pk}
    assert SECRET_REASON not in _trail_text()


def test_the_edit_form_post_with_errors_reads_nothing_from_the_database(world, as_user):
    draft = file_referral(world.agent, world.tarascon, submit=False)
    before = AuditEntry.objects.filter(event=Event.ACCESS, object_pk=str(draft.pk)).count()
    data = form_data(facts="")
    data["submit"] = "1"
    as_user(world.agent).post(f"/signalements/{draft.pk}/brouillon/", data)
    after = AuditEntry.objects.filter(event=Event.ACCESS, object_pk=str(draft.pk)).count()
    assert after == before  # the page shows what was posted, not the stored draft
