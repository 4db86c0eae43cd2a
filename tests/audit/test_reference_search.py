"""The DPO's search by reference also returns the entries where the referral appears without
being their object: a list page and a search by person (``data["references"]``), a meeting's
agenda item and a piece of information from the State (objects pointing to it). One test per
kind, through the real pages and actions; the page, the CSV and the PDF say the same, in French."""

from __future__ import annotations

import re
import subprocess
import tempfile

import pytest
from django.db import connection
from django.urls import reverse

from cases.models import StateInformation
from cmer.audit import about
from cmer.audit.core import record_event
from cmer.audit.models import AuditEntry, AuditExport, Event
from tests.cases.helpers import file_referral
from tests.conftest import step_up
from tests.meetings.helpers import plan

pytestmark = pytest.mark.django_db

SEARCH = reverse("audit:search")


@pytest.fixture
def referral(world):
    return file_referral(world.agent, world.tarascon, surname="Éléonore", first_names="Zoé")


@pytest.fixture
def other(world):
    return file_referral(world.agent, world.tarascon)


def _rows(as_user, world, reference: str) -> list[dict]:
    response = as_user(world.dpo).get(SEARCH, {"reference": reference})
    assert response.status_code == 200
    return response.context["rows"]


def _ids(rows) -> set[int]:
    return {row["id"] for row in rows}


def test_a_list_page_showing_the_referral_is_found(as_user, world, referral, other):
    assert as_user(world.referent).get(reverse("cases:list")).status_code == 200
    listed = AuditEntry.objects.filter(event=Event.ACCESS, additional_data__contains="list")
    entry = listed.latest("id")
    assert set(entry.additional_data["references"]) == {referral.reference, other.reference}

    rows = _rows(as_user, world, referral.reference)
    row = next(r for r in rows if r["id"] == entry.pk)
    assert row["event"] == "affichage dans une liste"
    assert row["object"] == referral.reference
    assert row["details"] == "2 dossiers affichés"
    assert row["actor"] == world.referent.email
    # The same entry answers the other reference; an unrelated reference does not get it.
    assert entry.pk in _ids(_rows(as_user, world, other.reference))
    assert entry.pk not in _ids(_rows(as_user, world, "TAR-2020-9999"))


def test_a_search_by_person_finding_the_referral_is_found(as_user, world, referral, other):
    response = as_user(world.referent).post(
        reverse("cases:search_person"),
        {"surname": "eleonore", "first_names": "zoe", "birth_year": str(referral.birth_date)[:4]},
    )
    assert response.status_code == 200
    entry = AuditEntry.objects.filter(event=Event.ACCESS).latest("id")
    assert entry.additional_data == {"what": "person_search", "references": [referral.reference]}

    row = next(r for r in _rows(as_user, world, referral.reference) if r["id"] == entry.pk)
    assert row["event"] == "recherche par personne"
    assert row["object"] == referral.reference
    assert row["details"] == "1 dossier trouvé"
    assert entry.pk not in _ids(_rows(as_user, world, other.reference))


def test_a_meeting_agenda_item_on_the_referral_is_found(as_user, world, referral):
    from meetings import actions as meeting_actions

    meeting = plan(world)
    item = meeting_actions.do_add_referral_item(
        meeting, reference=referral.reference, acting_user=world.referent
    )
    rows = _rows(as_user, world, referral.reference)
    found = [r for r in rows if r["type"] == "point de l'ordre du jour"]
    assert found, rows
    assert all(r["object"] == referral.reference for r in found)
    assert {e.pk for e in AuditEntry.objects.filter(object_pk=str(item.pk))} & _ids(found)
    assert "point " + str(item.pk) not in str(found)  # shown by the reference, not an id


def test_information_from_the_state_on_the_referral_is_found(as_user, world, referral):
    from cases import actions as case_actions

    info = case_actions.do_save_state_information(
        StateInformation(
            commune=world.tarascon,
            case=StateInformation.Case.SOCIAL_SERVICES,
            person="Personne suivie",
            content="Information confidentielle.",
            referral=referral,
        ),
        acting_user=world.liaison,
    )
    rows = _rows(as_user, world, referral.reference)
    found = [r for r in rows if r["type"] == str(StateInformation._meta.verbose_name)]
    assert found
    assert {e.pk for e in AuditEntry.objects.filter(object_pk=str(info.pk))} & _ids(found)
    assert "Information confidentielle" not in str(rows)


def test_csv_and_pdf_say_the_same(as_user, world, referral, django_capture_on_commit_callbacks):
    as_user(world.referent).get(reverse("cases:list"))
    dpo = step_up(as_user(world.dpo))  # exports ask for a fresh code
    csv_text = b"".join(
        dpo.post(reverse("audit:export", args=["csv"]), {"reference": referral.reference})
    ).decode("utf-8-sig")
    line = next(x for x in csv_text.splitlines() if "affichage dans une liste" in x)
    assert referral.reference in line and "1 dossier affiché" in line
    with django_capture_on_commit_callbacks(execute=True):
        dpo.post(reverse("audit:export", args=["pdf"]), {"reference": referral.reference})
    prepared = AuditExport.objects.get()
    assert prepared.status == AuditExport.Status.READY
    with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
        handle.write(bytes(prepared.content))
        handle.flush()
        text = subprocess.run(
            ["pdftotext", "-layout", handle.name, "-"], capture_output=True, check=True, text=True
        ).stdout
    line = next(x for x in text.splitlines() if "affichage dans une liste" in x)
    assert referral.reference in line
    assert "1 dossier affiché" in re.sub(r"\s+", " ", text)


def test_the_dpo_scope_still_applies(as_user, world, referral):
    """A list entry of another department's user is not shown, even if it names the reference."""
    record_event(
        Event.ACCESS,
        actor=world.other_department_liaison,
        data={"what": "list", "references": [referral.reference]},
    )
    mine = record_event(
        Event.ACCESS,
        actor=world.referent,
        data={"what": "list", "references": [referral.reference]},
    )
    ids = _ids(_rows(as_user, world, referral.reference))
    assert mine.pk in ids
    assert not AuditEntry.objects.filter(actor=world.other_department_liaison, pk__in=ids).exists()


def test_a_malformed_row_never_breaks_the_search_nor_the_index(world):
    """Data that is not what the application writes is simply not a mention (PostgreSQL's index
    expression must never raise: an entry must never block a seal)."""
    odd = ['{"references":"TAR-2026-0001"}', '{"references":[', "not json", '{"references":[]}']
    for text in odd:
        with connection.cursor() as cursor:
            table = "audit_pending"
            cursor.execute(
                f"INSERT INTO {table} (timestamp, event, action, content_type_id, object_pk, "  # noqa: S608
                "object_repr, changes_text, additional_data) SELECT CURRENT_TIMESTAMP, 'access', "
                "3, id, '', '', '', %s FROM django_content_type LIMIT 1",
                [text],
            )
    from tests.audit.helpers import seal

    seal()
    assert not AuditEntry.objects.filter(about.MentionsReference("TAR-2026-0001")).exists()


@pytest.mark.postgres_only
def test_the_mentions_index_serves_the_search(world):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's partial GIN index")
    queryset = AuditEntry.objects.filter(about.MentionsReference("TAR-2026-0001"))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = queryset.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan_text = "\n".join(row[0] for row in cursor.fetchall())
    assert about.MENTIONS_INDEX in plan_text, plan_text
