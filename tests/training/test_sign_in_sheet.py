"""The sign-in sheet of a session (CSV, XLSX, PDF): the coordinator's, audited, names the reader,
and never lets a spreadsheet evaluate an imported value."""

from __future__ import annotations

import csv
import io
import subprocess

import openpyxl
import pytest
from django.urls import reverse

from cmer.audit.models import AuditEntry, Event
from tests.conftest import step_up

from .factories import AttendanceFactory, TraineeFactory, TrainingSessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(world):
    session = TrainingSessionFactory(
        commune=world.tarascon, created_by=world.coordinator, title="Signaux faibles"
    )
    dept = world.department
    AttendanceFactory(
        session=session,
        trainee=TraineeFactory(department=dept, last_name="Arnaud", first_name="Julie"),
        remark="- arrivée en retard",
    )
    AttendanceFactory(
        session=session,
        trainee=TraineeFactory(department=dept, last_name="=Dumas", first_name="Eric"),
        remark='=HYPERLINK("http://evil.test")',
        status="absent",
    )
    return session


def url(session, fmt):
    return reverse("training:sign_in_sheet", args=[session.pk, fmt])


def test_csv_is_neutralised_names_the_reader_and_is_audited(world, as_user, session):
    response = step_up(as_user(world.coordinator)).get(url(session, "csv"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == ["Liste d'émargement — Signaux faibles"]
    assert rows[2][0].startswith(f"Extrait par {world.coordinator} le ")
    assert rows[4] == ["Nom", "Prénom", "Service ou organisme", "Courriel", "Présence", "Remarque"]
    by_name = {row[0]: row for row in rows[5:]}
    assert by_name["Arnaud"][5] == "'- arrivée en retard"
    assert by_name["'=Dumas"][4] == "Absent"
    assert by_name["'=Dumas"][5] == '\'=HYPERLINK("http://evil.test")'
    (entry,) = AuditEntry.objects.filter(event=Event.EXPORT, object_pk=str(session.pk))
    assert entry.actor == world.coordinator
    assert entry.additional_data == {"what": "sign_in_sheet", "format": "csv", "rows": 2}


def test_xlsx_cells_are_text_never_formulas(world, as_user, session):
    response = step_up(as_user(world.coordinator)).get(url(session, "xlsx"))
    assert response.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = workbook.active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert str(world.coordinator) in values[2][0]
    cells = [c for row in sheet.iter_rows(min_row=6) for c in row]
    assert all(c.data_type != "f" for c in cells)
    assert '\'=HYPERLINK("http://evil.test")' in [c.value for c in cells]


def test_pdf_names_the_reader_on_the_page(world, as_user, session, tmp_path):
    response = step_up(as_user(world.coordinator)).get(url(session, "pdf"))
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")
    path = tmp_path / "sheet.pdf"
    path.write_bytes(response.content)
    try:
        text = subprocess.run(
            ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True
        ).stdout
    except FileNotFoundError:
        pytest.skip("pdftotext (poppler-utils) not installed")
    assert "Liste d'émargement — Signaux faibles" in text.replace("’", "'")
    assert f"Extrait par {world.coordinator}" in text
    assert "'- arrivée en retard" in text.replace("’", "'")


@pytest.mark.parametrize(
    "persona", ["referent", "member", "agent", "liaison", "dpo", "admin", "other_referent"]
)
def test_other_roles_get_404(world, as_user, session, persona):
    response = step_up(as_user(getattr(world, persona))).get(url(session, "csv"))
    assert response.status_code == 404


def test_coordinator_of_another_commune_gets_404(world, as_user):
    from cmer.accounts.models import Role
    from tests.conftest import make_user

    other = make_user("formation@miramas.test", Role.TRAINING_COORDINATOR, commune=world.miramas)
    session = TrainingSessionFactory(commune=world.tarascon, created_by=world.coordinator)
    assert step_up(as_user(other)).get(url(session, "pdf")).status_code == 404
    assert not AuditEntry.objects.filter(event=Event.EXPORT).exists()


def test_unknown_format_missing_session_wrong_method(world, as_user, session):
    client = step_up(as_user(world.coordinator))
    assert client.get(url(session, "docx")).status_code == 404
    assert client.get(reverse("training:sign_in_sheet", args=[999999, "csv"])).status_code == 404
    assert client.post(url(session, "csv")).status_code == 405


def test_anonymous_goes_to_login(client, world, session):
    response = client.get(url(session, "csv"))
    assert response.status_code == 302
    assert response["Location"].startswith("/comptes/connexion/")


def test_a_fresh_code_is_asked_first_and_nothing_leaves_before(world, as_user, session):
    response = as_user(world.coordinator).get(url(session, "csv"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:stepup"))
    assert not AuditEntry.objects.filter(event=Event.EXPORT, object_pk=str(session.pk)).exists()
