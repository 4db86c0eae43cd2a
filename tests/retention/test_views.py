"""The DPO's retention page: only the DPO (others 404), upcoming expiries, legal hold, the age
rule's switch, certificates; bad input changes nothing."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from cases.models import LegalHold, Referral
from cmer.audit.models import AuditEntry
from cmer.retention import runner
from cmer.retention.models import AgeRuleChange, RetentionRun

from .helpers import at, closed

pytestmark = pytest.mark.django_db

URLS = [
    ("get", "/conservation/"),
    ("post", "/conservation/regle-des-25-ans/"),
    ("post", "/conservation/gels/"),
    ("post", "/conservation/certificats/verifier/"),
]
OTHERS = ("referent", "member", "agent", "liaison", "coordinator", "admin", "other_referent")


def a_run(world) -> RetentionRun:
    closed(world, at(2026, 3, 15))
    with time_machine.travel(at(2029, 4, 1), tick=False):
        return runner.apply().run


@pytest.mark.parametrize("persona", OTHERS)
def test_only_the_dpo_gets_in(as_user, world, persona):
    run = a_run(world)
    client = as_user(getattr(world, persona))
    for method, url in [*URLS, ("get", f"/conservation/certificats/{run.pk}.pdf")]:
        assert getattr(client, method)(url).status_code == 404, (persona, url)
    assert not AgeRuleChange.objects.exists() and not LegalHold.objects.exists()


def test_anonymous_goes_to_login_and_wrong_methods_are_refused(client, as_user, world):
    assert client.get("/conservation/").status_code == 302
    dpo = as_user(world.dpo)
    assert dpo.post("/conservation/").status_code == 405
    assert dpo.get("/conservation/gels/").status_code == 405
    assert dpo.get("/conservation/certificats/999.pdf").status_code == 404


def test_the_dpo_sees_rules_upcoming_expiries_and_holds(as_user, world):
    soon = closed(world, at(2023, 12, 20))  # archive ends 20 December 2026
    later = closed(world, at(2024, 6, 1))
    html = as_user(world.dpo).get("/conservation/").content.decode()
    assert "RETENTION_ARCHIVE_YEARS" in html and "3 ans après l&#x27;archivage" in html
    upcoming = html.split('data-testid="upcoming"')[1].split("</table>")[0]
    assert f"{soon.reference} (20/12/2026)" in upcoming
    assert later.reference not in upcoming
    assert "Dupont" not in html and "Gymnase" not in html


def test_upcoming_expiries_cost_the_same_queries_for_one_or_many(
    as_user, world, django_assert_max_num_queries
):
    client = as_user(world.dpo)
    closed(world, at(2023, 12, 20))
    client.get("/conservation/")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        client.get("/conservation/")
    for _ in range(4):
        closed(world, at(2023, 12, 20), birth_date=datetime.date(2002, 1, 1))
    with CaptureQueriesContext(connection) as five:
        client.get("/conservation/")
    assert len(five) == len(one), [q["sql"][:80] for q in five.captured_queries]
    assert len(one) <= 25


def test_a_legal_hold_is_placed_and_recorded(as_user, world):
    referral = closed(world, at(2026, 3, 15))
    until = timezone.localdate() + datetime.timedelta(days=200)
    response = as_user(world.dpo).post(
        "/conservation/gels/",
        {"reference": referral.reference.lower(), "reason": "Réquisition n° 12", "until": until},
    )
    assert response.status_code == 302
    hold = LegalHold.objects.get()
    assert hold.referral == referral and hold.until == until and hold.placed_by == world.dpo
    entry = AuditEntry.objects.filter(object_repr=referral.reference, changes__contains="until")
    assert entry.exists()
    assert "Réquisition" not in str(entry.get().changes)
    html = as_user(world.dpo).get("/conservation/").content.decode()
    assert referral.reference in html.split('data-testid="holds"')[1].split("</ul>")[0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"reason": "Réquisition", "until": "2030-01-01"}, "Ce champ est obligatoire"),
        ({"reference": "TAR-2026-0001", "until": "2030-01-01"}, "Ce champ est obligatoire"),
        ({"reference": "TAR-2026-0001", "reason": "Réquisition"}, "Ce champ est obligatoire"),
        (
            {"reference": "TAR-2026-0001", "reason": "Réquisition", "until": "2020-01-01"},
            "dans le futur",
        ),
        (
            {"reference": "TAR-2026-0001", "reason": "Réquisition", "until": "2060-01-01"},
            "au plus 10 ans",
        ),
        (
            {"reference": "NIM-2026-0001", "reason": "Réquisition", "until": "2030-01-01"},
            "Aucun signalement de votre département",
        ),
        ({"reference": "TAR-2026-0001", "reason": "   ", "until": "2030-01-01"}, "obligatoire"),
    ],
)
def test_a_bad_legal_hold_is_refused_and_nothing_changes(as_user, world, data, message):
    closed(world, at(2026, 3, 15))
    client = as_user(world.dpo)
    entries = AuditEntry.objects.count()
    response = client.post("/conservation/gels/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not LegalHold.objects.exists()
    assert AuditEntry.objects.count() == entries


def test_no_hold_on_an_anonymised_referral(as_user, world):
    a_run(world)
    referral = Referral.objects.get()
    response = as_user(world.dpo).post(
        "/conservation/gels/",
        {"reference": referral.reference, "reason": "Réquisition", "until": "2031-01-01"},
    )
    assert response.status_code == 400 and "déjà anonymisé" in response.content.decode()


def test_the_age_rule_is_switched_with_a_reason_in_the_trail(as_user, world):
    client = as_user(world.dpo)
    refused = client.post("/conservation/regle-des-25-ans/", {"enabled": "0", "reason": "court"})
    assert refused.status_code == 400 and "au moins 10 caractères" in refused.content.decode()
    again = client.post("/conservation/regle-des-25-ans/", {"enabled": "1", "reason": "x" * 20})
    assert again.status_code == 400 and "déjà appliquée" in again.content.decode()
    assert not AgeRuleChange.objects.exists()
    reason = "Délibération du conseil municipal du 3 mars"
    assert (
        client.post("/conservation/regle-des-25-ans/", {"enabled": "0", "reason": reason})
    ).status_code == 302
    change = AgeRuleChange.objects.get()
    assert change.enabled is False and change.changed_by == world.dpo
    entry = AuditEntry.objects.get(content_type__model="agerulechange")
    assert reason in str(entry.changes)
    html = client.get("/conservation/").content.decode()
    assert "Suspendue" in html and reason in html


def test_the_dpo_downloads_and_verifies_a_certificate(as_user, world):
    run = a_run(world)
    client = as_user(world.dpo)
    response = client.get(f"/conservation/certificats/{run.pk}.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert AuditEntry.objects.filter(
        event="export", additional_data__contains="retention_certificate"
    ).exists()
    upload = SimpleUploadedFile("c.pdf", response.content, content_type="application/pdf")
    html = client.post("/conservation/certificats/verifier/", {"document": upload})
    page = html.content.decode()
    assert "Certificat authentique" in page and "identique à celui conservé ici" in page
    forged = response.content.replace(b"rule=archive count=1", b"rule=archive count=7")
    upload = SimpleUploadedFile("c.txt", b"cmer-retention-v1-certificate\nrun=1\nmac=" + b"0" * 64)
    page = client.post("/conservation/certificats/verifier/", {"document": upload})
    assert "Le sceau ne correspond pas" in page.content.decode()
    assert forged  # the PDF's embedded text is compressed: the text forgery above is the test
    page = client.post("/conservation/certificats/verifier/", {})
    assert page.status_code == 400


def test_a_dpo_of_another_department_sees_and_holds_nothing_of_this_one(as_user, world):
    from cmer.accounts.models import Role
    from tests.conftest import make_user

    other_dpo = make_user("dpo@pref30.test", Role.DPO, department=world.other_department)
    soon = closed(world, at(2023, 12, 20))
    client = as_user(other_dpo)
    html = client.get("/conservation/").content.decode()
    assert soon.reference not in html
    response = client.post(
        "/conservation/gels/",
        {"reference": soon.reference, "reason": "Réquisition", "until": "2031-01-01"},
    )
    assert response.status_code == 400
    assert "Aucun signalement de votre département" in response.content.decode()
    assert not LegalHold.objects.exists()


def test_every_label_points_at_its_own_field(as_user, world):
    """Several forms on one page share field names ("reason"; one lift form per hold): ids stay
    unique, before and after a refusal, so a label never names another form's field."""
    import re
    from collections import Counter

    client = as_user(world.dpo)
    holds = [
        LegalHold.objects.create(
            referral=closed(world, at(2026, 3, 15)),
            reason="Réquisition",
            until=datetime.date(2030, 1, 1),
            placed_by=world.dpo,
        )
        for _ in range(2)
    ]
    lift = f"/conservation/gels/{holds[0].pk}/lever/"
    pages = [
        client.get("/conservation/").content.decode(),
        client.post("/conservation/gels/", {"reference": "TAR-2026-0001"}).content.decode(),
        client.post(lift, {"reason": ""}).content.decode(),
    ]
    for html in pages:
        ids = Counter(re.findall(r'\sid="([^"]+)"', html))
        assert [name for name, count in ids.items() if count > 1] == []
        for target in re.findall(r'<label for="([^"]+)"', html):
            assert ids[target] == 1, target
