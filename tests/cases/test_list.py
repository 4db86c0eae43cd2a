"""The referral list page: exactly the visible rows, one statement for rows and total, pages."""

from __future__ import annotations

import datetime
import re

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.utils import timezone

from cases import access, actions
from cases.models import Referral, ReferralUserObjectPermission
from cmer import permissions
from tests.cases.helpers import file_referral


def _raw_grant(referral, member, granted_by, *, expires_in=datetime.timedelta(days=1)):
    return ReferralUserObjectPermission.objects.create(
        content_object=referral,
        user=member,
        permission=Permission.objects.get(codename="view_referral"),
        reason="Besoin d'en connaître",
        expires_at=timezone.now() + expires_in,
        granted_by=granted_by,
    )


def _grant(referral, referent, member):
    return actions.do_grant_access(
        referral,
        member=member,
        contribute=False,
        reason="Suivi éducatif",
        expires_on=timezone.localdate() + datetime.timedelta(days=10),
        acting_user=referent,
    )


def _listed(client, **params):
    html = client.get("/signalements/", params).content.decode()
    return set(re.findall(r"\b(?:TAR|MIR|NIM)-\d{4}-\d{4}\b", html))


@pytest.mark.django_db
def test_member_list_is_exactly_the_granted_referrals_and_own_filings(as_user, world):
    granted = file_referral(world.agent, world.tarascon)
    granted_twice = file_referral(world.agent, world.tarascon)
    expired = file_referral(world.agent, world.tarascon)
    someone_elses = file_referral(world.agent, world.tarascon)
    not_granted = file_referral(world.agent, world.tarascon)
    in_miramas = file_referral(world.agent, world.miramas)
    own = file_referral(world.member, world.tarascon)
    _grant(granted, world.referent, world.member)
    _grant(granted_twice, world.referent, world.member)
    _grant(granted_twice, world.referent, world.member)
    _raw_grant(expired, world.member, world.referent, expires_in=-datetime.timedelta(minutes=1))
    _grant(someone_elses, world.referent, world.member_without_grant)
    # A grant row on a referral of a commune where the member is no cell member shows nothing.
    _raw_grant(in_miramas, world.member, world.other_referent)

    expected = {granted.reference, granted_twice.reference, own.reference}
    assert _listed(as_user(world.member)) == expected
    assert {r.reference for r in access.referrals_listed_for(world.member)} == expected
    assert not_granted.reference not in _listed(as_user(world.member))
    assert _listed(as_user(world.member_without_grant)) == {someone_elses.reference}


@pytest.mark.django_db
def test_granted_ids_are_an_indexable_array_on_postgresql(world):
    sql = str(access.referrals_listed_for(world.member).query)
    if connection.vendor == "postgresql":
        assert '"cases_referral"."id" = ANY(ARRAY(SELECT' in sql
    else:
        assert '"cases_referral"."id" IN (SELECT' in sql
    # Same rows as the Exists() form used for single objects.
    referral = file_referral(world.agent, world.tarascon)
    _grant(referral, world.referent, world.member)
    codenames = access.GRANT_CODENAMES
    by_array = Referral.objects.filter(permissions.in_granted(world.member, Referral, codenames))
    by_exists = Referral.objects.filter(permissions.grant_exists(world.member, Referral, codenames))
    assert list(by_array) == list(by_exists) == [referral]
    assert not Referral.objects.filter(
        permissions.in_granted(world.member_without_grant, Referral, codenames)
    ).exists()


@pytest.mark.django_db
def test_rows_and_total_come_in_one_statement(as_user, world, django_assert_num_queries):
    for _ in range(3):
        file_referral(world.agent, world.tarascon)
    queryset = access.referrals_listed_for(world.referent)
    from cases.views.listing import list_page

    with django_assert_num_queries(1):
        page = list_page(queryset, 1, per_page=2)
    assert page.paginator.count == 3
    assert page.paginator.num_pages == 2
    assert len(page.object_list) == 2 and page.has_next()
    with django_assert_num_queries(1):
        empty = list_page(queryset.filter(pk=0), 1, per_page=2)
    assert empty.paginator.count == 0 and list(empty.object_list) == []
    # Past the end: one more statement reads the last rows backwards, with the total.
    with django_assert_num_queries(2):
        last = list_page(queryset, 7, per_page=2)
    assert (last.number, last.paginator.count) == (2, 3)
    everything = list_page(queryset, 1, per_page=10).object_list
    assert [row["pk"] for row in last.object_list] == [everything[2]["pk"]]
    with django_assert_num_queries(2):
        nothing = list_page(queryset.filter(pk=0), 3, per_page=2)
    assert (nothing.number, nothing.paginator.count, list(nothing.object_list)) == (1, 0, [])


@pytest.mark.django_db
def test_pages(as_user, world, monkeypatch):
    monkeypatch.setattr("cases.views.listing.PAGE_SIZE", 2)
    filed = [file_referral(world.agent, world.tarascon) for _ in range(5)]
    newest_first = [r.reference for r in reversed(filed)]
    client = as_user(world.referent)
    assert _listed(client) == set(newest_first[:2])
    assert "1 / 3" in client.get("/signalements/").content.decode()
    assert _listed(client, page=2) == set(newest_first[2:4])
    assert _listed(client, page=3) == {newest_first[4]}
    # Past the end: the last page, as Paginator.get_page; garbage: the first page.
    html = client.get("/signalements/", {"page": 9}).content.decode()
    assert "3 / 3" in html and newest_first[4] in html
    assert _listed(client, page=9) == {newest_first[4]}
    monkeypatch.setattr("cases.views.listing.PAGE_SIZE", 5)  # the last page is a full one
    assert _listed(client, page=2) == set(newest_first)
    monkeypatch.setattr("cases.views.listing.PAGE_SIZE", 2)
    assert _listed(client, page="abc") == set(newest_first[:2])
    # Filters still apply to rows and total.
    urgent = file_referral(world.agent, world.tarascon, urgency="danger")
    html = client.get("/signalements/", {"urgency": "danger"}).content.decode()
    assert urgent.reference in html and newest_first[0] not in html
    assert "fr-pagination" not in html


@pytest.mark.django_db
def test_page_links_keep_the_filters(as_user, world, monkeypatch):
    monkeypatch.setattr("cases.views.listing.PAGE_SIZE", 1)
    for _ in range(3):
        file_referral(world.agent, world.tarascon, urgency="high")
    html = as_user(world.referent).get("/signalements/", {"urgency": "high", "page": 2})
    html = html.content.decode()
    assert 'href="?urgency=high&amp;page=1"' in html
    assert 'href="?urgency=high&amp;page=3"' in html


def _statements_outside_audit(captured) -> list[str]:
    """The page's own statements: not the audit trail's (its own tests pin those), not
    transaction control."""
    kept = []
    for query in captured:
        sql = query["sql"]
        if "audit_" in sql or "pg_advisory" in sql:
            continue
        if sql.split(" ", 1)[0].upper() in {"BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"}:
            continue
        kept.append(sql)
    return kept


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["member", "referent"])
def test_list_page_statements(as_user, world, persona):
    """Pinned: session, user, OTP device, roles with communes, charter with acknowledgements,
    rows with total (the categories of the filter are kept a minute per process). Whatever the
    number of rows or grants. No session write: the last activity is stored once a minute
    (SESSION_SAVE_EVERY_REQUEST is off)."""
    from django.test.utils import CaptureQueriesContext

    from tests.conventions.factories import CharterAcknowledgementFactory, CharterVersionFactory

    charter = CharterVersionFactory(commune=world.tarascon, version=1)
    user = getattr(world, persona)
    CharterAcknowledgementFactory(user=user, charter=charter)
    for _ in range(3):
        referral = file_referral(world.agent, world.tarascon)
        _grant(referral, world.referent, world.member)
    client = as_user(user)
    client.get("/signalements/")
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/signalements/")
    assert response.status_code == 200
    statements = _statements_outside_audit(ctx.captured_queries)
    assert len(statements) == 6, "\n".join(statements)
    assert not any(sql.startswith("UPDATE") for sql in statements)


@pytest.mark.django_db
def test_rows_are_escaped_and_dated_in_local_time(as_user, world):
    world.tarascon.name = "Tarascon <b>&</b>"
    world.tarascon.save()
    referral = file_referral(world.agent, world.tarascon)
    # 23:30 UTC on 14 March is the 15th in Paris.
    Referral.objects.filter(pk=referral.pk).update(
        submitted_at=datetime.datetime(2026, 3, 14, 23, 30, tzinfo=datetime.UTC)
    )
    draft = file_referral(world.referent, world.tarascon, submit=False)
    html = as_user(world.referent).get("/signalements/").content.decode()
    assert "Tarascon &lt;b&gt;&amp;&lt;/b&gt;" in html and "<b>&" not in html
    assert "15/03/2026" in html
    assert f'href="/signalements/{referral.pk}/">{referral.reference}</a>' in html
    assert f"brouillon-{draft.pk}</a>" in html  # the author's own draft, no reference yet
    english = as_user(world.referent)
    english.cookies["django_language"] = "en"
    assert "03/15/2026" in english.get("/signalements/").content.decode()  # m/d/Y


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["member", "referent", "agent"])
def test_list_parts_give_the_same_page_as_one_queryset(world, persona, django_assert_num_queries):
    """The list reads access.listed_parts as one UNION ALL: same rows, same order, same total
    as the single OR-ed queryset, no row twice, in one statement; past the end, the last page."""
    from cases.views.listing import list_page

    user = getattr(world, persona)
    own_draft = file_referral(user, world.tarascon, submit=False)
    own_filed = file_referral(user, world.tarascon)  # the referent also reads it as referent
    others = [file_referral(world.agent, world.tarascon) for _ in range(4)]
    _grant(own_filed, world.referent, world.member)  # the member: own filing and granted
    _grant(others[0], world.referent, world.member)
    file_referral(world.other_referent, world.miramas)

    parts = access.listed_parts(user)
    # Two parts where an arm reads a whole commune (the referent's), else one queryset.
    assert len(parts) == (2 if persona == "referent" else 1)
    single = access.referrals_listed_for(user)
    everything = list_page(single, 1, per_page=50)
    expected = {
        "member": {own_draft.pk, own_filed.pk, others[0].pk},
        "referent": {own_draft.pk, own_filed.pk, *(r.pk for r in others)},
        "agent": {own_draft.pk, own_filed.pk, *(r.pk for r in others)},
    }[persona]
    assert {row["pk"] for row in everything.object_list} == expected
    for per_page in (1, 2, 50):
        for number in (1, 2, 3, 9):
            past_the_end = (number - 1) * per_page >= len(expected)
            with django_assert_num_queries(2 if past_the_end else 1):
                page = list_page(parts, number, per_page=per_page)
            reference = list_page(single, number, per_page=per_page)
            for row in page.object_list:
                row.pop("sort_created_at", None)  # the union's sort column, not shown
            assert page.object_list == reference.object_list, (per_page, number)
            assert (page.number, page.paginator.count) == (reference.number, len(expected))


@pytest.mark.django_db
def test_filter_categories_follow_a_change_at_once_and_other_processes_within_a_minute(
    as_user, world, monkeypatch
):
    """The filter's categories are kept per process: a change saved here shows on the next
    page; one made by another process (simulated by an UPDATE, which sends no signal) shows
    once CATEGORIES_SECONDS have passed."""
    from cases.models import WeakSignalCategory
    from cases.views import lists

    client = as_user(world.referent)
    client.get("/signalements/")
    category = WeakSignalCategory.objects.create(code="bench-new", label="Signe ajouté")
    assert "Signe ajouté" in client.get("/signalements/").content.decode()

    WeakSignalCategory.objects.filter(pk=category.pk).update(label="Renommé ailleurs")
    assert "Renommé ailleurs" not in client.get("/signalements/").content.decode()
    read_at, categories = lists._categories_cache
    monkeypatch.setattr(
        lists, "_categories_cache", (read_at - lists.CATEGORIES_SECONDS - 1, categories)
    )
    assert "Renommé ailleurs" in client.get("/signalements/").content.decode()

    category.delete()
    assert "Renommé ailleurs" not in client.get("/signalements/").content.decode()
