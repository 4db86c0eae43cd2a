"""Who may see and manage which convention: referent (own commune), liaison (own department);
everyone else gets 404, like a missing row. List pages cost a fixed number of queries."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from cmer.accounts.models import Role
from cmer.audit.models import AuditEntry
from conventions.models import Convention
from tests.conftest import make_user

from .factories import (
    CharterAcknowledgementFactory,
    CharterVersionFactory,
    ConventionFactory,
    SignatoryFactory,
    SignedDocumentFactory,
)

MANAGERS = ["referent", "liaison"]
OUTSIDERS = [
    "member",
    "member_without_grant",
    "agent",
    "coordinator",
    "dpo",
    "admin",
    "other_referent",
    "other_department_liaison",
]


@pytest.fixture
def tarascon(world):
    convention = ConventionFactory(
        commune=world.tarascon, status=Convention.Status.AWAITING_SIGNATURES
    )
    SignatoryFactory(convention=convention)
    return convention


def object_urls(convention, document, signatory):
    pk = convention.pk
    return {
        "get": [
            reverse("conventions:detail", args=[pk]),
            reverse("conventions:edit", args=[pk]),
            reverse("conventions:document_download", args=[pk, document.pk]),
        ],
        "post": [
            reverse("conventions:signatory_add", args=[pk]),
            reverse("conventions:signatory_remove", args=[pk, signatory.pk]),
            reverse("conventions:signature", args=[pk, signatory.pk]),
            reverse("conventions:request_signatures", args=[pk]),
            reverse("conventions:mark_signed", args=[pk]),
            reverse("conventions:terminate", args=[pk]),
            reverse("conventions:non_renewal", args=[pk]),
            reverse("conventions:document_upload", args=[pk]),
        ],
    }


@pytest.mark.parametrize("persona", MANAGERS)
def test_managers_see_their_conventions(world, as_user, tarascon, persona):
    document = SignedDocumentFactory(convention=tarascon, version=1)
    client = as_user(getattr(world, persona))
    urls = object_urls(tarascon, document, tarascon.signatories.get())
    for url in urls["get"]:
        assert client.get(url).status_code in {200, 302}, url
    listing = client.get(reverse("conventions:list"))
    assert listing.status_code == 200
    assert tarascon.title in listing.content.decode()


@pytest.mark.parametrize("persona", OUTSIDERS)
def test_everyone_else_gets_404_everywhere(world, as_user, tarascon, persona):
    document = SignedDocumentFactory(convention=tarascon, version=1)
    signatory = tarascon.signatories.get()
    client = as_user(getattr(world, persona))
    urls = object_urls(tarascon, document, signatory)
    for url in urls["get"]:
        assert client.get(url).status_code == 404, url
    for url in urls["post"]:
        assert client.post(url, {"name": "x", "signed_on": "2026-01-01"}).status_code == 404, url
    tarascon.refresh_from_db()
    assert tarascon.status == Convention.Status.AWAITING_SIGNATURES
    assert tarascon.signatories.count() == 1
    assert tarascon.documents.count() == 1
    # The refusal of an existing convention is recorded, the response says nothing of it.
    assert AuditEntry.objects.filter(event="denied", object_pk=str(tarascon.pk)).exists()


def test_guessed_ids_answer_404(world, as_user, tarascon):
    client = as_user(world.referent)
    missing = tarascon.pk + 1000
    assert client.get(reverse("conventions:detail", args=[missing])).status_code == 404
    document = SignedDocumentFactory(convention=tarascon, version=1)
    other = ConventionFactory(
        commune=world.tarascon, signed=True, effective_date=datetime.date(2040, 1, 1)
    )
    # A document id of Tarascon under another convention id of the same commune: 404.
    url = reverse("conventions:document_download", args=[other.pk, document.pk])
    assert client.get(url).status_code == 404
    # A signatory of another convention.
    foreign = SignatoryFactory(convention=other)
    url = reverse("conventions:signature", args=[tarascon.pk, foreign.pk])
    assert client.post(url, {"signed_on": "2026-01-01"}).status_code == 404


@pytest.mark.parametrize("persona", ["member", "agent", "coordinator", "dpo", "admin"])
def test_non_managers_have_no_convention_pages(world, as_user, persona):
    client = as_user(getattr(world, persona))
    for name in ("conventions:list", "conventions:create", "conventions:verify"):
        assert client.get(reverse(name)).status_code == 404, name
    assert client.get(reverse("conventions:overview")).status_code == 404


def test_list_shows_only_managed_communes(world, as_user):
    tarascon = ConventionFactory(commune=world.tarascon, title="Convention Tarascon")
    miramas = ConventionFactory(commune=world.miramas, title="Convention Miramas")
    nimes = ConventionFactory(commune=world.nimes, title="Convention Nîmes")

    def titles(user):
        page = as_user(user).get(reverse("conventions:list")).content.decode()
        return {c.title for c in (tarascon, miramas, nimes) if c.title in page}

    assert titles(world.referent) == {"Convention Tarascon"}
    assert titles(world.other_referent) == {"Convention Miramas"}
    assert titles(world.liaison) == {"Convention Tarascon", "Convention Miramas"}
    assert titles(world.other_department_liaison) == {"Convention Nîmes"}


def test_wrong_methods(world, as_user, tarascon):
    client = as_user(world.referent)
    assert client.post(reverse("conventions:list")).status_code == 405
    assert client.get(reverse("conventions:mark_signed", args=[tarascon.pk])).status_code == 405
    assert client.get(reverse("conventions:document_upload", args=[tarascon.pk])).status_code == 405


def test_list_query_count_does_not_grow(world, as_user, django_assert_max_num_queries):
    client = as_user(world.liaison)
    client.get(reverse("conventions:list"))  # warm the session
    for _ in range(3):
        ConventionFactory(commune=world.tarascon, effective_date=datetime.date(2030, 1, 1))
    with django_assert_max_num_queries(14) as few:
        assert client.get(reverse("conventions:list")).status_code == 200
    baseline = len(few.captured_queries)
    for year in range(2040, 2052):
        convention = ConventionFactory(
            commune=world.miramas, effective_date=datetime.date(year, 1, 1), signed=True
        )
        SignedDocumentFactory(convention=convention, version=1)
    with django_assert_max_num_queries(baseline):
        assert client.get(reverse("conventions:list")).status_code == 200


def test_overview(world, as_user, django_assert_max_num_queries):
    today = timezone.localdate()
    ConventionFactory(
        commune=world.tarascon,
        signed=True,
        effective_date=today - datetime.timedelta(days=10),
        end_date=today + datetime.timedelta(days=300),
        title="Protocole Tarascon",
    )
    ConventionFactory(commune=world.miramas, title="Protocole Miramas")  # draft
    ConventionFactory(commune=world.nimes, signed=True, title="Protocole Nîmes")
    client = as_user(world.liaison)
    client.get(reverse("conventions:list"))
    with django_assert_max_num_queries(14):
        response = client.get(reverse("conventions:overview"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Protocole Tarascon" in page and "Protocole Miramas" in page
    assert "Nîmes" not in page
    rows = {row["commune"].name: row for row in response.context["rows"]}
    assert rows["Tarascon"]["cell_active"] is True
    assert rows["Miramas"]["cell_active"] is False  # a referent, but no protocol in force
    for referent_of in ("referent", "other_referent"):
        assert (
            as_user(getattr(world, referent_of)).get(reverse("conventions:overview")).status_code
            == 404
        )


# -- charter management pages ---------------------------------------------------------------


def test_referent_publishes_and_sees_acknowledgements(world, as_user):
    client = as_user(world.referent)
    url = reverse("conventions:charter_commune", args=[world.tarascon.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"text": "Première version de la charte."})
    assert response.status_code == 302
    charter = world.tarascon.charter_versions.get(version=1)  # after the model charter (0)
    CharterAcknowledgementFactory(user=world.member, charter=charter)
    page = client.get(url)
    people = {row["user"]: row["acknowledged_at"] for row in page.context["people"]}
    assert people[world.member] is not None
    assert people[world.member_without_grant] is None
    assert world.agent not in people  # agents do not see referrals: not bound
    client.post(url, {"text": "Deuxième version."})
    page = client.get(url)
    people = {row["user"]: row["acknowledged_at"] for row in page.context["people"]}
    assert people[world.member] is None  # a new version asks again
    assert len([ack for ack in page.context["history"] if ack.charter.version == 1]) == 1
    published = [
        e
        for e in AuditEntry.objects.filter(actor=world.referent)
        if (e.additional_data or {}).get("charter") == "published"
    ]
    assert len(published) == 2


def test_charter_scope_access(world, as_user):
    commune_url = reverse("conventions:charter_commune", args=[world.tarascon.pk])
    department_url = reverse("conventions:charter_department", args=[world.department.pk])
    liaison = as_user(world.liaison)
    assert liaison.get(commune_url).status_code == 200
    assert liaison.post(commune_url, {"text": "x"}).status_code == 403  # reads, does not publish
    assert liaison.post(department_url, {"text": "Charte départementale"}).status_code == 302
    assert world.department.charter_versions.filter(version__gte=1).count() == 1
    for persona in OUTSIDERS:
        client = as_user(getattr(world, persona))
        assert client.get(commune_url).status_code == 404, persona
        assert client.post(commune_url, {"text": "x"}).status_code == 404, persona
    referent = as_user(world.referent)
    assert referent.get(department_url).status_code == 404
    assert not world.tarascon.charter_versions.filter(version__gte=1).exists()  # model only


def test_charter_page_query_count(world, as_user, django_assert_max_num_queries):
    url = reverse("conventions:charter_commune", args=[world.tarascon.pk])
    client = as_user(world.referent)
    charter = CharterVersionFactory(commune=world.tarascon, version=1)
    CharterAcknowledgementFactory(user=world.member, charter=charter)
    client.get(url)
    with django_assert_max_num_queries(20) as few:
        assert client.get(url).status_code == 200
    baseline = len(few.captured_queries)
    for number in range(10):
        user = make_user(
            f"m{number}@tarascon.test", Role.CELL_MEMBER, commune=world.tarascon, read_charter=False
        )
        CharterAcknowledgementFactory(user=user, charter=charter)
    with django_assert_max_num_queries(baseline):
        page = client.get(url)
    assert len(page.context["people"]) == 13
