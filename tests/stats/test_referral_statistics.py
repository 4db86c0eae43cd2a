"""Referral statistics: scope (404 for everyone else), suppression on the page and in the CSV,
query counts, nothing decrypted, the CSV export recorded."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from cases import statistics
from cases.models import Referral, WeakSignalCategory
from cmer.audit.models import AuditEntry
from cmer.crypto import EncryptedTextField
from tests.cases.helpers import file_referral
from tests.core.test_suppression import assert_protected

pytestmark = pytest.mark.django_db

YEAR = timezone.localdate().year


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


def _file(world, commune, month: int, count: int, **overrides):
    author = world.referent if commune == world.tarascon else world.other_referent
    moment = datetime.datetime(YEAR, month, 3, 10, 0, tzinfo=datetime.UTC)
    with time_machine.travel(moment, tick=False):
        return [file_referral(author, commune, **overrides) for _ in range(count)]


def _page(world, as_user, user, kind="commune", pk=None, **params):
    pk = pk or world.tarascon.pk
    return as_user(user).get(reverse("statistics:page", args=[kind, pk]), params)


def test_fields_used_survive_anonymisation():
    for name in statistics.STATISTICS_FIELDS:
        field = Referral._meta.get_field(name)
        assert not isinstance(field, EncryptedTextField), name
        assert "index" not in name


def test_referent_sees_counts_with_small_ones_hidden(world, as_user):
    _file(world, world.tarascon, 1, 3)
    _file(world, world.tarascon, 2, 7)
    response = _page(world, as_user, world.referent, annee=YEAR)
    assert response.status_code == 200
    body = response.content.decode()
    table = response.context["result"]
    assert table.table.row_total(0) == "< 5"  # January: 3
    assert table.table.row_total(1) == 7
    # The 3 of January cannot be worked out from the year total minus February: checked by
    # enumerating every solution of the published figures.
    inner = [line[:-1] for line in table.table.grid[:-1]]
    assert_protected(inner, table.table)
    published = [v for line in table.table.published_rows() for v in line]
    assert not any(isinstance(v, int) and 1 <= v <= 4 for v in published)
    assert "&lt; 5" in body
    assert "Dupont" not in body and "Jeanne" not in body


def test_every_breakdown_and_nothing_decrypted(world, as_user, monkeypatch):
    _file(world, world.tarascon, 3, 6)

    def refuse(*args, **kwargs):
        raise AssertionError("statistics decrypted a field")

    monkeypatch.setattr(EncryptedTextField, "from_db_value", refuse)
    for dimension in ("statut", "urgence", "age", "categorie", "issue"):
        response = _page(world, as_user, world.referent, annee=YEAR, par=dimension)
        assert response.status_code == 200, dimension
    assert _page(world, as_user, world.referent, par="commune").status_code == 404
    assert _page(world, as_user, world.referent, par="nimporte").status_code == 404


def test_category_counts_mentions(world, as_user):
    signs = list(WeakSignalCategory.objects.all()[:2])
    _file(world, world.tarascon, 4, 6, categories=signs)
    result = statistics.compute(
        statistics.commune_scope_for(world.referent, world.tarascon.pk), YEAR, "categorie"
    )
    assert result.grand_total() == 6 * len(signs)


def test_liaison_sees_the_department_per_commune(world, as_user):
    _file(world, world.tarascon, 5, 6)
    _file(world, world.miramas, 5, 2)
    response = _page(
        world, as_user, world.liaison, "departement", world.department.pk, annee=YEAR, par="commune"
    )
    assert response.status_code == 200
    result = response.context["result"]
    assert result.columns == ["Miramas", "Tarascon"]
    assert result.table.cell(4, 0) == "< 5"
    inner = [line[:-1] for line in result.table.grid[:-1]]
    assert_protected(inner, result.table)


@pytest.mark.parametrize(
    "who,kind,target",
    [
        ("other_referent", "commune", "tarascon"),
        ("member", "commune", "tarascon"),
        ("agent", "commune", "tarascon"),
        ("coordinator", "commune", "tarascon"),
        ("dpo", "commune", "tarascon"),
        ("admin", "commune", "tarascon"),
        ("liaison", "commune", "tarascon"),
        ("referent", "commune", "miramas"),
        ("referent", "departement", "department"),
        ("other_department_liaison", "departement", "department"),
        ("liaison", "departement", "other_department"),
    ],
)
def test_scope_is_404_for_everyone_else(world, as_user, who, kind, target):
    pk = getattr(world, target).pk
    client = as_user(getattr(world, who))
    assert client.get(reverse("statistics:page", args=[kind, pk])).status_code == 404
    assert client.get(reverse("statistics:export_csv", args=[kind, pk])).status_code == 404


def test_guessed_ids_and_kinds(world, as_user):
    client = as_user(world.referent)
    assert client.get(reverse("statistics:page", args=["commune", 999999])).status_code == 404
    assert (
        client.get(reverse("statistics:page", args=["pays", world.tarascon.pk])).status_code == 404
    )
    assert (
        client.post(reverse("statistics:page", args=["commune", world.tarascon.pk])).status_code
        == 405
    )


def test_anonymous_goes_to_login(world, client):
    response = client.get(reverse("statistics:page", args=["commune", world.tarascon.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_index_leads_to_own_scope(world, as_user):
    response = as_user(world.referent).get(reverse("statistics:index"))
    assert response["Location"] == reverse("statistics:page", args=["commune", world.tarascon.pk])
    response = as_user(world.liaison).get(reverse("statistics:index"))
    assert response["Location"] == reverse(
        "statistics:page", args=["departement", world.department.pk]
    )
    assert as_user(world.agent).get(reverse("statistics:index")).status_code == 404


def test_csv_applies_the_same_suppression_and_is_recorded(world, as_user):
    _file(world, world.tarascon, 1, 2)
    _file(world, world.tarascon, 2, 9)
    client = as_user(world.referent)
    url = reverse("statistics:export_csv", args=["commune", world.tarascon.pk])
    response = client.get(url, {"annee": YEAR, "par": "urgence"})
    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    page = _page(world, as_user, world.referent, annee=YEAR, par="urgence").context["result"]
    for row in page.body():
        line = ";".join(str(v) for v in [row["month"], *row["cells"], row["total"]])
        assert line in text
    assert ";2;" not in text and ";2\r" not in text
    entry = AuditEntry.objects.filter(event="export").latest("timestamp")
    assert entry.additional_data["what"] == "referral_statistics"
    assert entry.additional_data["year"] == YEAR


def test_query_count_does_not_grow(world, as_user, django_assert_num_queries):
    _file(world, world.tarascon, 1, 2)
    client = as_user(world.referent)
    url = reverse("statistics:page", args=["commune", world.tarascon.pk])
    client.get(url)
    # Session, user, roles, second factor…, then one GROUP BY over the referrals.
    with django_assert_num_queries(8):
        client.get(url, {"par": "statut"})
    _file(world, world.tarascon, 2, 8)
    _file(world, world.tarascon, 3, 5, urgency=Referral.Urgency.HIGH)
    with django_assert_num_queries(8):
        client.get(url, {"par": "statut"})


def test_anonymisation_leaves_the_statistics_unchanged(world):
    from cases.retention import anonymise_referrals

    signs = list(WeakSignalCategory.objects.all()[:1])
    referrals = _file(world, world.tarascon, 6, 7, categories=signs)
    _file(world, world.tarascon, 7, 2, urgency=Referral.Urgency.DANGER)
    scope = statistics.commune_scope_for(world.referent, world.tarascon.pk)
    before = {
        d: statistics.compute(scope, YEAR, d).table.published_rows() for d in scope.dimensions
    }
    anonymise_referrals([r.pk for r in referrals])
    assert Referral.objects.filter(anonymised_at__isnull=False).count() == 7
    after = {d: statistics.compute(scope, YEAR, d).table.published_rows() for d in scope.dimensions}
    assert after == before


def test_liaison_page_query_count_does_not_grow(world, as_user, django_assert_num_queries):
    _file(world, world.tarascon, 1, 2)
    client = as_user(world.liaison)
    url = reverse("statistics:page", args=["departement", world.department.pk])
    client.get(url)
    # One more than the referent's: the department's communes.
    with django_assert_num_queries(9):
        client.get(url, {"par": "commune"})
    _file(world, world.miramas, 2, 8)
    _file(world, world.tarascon, 3, 5)
    with django_assert_num_queries(9):
        client.get(url, {"par": "commune"})
