"""Who sees what: coordinator of the commune (or department), referent/liaison for statistics
only, everyone else 404 — the same as a missing session."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cmer.accounts.models import Role
from cmer.audit.models import AuditEntry, Event
from tests.conftest import make_user
from training.models import AttendanceImport, AttestationBundle

from .factories import AttendanceFactory, ServiceHeadcountFactory, TrainingSessionFactory

pytestmark = pytest.mark.django_db

NOT_COORDINATORS = [
    "referent",
    "member",
    "agent",
    "liaison",
    "dpo",
    "admin",
    "other_referent",
    "other_department_liaison",
]
NO_STATS = ["member", "agent", "dpo", "admin"]


@pytest.fixture
def setup(world):
    session = TrainingSessionFactory(commune=world.tarascon, created_by=world.coordinator)
    attendance = AttendanceFactory(session=session)
    staged = AttendanceImport.objects.create(
        session=session,
        sha256="0" * 64,
        size=1,
        file_format="csv",
        file="training/imports/x.csv",
        created_by=world.coordinator,
    )
    bundle = AttestationBundle.objects.create(
        session=session, requested_by=world.coordinator, state="ready", file="training/b.zip"
    )
    headcount = ServiceHeadcountFactory(commune=world.tarascon)
    return {
        "session": session,
        "attendance": attendance,
        "import": staged,
        "bundle": bundle,
        "headcount": headcount,
    }


def object_urls(setup):
    s, a, i, b = setup["session"], setup["attendance"], setup["import"], setup["bundle"]
    return [
        ("get", reverse("training:detail", args=[s.pk])),
        ("get", reverse("training:edit", args=[s.pk])),
        ("post", reverse("training:mark_held", args=[s.pk])),
        ("get", reverse("training:import_upload", args=[s.pk])),
        ("post", reverse("training:bundle_request", args=[s.pk])),
        ("get", reverse("training:import_preview", args=[i.pk])),
        ("post", reverse("training:import_confirm", args=[i.pk])),
        ("get", reverse("training:import_status", args=[i.pk])),
        ("post", reverse("training:import_cancel", args=[i.pk])),
        ("get", reverse("training:import_file", args=[i.pk])),
        ("get", reverse("training:attendance_edit", args=[a.pk])),
        ("get", reverse("training:attestation_pdf", args=[a.pk])),
        ("get", reverse("training:bundle_download", args=[b.pk])),
        ("get", reverse("training:bundle_status", args=[b.pk])),
        ("get", reverse("training:sign_in_sheet", args=[s.pk, "csv"])),
        ("post", reverse("training:headcount_delete", args=[setup["headcount"].pk])),
    ]


@pytest.mark.parametrize("persona", NOT_COORDINATORS)
def test_everyone_but_the_coordinator_gets_404(world, as_user, setup, persona):
    client = as_user(getattr(world, persona))
    for method, url in object_urls(setup):
        response = getattr(client, method)(url)
        assert response.status_code == 404, (persona, url)
    for name in ("training:list", "training:create", "training:headcounts"):
        assert client.get(reverse(name)).status_code == 404, (persona, name)
    # The denial of an existing session is recorded.
    assert AuditEntry.objects.filter(
        event=Event.DENIED, object_pk=str(setup["session"].pk)
    ).exists()


def test_coordinator_of_another_commune_gets_404(world, as_user, setup):
    miramas_coordinator = make_user(
        "formation@miramas.test", Role.TRAINING_COORDINATOR, commune=world.miramas
    )
    client = as_user(miramas_coordinator)
    for method, url in object_urls(setup):
        assert getattr(client, method)(url).status_code == 404, url
    assert setup["session"].title not in client.get(reverse("training:list")).content.decode()


def test_coordinator_of_another_department_gets_404(world, as_user, setup):
    gard = make_user(
        "formation@pref30.test", Role.TRAINING_COORDINATOR, department=world.other_department
    )
    client = as_user(gard)
    for method, url in object_urls(setup):
        assert getattr(client, method)(url).status_code == 404, url


def test_department_coordinator_sees_every_commune_of_the_department(world, as_user, setup):
    dept = make_user(
        "formation@pref13.test", Role.TRAINING_COORDINATOR, department=world.department
    )
    miramas_session = TrainingSessionFactory(commune=world.miramas, created_by=dept)
    department_session = TrainingSessionFactory(department=world.department, created_by=dept)
    nimes_session = TrainingSessionFactory(commune=world.nimes, created_by=dept)
    client = as_user(dept)
    page = client.get(reverse("training:list")).content.decode()
    for visible in (setup["session"], miramas_session, department_session):
        assert visible.title in page
        assert client.get(reverse("training:detail", args=[visible.pk])).status_code == 200
    assert nimes_session.title not in page
    assert client.get(reverse("training:detail", args=[nimes_session.pk])).status_code == 404


def test_commune_coordinator_does_not_see_department_sessions(world, as_user, setup):
    department_session = TrainingSessionFactory(
        department=world.department, created_by=world.coordinator
    )
    client = as_user(world.coordinator)
    assert client.get(reverse("training:detail", args=[department_session.pk])).status_code == 404


def test_coordinator_reaches_every_page(world, as_user, setup):
    client = as_user(world.coordinator)
    s, a = setup["session"], setup["attendance"]
    for url in (
        reverse("training:list"),
        reverse("training:create"),
        reverse("training:detail", args=[s.pk]),
        reverse("training:edit", args=[s.pk]),
        reverse("training:import_upload", args=[s.pk]),
        reverse("training:import_preview", args=[setup["import"].pk]),
        reverse("training:attendance_edit", args=[a.pk]),
        reverse("training:headcounts"),
        reverse("training:stats"),
        reverse("training:verify"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "INVALID_TEMPLATE_VARIABLE" not in response.content.decode(), url


@pytest.mark.parametrize("guess", [0, 999_999, "abc"])
def test_guessed_ids_are_404(world, as_user, setup, guess):
    client = as_user(world.coordinator)
    for prefix in ("sessions", "imports", "presences", "lots"):
        url = f"/formations/{prefix}/{guess}/"
        assert client.get(url).status_code == 404, url


def test_wrong_method_is_405(world, as_user, setup):
    client = as_user(world.coordinator)
    s = setup["session"]
    assert client.get(reverse("training:mark_held", args=[s.pk])).status_code == 405
    assert client.get(
        reverse("training:import_confirm", args=[setup["import"].pk])
    ).status_code == (405)
    assert client.post(reverse("training:detail", args=[s.pk])).status_code == 405
    assert client.post(reverse("training:stats")).status_code == 405


@pytest.mark.parametrize("persona", ["coordinator", "referent", "liaison"])
def test_statistics_for_coordinator_referent_liaison(world, as_user, setup, persona):
    response = as_user(getattr(world, persona)).get(reverse("training:stats"))
    assert response.status_code == 200
    assert 'data-testid="total-people">1 personne formée' in response.content.decode()


@pytest.mark.parametrize("persona", NO_STATS)
def test_no_statistics_for_others(world, as_user, setup, persona):
    client = as_user(getattr(world, persona))
    for name in ("training:stats", "training:stats_export_csv", "training:stats_export_xlsx"):
        assert client.get(reverse(name)).status_code == 404


def test_statistics_stay_within_scope(world, as_user, setup):
    # Miramas' referent and the Gard liaison see none of Tarascon's people.
    for user in (world.other_referent, world.other_department_liaison):
        page = as_user(user).get(reverse("training:stats")).content.decode()
        assert 'data-testid="total-people">0 ' in page
    # A scope outside the user's is not a valid choice: it shows everything the user may see.
    page = as_user(world.other_referent).get(
        reverse("training:stats"), {"scope": f"c:{world.tarascon.pk}"}
    )
    assert 'data-testid="total-people">0 ' in page.content.decode()


def test_verification_page_is_open_to_anyone(world, as_user, client):
    for persona in ("agent", "member", "dpo", "admin", "liaison"):
        assert as_user(getattr(world, persona)).get(reverse("training:verify")).status_code == 200
    assert client.get(reverse("training:verify")).status_code == 200  # nobody logged in


def test_list_page_query_count(world, as_user, django_assert_max_num_queries):
    for index in range(15):
        session = TrainingSessionFactory(commune=world.tarascon, created_by=world.coordinator)
        for _ in range(index % 3):
            AttendanceFactory(session=session)
    client = as_user(world.coordinator)
    client.get(reverse("training:list"))  # warm up (session, OTP device)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("training:list"))
    assert response.status_code == 200
    assert response.content.decode().count('href="/formations/sessions/') >= 15
