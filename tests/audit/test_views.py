"""The DPO's pages: department scope, 404 for everyone else, exports recorded and CSV-safe."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from cmer.audit.core import entries_for_object, record_access, record_event
from cmer.audit.models import AuditEntry, Event
from cmer.audit.views import safe_cell
from tests.audit.helpers import make_entries
from tests.conftest import login, step_up

pytestmark = pytest.mark.django_db

SEARCH = reverse("audit:search")
INTEGRITY = reverse("audit:integrity")
CHECKPOINTS = reverse("audit:checkpoints")
CSV = reverse("audit:export", args=["csv"])
PDF = reverse("audit:export", args=["pdf"])


def test_commune_is_filled_from_the_target(world):
    # A commune's own entries carry no commune_id attribute of their own: given explicitly here.
    entry = record_event(
        Event.ACCESS, actor=world.referent, target=world.referent, commune=world.tarascon
    )
    assert entry.commune_id == world.tarascon.pk
    membership = world.referent.memberships.first()
    membership.service = "Police municipale"
    membership.save()  # django-auditlog's log_create: commune taken from membership.commune_id
    change = AuditEntry.objects.filter(object_pk=str(membership.pk), event=Event.CHANGE).latest(
        "id"
    )
    assert change.commune_id == world.tarascon.pk


@pytest.mark.parametrize(
    "persona",
    ["referent", "member", "agent", "liaison", "coordinator", "admin", "other_referent",
     "other_department_liaison"],
)  # fmt: skip
def test_everyone_but_the_dpo_gets_404(world, as_user, persona):
    client = as_user(getattr(world, persona))
    for url in (SEARCH, INTEGRITY, CHECKPOINTS):
        assert client.get(url).status_code == 404
    for url in (CSV, PDF):
        assert client.post(url).status_code == 404
    assert not AuditEntry.objects.filter(event=Event.EXPORT).exists()


def test_anonymous_goes_to_login(client):
    response = client.get(SEARCH)
    assert response.status_code == 302
    assert response["Location"].startswith("/comptes/connexion/")


def test_wrong_methods(world, as_user):
    client = as_user(world.dpo)
    assert client.post(SEARCH).status_code == 405
    assert client.get(CSV).status_code == 405
    assert client.post(reverse("audit:export", args=["xls"])).status_code == 404


def test_dpo_sees_the_department_only(world, as_user):
    make_entries(1, actor=world.dpo)
    world.tarascon.name = "Tarascon-sur-Rhône"
    world.tarascon.save()
    tarascon = record_event(
        Event.ACCESS, actor=world.referent, target=world.tarascon, commune=world.tarascon
    )
    miramas = record_event(
        Event.ACCESS, actor=world.other_referent, target=world.miramas, commune=world.miramas
    )
    nimes = record_event(
        Event.ACCESS, actor=world.other_department_liaison, target=world.nimes, commune=world.nimes
    )
    login_other = record_event(
        Event.LOGIN, actor=world.other_department_liaison, target=world.other_department_liaison
    )
    login_own = record_event(Event.LOGIN, actor=world.referent, target=world.referent)
    failed_own = record_event(
        Event.LOGIN_FAILED, target_model=type(world.referent), target_pk=world.referent.pk
    )

    from cmer.audit.access import entries_visible_to

    visible = set(entries_visible_to(world.dpo).values_list("pk", flat=True))
    assert {tarascon.pk, miramas.pk, login_own.pk, failed_own.pk} <= visible
    assert nimes.pk not in visible
    assert login_other.pk not in visible
    assert not entries_visible_to(world.referent).exists()
    assert not entries_visible_to(world.other_department_liaison).exists()

    response = as_user(world.dpo).get(SEARCH, {"event": "access"})
    assert response.status_code == 200
    ids = {row["id"] for row in response.context["rows"]}
    assert tarascon.pk in ids and nimes.pk not in ids


def test_search_by_reference_user_dates_and_event(world, as_user):
    world.tarascon.name = "TAR-2026-0007"  # object_repr = reference, as for cases.Referral
    seen = record_event(
        Event.ACCESS, actor=world.referent, target=world.tarascon, commune=world.tarascon
    )
    record_event(Event.ACCESS, actor=world.member, target=world.miramas, commune=world.tarascon)
    client = as_user(world.dpo)
    rows = client.get(SEARCH, {"reference": "tar-2026-0007"}).context["rows"]
    assert [row["id"] for row in rows] == [seen.pk]
    assert rows[0]["actor"] == world.referent.email
    rows = client.get(SEARCH, {"actor": world.member.pk, "event": "access"}).context["rows"]
    assert len(rows) == 1 and rows[0]["actor"] == world.member.email
    # The search is by day in Paris time: at 23:30 UTC the entry is already tomorrow there.
    today = timezone.localdate(seen.timestamp).isoformat()
    assert client.get(SEARCH, {"start": today, "end": today, "event": "access"}).context["rows"]
    assert not client.get(SEARCH, {"start": "2020-01-01", "end": "2020-01-02"}).context["rows"]
    invalid = client.get(SEARCH, {"start": "2020-01-02", "end": "2020-01-01"})
    assert invalid.context["rows"] == []


def test_pagination_without_count(world, as_user):
    for _ in range(55):
        record_event(
            Event.ACCESS, actor=world.referent, target=world.tarascon, commune=world.tarascon
        )
    client = as_user(world.dpo)
    first = client.get(SEARCH, {"event": "access"})
    assert len(first.context["rows"]) == 50 and first.context["has_next"]
    second = client.get(SEARCH, {"event": "access", "page": 2})
    assert len(second.context["rows"]) == 5 and not second.context["has_next"]


def test_csv_export_is_recorded_and_formula_safe(world, as_user):
    world.tarascon.name = '=HYPERLINK("http://evil")'
    record_event(Event.ACCESS, actor=world.referent, target=world.tarascon, commune=world.tarascon,
                 data={"what": "+cmd|' /C calc'!A0"})  # fmt: skip
    response = step_up(as_user(world.dpo)).post(CSV, {"event": "access"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(body)))
    cells = [cell for row in rows[1:] for cell in row]
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    assert any(cell.startswith("'=HYPERLINK") or "=HYPERLINK" in cell for cell in cells)
    export = AuditEntry.objects.get(event=Event.EXPORT)
    assert export.actor == world.dpo
    assert export.additional_data["what"] == "audit_csv"
    assert export.additional_data["event"] == "access"


@pytest.mark.parametrize("value", ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_safe_cell_neutralises_formulas(value):
    assert safe_cell(value) == "'" + value
    assert safe_cell("TAR-2026-0007") == "TAR-2026-0007"


def test_pdf_export_is_prepared_by_the_worker(world, as_user, django_capture_on_commit_callbacks):
    """No request renders the PDF: it is queued, the page says "en préparation", then offers
    the download (tasks run in-process here, on commit)."""
    from cmer.audit.models import AuditExport

    record_event(Event.ACCESS, actor=world.referent, target=world.tarascon, commune=world.tarascon)
    client = step_up(as_user(world.dpo))
    response = client.post(PDF, {})
    prepared = AuditExport.objects.get()
    assert response.status_code == 302
    assert prepared.status == AuditExport.Status.PENDING  # nothing rendered in the request
    page = client.get(response["Location"]).content.decode()
    assert 'data-testid="export-pending"' in page and 'http-equiv="refresh"' in page
    from cmer.audit import tasks

    tasks.render_pdf_export(prepared.pk)
    page = client.get(response["Location"]).content.decode()
    assert 'data-testid="export-ready"' in page
    download = client.get(reverse("audit:export_download", args=[prepared.pk]))
    assert download["Content-Type"] == "application/pdf"
    assert download.content.startswith(b"%PDF")
    whats = list(
        AuditEntry.objects.filter(event=Event.EXPORT).values_list("additional_data", flat=True)
    )
    assert {w["what"] for w in whats} == {"audit_pdf", "audit_pdf_download"}


def test_integrity_page_and_checkpoint_download(world, as_user):
    from django.core.management import call_command

    call_command("verify_audit", stdout=io.StringIO())
    call_command("audit_checkpoint", stdout=io.StringIO())
    client = as_user(world.dpo)
    page = client.get(INTEGRITY)
    assert page.status_code == 200
    assert page.context["verification"].ok
    assert b"Cha\xc3\xaene intacte" in page.content
    download = client.get(CHECKPOINTS)
    assert download.status_code == 200
    line = download.content.decode().strip().splitlines()[-1]
    assert line.startswith("cmer-audit-v1-checkpoint kind=manual") and " mac=" in line
    assert AuditEntry.objects.filter(event=Event.EXPORT, actor=world.dpo).exists()


def test_entries_for_object_newest_first(world):
    first = record_access(None, world.tarascon, actor=world.referent)
    second = record_access(None, world.tarascon, actor=world.member)
    record_access(None, world.miramas, actor=world.member)
    entries = list(entries_for_object(world.tarascon, events=[Event.ACCESS]))
    assert [e.pk for e in entries] == [second.pk, first.pk]


def test_admin_does_not_show_the_trail(world):
    from django.contrib import admin

    assert not admin.site.is_registered(AuditEntry)
    client = login(__import__("django.test", fromlist=["Client"]).Client(), world.admin)
    assert client.get("/admin/audit/auditentry/").status_code == 404
    assert client.get("/admin/auditlog/logentry/").status_code == 404


def test_integrity_page_counts_pending_entries_and_warns_when_sealing_stopped(world, as_user):
    import datetime

    from django.utils import timezone

    from tests.audit.helpers import recorded_at, seal

    seal()
    client = as_user(world.dpo)
    url = reverse("audit:integrity")
    with recorded_at(timezone.now() - datetime.timedelta(minutes=10)):
        record_event(Event.ACCESS, actor=world.dpo, data={"what": "old"})
    page = client.get(url).content.decode()
    assert 'data-testid="pending-stale"' in page  # recorded 10 min ago and still not chained
    seal()
    page = client.get(url).content.decode()
    assert 'data-testid="pending-stale"' not in page
    assert 'data-testid="pending-count"' in page


def test_dpo_sees_the_department_role_requested_by_the_administrator(world, as_user):
    """Four-eyes on a department role: the request has no commune, yet the department's DPO
    answers "who asked for what" from the trail; another department's request stays out."""
    from cmer.accounts.memberships import do_save_membership_request
    from cmer.accounts.models import Membership, Role
    from tests.factories import DepartmentFactory, UserFactory

    newcomer = UserFactory(email="nouveau.liaison@pref13.test")
    ours = do_save_membership_request(
        Membership(user=newcomer, role=Role.LIAISON, department=world.tarascon.department),
        acting_user=world.admin,
    )
    elsewhere = do_save_membership_request(
        Membership(user=UserFactory(), role=Role.LIAISON, department=DepartmentFactory(code="84")),
        acting_user=world.admin,
    )
    rows = as_user(world.dpo).get(SEARCH, {"event": "grant"}).context["rows"]
    shown = {entry.object_pk for entry in AuditEntry.objects.filter(pk__in=[r["id"] for r in rows])}
    assert str(ours.pk) in shown
    assert str(elsewhere.pk) not in shown
