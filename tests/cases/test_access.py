"""Every cell of DESIGN.md's referral table, by role and by commune. Forbidden is 404."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission
from django.utils import timezone
from guardian.shortcuts import assign_perm

from cases import access, actions
from cases.models import (
    AccessReason,
    Attachment,
    Referral,
    ReferralUserObjectPermission,
    TimelineEntry,
)
from cmer.audit.models import AuditEntry, Event
from tests.cases.helpers import PDF_BYTES, file_referral
from tests.conftest import step_up


@pytest.fixture
def referral(world):
    return file_referral(
        world.agent, world.tarascon, attachments=[("piece.pdf", "application/pdf", PDF_BYTES)]
    )


def grant(referral, referent, member, *, contribute=False, days=30):
    return actions.do_grant_access(
        referral,
        member=member,
        contribute=contribute,
        reason="Suivi éducatif de la personne",
        expires_on=timezone.localdate() + datetime.timedelta(days=days),
        acting_user=referent,
    )


def urls(referral):
    attachment = Attachment.objects.filter(referral=referral).first()
    base = f"/signalements/{referral.pk}/"
    return {
        "detail": ("get", base),
        "attachment": ("get", f"{base}pieces/{attachment.pk}/"),
        "note": ("post", f"{base}notes/"),
        "status": ("post", f"{base}statut/"),
        "grant": ("post", f"{base}acces/"),
        "transmit": ("get", f"{base}transmission/"),
        "feedback": ("post", f"{base}retour-prefecture/"),
        "agent_feedback": ("post", f"{base}retour-agent/"),
        "archive_open": ("get", f"{base}archive/"),
    }


def status_of(client, method, url):
    return getattr(client, method)(url, {"text": "x", "kind": "note"}).status_code


OUTSIDERS = [
    "other_agent",
    "member_without_grant",
    "coordinator",
    "dpo",
    "admin",
    "other_referent",
    "liaison",  # not transmitted yet
    "other_department_liaison",
]


@pytest.mark.django_db
@pytest.mark.parametrize("persona", OUTSIDERS)
def test_every_url_is_404_for_people_who_may_not_see_the_referral(
    as_user, world, referral, persona, protocol
):
    client = as_user(getattr(world, persona))
    for name, (method, url) in urls(referral).items():
        assert status_of(client, method, url) == 404, (persona, name)
    # A guessed id answers exactly the same.
    assert client.get(f"/signalements/{referral.pk + 1000}/").status_code == 404


@pytest.mark.django_db
def test_superuser_admin_gets_404_and_no_admin_page_shows_referrals(as_user, world, referral):
    client = as_user(world.admin)
    assert client.get(f"/signalements/{referral.pk}/").status_code == 404
    assert client.get("/admin/").status_code == 200
    for path in (
        "/admin/cases/referral/",
        f"/admin/cases/referral/{referral.pk}/change/",
        "/admin/cases/attachment/",
        "/admin/cases/timelineentry/",
    ):
        assert client.get(path).status_code == 404, path
    listing = client.get("/signalements/").content.decode()
    assert referral.reference not in listing


@pytest.mark.django_db
def test_referent_reads_everything_of_the_commune_and_the_read_is_audited(as_user, world, referral):
    client = as_user(world.referent)
    page = client.get(f"/signalements/{referral.pk}/")
    html = page.content.decode()
    assert "Dupont" in html and "Propos justifiant" in html
    assert referral.reference in page.content.decode().split("<title>")[1].split("</title>")[0]
    assert "Dupont" not in html.split("<title>")[1].split("</title>")[0]
    entry = AuditEntry.objects.filter(event=Event.ACCESS, actor=world.referent).latest("pk")
    assert entry.object_pk == str(referral.pk) and entry.object_repr == referral.reference
    attachment = referral.attachments.get()
    # A download is an export: a fresh code first (tests/cases/test_attachment_download.py).
    response = step_up(client).get(f"/signalements/{referral.pk}/pieces/{attachment.pk}/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF_BYTES
    assert "attachment" in response["Content-Disposition"]
    assert "no-store" in response["Cache-Control"]
    reads = AuditEntry.objects.filter(event=Event.ACCESS, actor=world.referent)
    assert any((entry.additional_data or {}).get("what") == "download" for entry in reads)


@pytest.mark.django_db
def test_list_shows_own_commune_only(as_user, world, referral):
    other = file_referral(world.other_referent, world.miramas)
    html = as_user(world.referent).get("/signalements/").content.decode()
    assert referral.reference in html and other.reference not in html
    html = as_user(world.other_referent).get("/signalements/").content.decode()
    assert other.reference in html and referral.reference not in html


@pytest.mark.django_db
def test_member_sees_only_granted_referrals_until_expiry(as_user, world, referral):
    url = f"/signalements/{referral.pk}/"
    assert as_user(world.member).get(url).status_code == 404
    grant(referral, world.referent, world.member, days=3)
    assert as_user(world.member).get(url).status_code == 200
    assert as_user(world.member_without_grant).get(url).status_code == 404
    listing = as_user(world.member).get("/signalements/").content.decode()
    assert referral.reference in listing
    with time_machine.travel(timezone.now() + datetime.timedelta(days=5)):
        assert as_user(world.member).get(url).status_code == 404
        assert (
            referral.reference not in as_user(world.member).get("/signalements/").content.decode()
        )


@pytest.mark.django_db
def test_revoked_grant_takes_effect_on_the_next_request(as_user, world, referral):
    given = grant(referral, world.referent, world.member)
    client = as_user(world.member)
    assert client.get(f"/signalements/{referral.pk}/").status_code == 200
    response = as_user(world.referent).post(
        f"/signalements/{referral.pk}/acces/{given.pk}/retrait/", {"reason": "Fin du suivi"}
    )
    assert response.status_code == 302
    assert client.get(f"/signalements/{referral.pk}/").status_code == 404
    # The reason is kept encrypted (AccessReason); the trail names the row, never the text.
    revoke = AuditEntry.objects.get(event=Event.REVOKE)
    stated = AccessReason.objects.get(pk=revoke.additional_data["reason_id"])
    assert stated.reason == "Fin du suivi"
    assert "reason" not in AuditEntry.objects.get(event=Event.GRANT).additional_data


@pytest.mark.django_db
def test_read_grant_cannot_add_notes_contribute_grant_can(as_user, world, referral):
    grant(referral, world.referent, world.member)
    note = {"kind": "note", "text": "Vu en entretien."}
    assert (
        as_user(world.member).post(f"/signalements/{referral.pk}/notes/", note).status_code == 404
    )
    grant(referral, world.referent, world.member, contribute=True)
    assert (
        as_user(world.member).post(f"/signalements/{referral.pk}/notes/", note).status_code == 302
    )
    entry = TimelineEntry.objects.get(kind=TimelineEntry.Kind.NOTE)
    assert entry.author == world.member
    # Members never manage the referral.
    for path in ("statut/", "acces/", "transmission/", "retour-agent/"):
        assert as_user(world.member).post(f"/signalements/{referral.pk}/{path}").status_code == 404


@pytest.mark.django_db
def test_grants_only_to_members_of_the_commune_with_reason_and_future_expiry(
    as_user, world, referral
):
    client = as_user(world.referent)
    url = f"/signalements/{referral.pk}/acces/"
    tomorrow = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()
    yesterday = (timezone.localdate() - datetime.timedelta(days=1)).isoformat()
    client.post(url, {"member": world.agent.pk, "reason": "r", "expires_on": tomorrow})
    client.post(url, {"member": world.member.pk, "reason": "", "expires_on": tomorrow})
    client.post(url, {"member": world.member.pk, "reason": "r", "expires_on": yesterday})
    assert not ReferralUserObjectPermission.objects.exists()
    client.post(url, {"member": world.member.pk, "reason": "Besoin", "expires_on": tomorrow})
    assert ReferralUserObjectPermission.objects.get().user == world.member


@pytest.mark.django_db
def test_group_and_model_level_permissions_reveal_nothing(as_user, world, referral):
    group = Group.objects.create(name="cellule")
    world.member.groups.add(group)
    assign_perm("cases.view_referral", group, referral)
    world.member.user_permissions.add(Permission.objects.get(codename="view_referral"))
    group.permissions.add(Permission.objects.get(codename="contribute_referral"))
    assert as_user(world.member).get(f"/signalements/{referral.pk}/").status_code == 404
    assert not access.referrals_readable_by(world.member).exists()


@pytest.mark.django_db
def test_deleting_a_referral_leaves_no_permission_row(world):
    draft = file_referral(world.agent, world.tarascon, submit=False)
    ReferralUserObjectPermission.objects.create(
        content_object=draft,
        user=world.member,
        permission=Permission.objects.get(codename="view_referral"),
        reason="r",
        expires_at=timezone.now() + datetime.timedelta(days=1),
        granted_by=world.referent,
    )
    actions.do_discard_draft(draft, acting_user=world.agent)
    assert not ReferralUserObjectPermission.objects.exists()


@pytest.mark.django_db
def test_member_who_leaves_the_cell_loses_access(as_user, world, referral):
    grant(referral, world.referent, world.member)
    membership = world.member.memberships.get()
    membership.ends_on = timezone.localdate() - datetime.timedelta(days=1)
    membership.starts_on = membership.ends_on
    membership.save()
    assert as_user(world.member).get(f"/signalements/{referral.pk}/").status_code == 404


@pytest.mark.django_db
def test_status_workflow_and_closing_with_a_reason(as_user, world, referral):
    client = as_user(world.referent)
    url = f"/signalements/{referral.pk}/statut/"
    client.post(url, {"to_status": "closed"})  # no reason
    referral.refresh_from_db()
    assert referral.status == Referral.Status.SUBMITTED
    client.post(url, {"to_status": "in_assessment"})
    client.post(url, {"to_status": "closed", "close_reason": "no_further_action", "reason": "RAS"})
    referral.refresh_from_db()
    assert referral.status == Referral.Status.CLOSED
    assert referral.close_reason == "no_further_action" and referral.closed_at
    client.post(url, {"to_status": "in_assessment"})  # not a transition from closed
    referral.refresh_from_db()
    assert referral.status == Referral.Status.CLOSED
    statuses = list(referral.timeline.filter(kind="status").values_list("to_status", flat=True))
    assert statuses == ["submitted", "in_assessment", "closed"]


@pytest.mark.django_db
def test_timeline_is_append_only(world, referral):
    from django.core.exceptions import ValidationError

    entry = referral.timeline.first()
    entry.text = "changed"
    with pytest.raises(ValidationError):
        entry.save()


@pytest.mark.django_db
def test_archive_needs_a_reason_and_the_second_factor(as_user, world, referral):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from cmer.accounts.demo import current_code

    actions.do_change_status(
        referral, to_status="closed", close_reason="no_further_action", acting_user=world.referent
    )
    client = as_user(world.referent)
    client.post(f"/signalements/{referral.pk}/archiver/")
    referral.refresh_from_db()
    assert referral.status == Referral.Status.ARCHIVED
    assert client.get(f"/signalements/{referral.pk}/").status_code == 404
    assert referral.reference in client.get("/signalements/archives/").content.decode()
    assert (
        client.post(
            f"/signalements/{referral.pk}/archive/", {"reason": "Demande CNIL", "token": "000000"}
        ).status_code
        == 200
    )
    assert client.get(f"/signalements/{referral.pk}/").status_code == 404
    # django-otp throttles after a failed code: try again a little later.
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=5)):
        code = current_code(TOTPDevice.objects.get(user=world.referent))
        response = client.post(
            f"/signalements/{referral.pk}/archive/", {"reason": "Demande CNIL", "token": code}
        )
    assert response.status_code == 302
    page = client.get(f"/signalements/{referral.pk}/").content.decode()
    assert "Dupont" in page and "Archive consultée" in page
    read = AuditEntry.objects.get(event=Event.ARCHIVE_READ)
    assert AccessReason.objects.get(pk=read.additional_data["reason_id"]).reason == "Demande CNIL"
    # Other people never open an archive.
    for persona in ("other_referent", "member", "agent", "liaison"):
        assert (
            as_user(getattr(world, persona))
            .get(f"/signalements/{referral.pk}/archive/")
            .status_code
            == 404
        )


@pytest.mark.django_db
def test_referent_sees_who_accessed_the_referral(as_user, world, referral):
    grant(referral, world.referent, world.member)
    as_user(world.member).get(f"/signalements/{referral.pk}/")
    html = as_user(world.referent).get(f"/signalements/{referral.pk}/").content.decode()
    log = html.split('data-testid="access-log"')[1].split("</ul>")[0]
    assert world.member.email in log


@pytest.mark.django_db
def test_list_page_query_count_is_constant(as_user, world, django_assert_max_num_queries):
    for _ in range(3):
        file_referral(world.agent, world.tarascon)
    client = as_user(world.referent)
    with django_assert_max_num_queries(20) as small:
        client.get("/signalements/")
    for _ in range(25):
        file_referral(world.agent, world.tarascon)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get("/signalements/")
    assert response.content.decode().count("/signalements/") > 25
    member_client = as_user(world.member)
    for referral in Referral.objects.all()[:10]:
        grant(referral, world.referent, world.member)
    with django_assert_max_num_queries(len(small.captured_queries)):
        member_client.get("/signalements/")


@pytest.mark.django_db
def test_list_filters(as_user, world):
    urgent = file_referral(world.agent, world.tarascon, urgency="danger")
    normal = file_referral(world.agent, world.tarascon)
    client = as_user(world.referent)
    html = client.get("/signalements/?urgency=danger").content.decode()
    assert urgent.reference in html and normal.reference not in html
    html = client.get(f"/signalements/?reference={normal.reference[-4:]}").content.decode()
    assert normal.reference in html and urgent.reference not in html
    html = client.get("/signalements/?status=closed").content.decode()
    assert urgent.reference not in html
    assert client.get("/signalements/?since=not-a-date").status_code == 200
