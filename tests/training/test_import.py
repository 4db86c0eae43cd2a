"""Upload → preview → confirm: idempotent re-upload, atomicity, a failed upload saves nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.urls import reverse

from cmer.audit.models import AuditEntry, Event
from training import actions
from training.models import Attendance, AttendanceImport, Trainee

from .factories import TrainingSessionFactory

FILES = Path(__file__).parent / "files"
pytestmark = pytest.mark.django_db


@pytest.fixture
def session(world):
    return TrainingSessionFactory(commune=world.tarascon, created_by=world.coordinator)


def upload(client, session, name, data=None):
    data = (FILES / name).read_bytes() if data is None else data
    return client.post(
        reverse("training:import_upload", args=[session.pk]),
        {"file": SimpleUploadedFile(name, data)},
    )


def upload_and_confirm(client, session, name, data=None):
    response = upload(client, session, name, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    staged = AttendanceImport.objects.latest("pk")
    confirm(client, staged)
    staged.refresh_from_db()
    return staged


def confirm(client, staged):
    """POST the confirmation; the task queued on commit runs (eagerly) as the commit would."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(reverse("training:import_confirm", args=[staged.pk]))
    assert response.status_code == 302
    return response


def test_preview_then_confirm(world, as_user, session, _private_storage):
    client = as_user(world.coordinator)
    response = upload(client, session, "bad_rows.csv")
    staged = AttendanceImport.objects.get()
    assert response["Location"] == reverse("training:import_preview", args=[staged.pk])
    # Nothing imported before confirmation.
    assert not Attendance.objects.exists()
    data = (FILES / "bad_rows.csv").read_bytes()
    assert staged.sha256 == hashlib.sha256(data).hexdigest()
    with staged.file.open("rb") as stored:
        assert stored.read() == data
    assert "bad_rows" not in staged.file.name  # random name on disk
    page = client.get(response["Location"]).content.decode()
    assert "adresse électronique invalide" in page
    assert "nom manquant" in page
    assert "INVALID_TEMPLATE_VARIABLE" not in page
    response = confirm(client, staged)
    assert response["Location"] == reverse("training:import_status", args=[staged.pk])
    staged.refresh_from_db()
    assert staged.state == AttendanceImport.State.CONFIRMED
    assert staged.result["new_attendances"] == 4
    statuses = dict(session.attendances.values_list("trainee__first_name", "status"))
    assert statuses == {"Anne": "present", "Carl": "present", "Dan": "present", "Berthe": "absent"}
    (entry,) = [
        e
        for e in AuditEntry.objects.filter(event=Event.CHANGE, object_pk=str(staged.pk))
        if (e.additional_data or {}).get("what") == "attendance_import"
    ]
    assert entry.actor == world.coordinator
    assert entry.additional_data["new_attendances"] == 4
    assert "Anne" not in str(entry.additional_data)


def test_same_file_twice_creates_no_duplicates(world, as_user, session):
    client = as_user(world.coordinator)
    first = upload_and_confirm(client, session, "utf8_bom_semicolon.csv")
    assert first.result["new_attendances"] == 5
    second = upload_and_confirm(client, session, "utf8_bom_semicolon.csv")
    assert second.result == {
        "new_trainees": 0,
        "updated_trainees": 0,
        "new_attendances": 0,
        "updated_attendances": 0,
        "unchanged": 5,
        "withdrawn_attestations": 0,
        "restored_attestations": 0,
    }
    assert session.attendances.count() == 5
    assert Trainee.objects.count() == 5


def test_preview_of_a_known_file_says_so(world, as_user, session):
    client = as_user(world.coordinator)
    upload_and_confirm(client, session, "utf8_bom_semicolon.csv")
    response = upload(client, session, "utf8_bom_semicolon.csv")
    page = client.get(response["Location"]).content.decode()
    assert "déjà été importé" in page
    assert "5 présences inchangées" in page


def test_corrected_file_updates_statuses(world, as_user, session):
    client = as_user(world.coordinator)
    upload_and_confirm(client, session, "utf8_bom_semicolon.csv")
    corrected = (
        "\ufeffNom;Prénom;Service / Direction;Courriel;Présent;Remarque\r\n"
        "Garçon;Loïc;Sports;loic.garcon@tarascon.test;oui;retard\r\n"
        "Müller;Jean-François;CCAS;jf.muller@tarascon.test;non;\r\n"
    ).encode()
    staged = upload_and_confirm(client, session, "corrige.csv", corrected)
    # Loïc matched by e-mail; Jean-François (no e-mail before) by name + organisation.
    assert staged.result["new_attendances"] == 0
    assert staged.result["updated_attendances"] == 2
    loic = session.attendances.get(trainee__email="loic.garcon@tarascon.test")
    assert (loic.status, loic.remark) == ("present", "retard")
    muller = session.attendances.get(trainee__last_name="Müller")
    assert muller.status == "absent"
    assert muller.trainee.email == "jf.muller@tarascon.test"
    assert session.attendances.count() == 5


def test_registry_is_shared_across_sessions_of_the_department(world, as_user, session):
    other = TrainingSessionFactory(commune=world.miramas, created_by=world.coordinator)
    coordinator = world.coordinator
    from cmer.accounts.models import Role
    from tests.conftest import make_user

    dept_coordinator = make_user(
        "formation@pref13.test", Role.TRAINING_COORDINATOR, department=world.department
    )
    upload_and_confirm(as_user(coordinator), session, "utf8_bom_semicolon.csv")
    upload_and_confirm(as_user(dept_coordinator), other, "utf8_bom_semicolon.csv")
    assert Trainee.objects.count() == 5
    assert Attendance.objects.count() == 10


def test_failed_upload_saves_nothing(world, as_user, session, _private_storage):
    client = as_user(world.coordinator)
    for name in ("renamed_pdf.csv", "empty.csv", "merged_name_header.xlsx", "unknown_headers.csv"):
        response = upload(client, session, name)
        assert response.status_code == 200
        assert "fr-error-text" in response.content.decode() or "fr-message" in (
            response.content.decode()
        )
    assert not AttendanceImport.objects.exists()
    assert (
        not any(p.is_file() for p in _private_storage.rglob("*"))
        if _private_storage.exists()
        else True
    )


def test_refused_file_message_is_shown(world, as_user, session):
    response = upload(as_user(world.coordinator), session, "renamed_pdf.csv")
    assert "ni un CSV ni un classeur XLSX" in response.content.decode()


def test_oversized_upload_is_refused_by_the_form(world, as_user, session):
    data = b"Nom\r\n" + b"x" * (5 * 1024 * 1024)
    response = upload(as_user(world.coordinator), session, "big.csv", data)
    assert response.status_code == 200
    assert "5 Mo" in response.content.decode()
    assert not AttendanceImport.objects.exists()


def test_import_needs_a_held_session(world, as_user):
    planned = TrainingSessionFactory(
        commune=world.tarascon, created_by=world.coordinator, status="planned"
    )
    response = upload(as_user(world.coordinator), planned, "utf8_bom_semicolon.csv")
    assert response.status_code == 200
    assert "tenue" in response.content.decode()
    assert not AttendanceImport.objects.exists()


def test_cancel_drops_rows_and_file(
    world, as_user, session, _private_storage, django_capture_on_commit_callbacks
):
    client = as_user(world.coordinator)
    upload(client, session, "utf8_bom_semicolon.csv")
    staged = AttendanceImport.objects.get()
    path = Path(staged.file.path)
    assert path.exists()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("training:import_cancel", args=[staged.pk]))
    staged.refresh_from_db()
    assert staged.state == AttendanceImport.State.CANCELLED
    assert staged.rows == []
    assert not path.exists()
    response = client.post(reverse("training:import_confirm", args=[staged.pk]))
    assert response.status_code == 302
    assert not Attendance.objects.exists()


def test_confirm_twice_imports_once(world, as_user, session):
    client = as_user(world.coordinator)
    staged = upload_and_confirm(client, session, "utf8_bom_semicolon.csv")
    response = confirm(client, staged)
    assert response["Location"] == reverse("training:import_preview", args=[staged.pk])
    assert session.attendances.count() == 5


def big_csv(rows: int) -> bytes:
    lines = ["Nom;Prénom;Service;Courriel;Présent"]
    lines += [f"Nom{i};Prénom{i};Service {i % 12};p{i}@tarascon.test;oui" for i in range(rows)]
    return ("\r\n".join(lines) + "\r\n").encode()


def test_error_at_row_9999_leaves_the_session_unchanged(world, as_user, session, monkeypatch):
    client = as_user(world.coordinator)
    upload_and_confirm(client, session, "utf8_bom_semicolon.csv")
    before = sorted(session.attendances.values_list("trainee_id", "status", "remark"))
    trainees_before = Trainee.objects.count()
    response = upload(client, session, "grand.csv", big_csv(10_000))
    assert response.status_code == 302
    staged = AttendanceImport.objects.latest("pk")
    assert len(staged.rows) == 10_000

    real = actions._attendance_for

    def failing(row, *args, **kwargs):
        if row["line"] == 10_000:  # the 9,999th data row (line 1 is the header)
            raise RuntimeError("disk full")
        return real(row, *args, **kwargs)

    monkeypatch.setattr(actions, "_attendance_for", failing)
    with pytest.raises(RuntimeError):
        actions.do_confirm_import(staged, acting_user=world.coordinator)
    staged.refresh_from_db()
    assert staged.state == AttendanceImport.State.PREVIEW
    assert Trainee.objects.count() == trainees_before
    assert sorted(session.attendances.values_list("trainee_id", "status", "remark")) == before

    monkeypatch.setattr(actions, "_attendance_for", real)
    result = actions.do_confirm_import(staged, acting_user=world.coordinator)
    assert result["new_attendances"] == 10_000
    assert session.attendances.count() == 10_005


def test_stale_previews_are_purged(world, as_user, session, django_capture_on_commit_callbacks):
    import datetime

    from django.utils import timezone

    from training.tasks import purge_stale_previews

    upload(as_user(world.coordinator), session, "utf8_bom_semicolon.csv")
    staged = AttendanceImport.objects.get()
    assert purge_stale_previews.delay().get() == 0
    AttendanceImport.objects.filter(pk=staged.pk).update(
        created_at=timezone.now() - datetime.timedelta(hours=49)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert purge_stale_previews.delay().get() == 1
    staged.refresh_from_db()
    assert staged.state == AttendanceImport.State.CANCELLED
    assert not Attendance.objects.exists()


def test_preview_names_the_recognised_columns_in_the_readers_language(world, as_user, session):
    client = as_user(world.coordinator)
    response = upload(client, session, "bad_rows.csv")
    page = client.get(response["Location"]).content.decode()
    assert "Colonnes reconnues : Nom, Prénom, Courriel, Présence, Remarque" in page
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    page = client.get(response["Location"]).content.decode()
    assert "Recognised columns: Surname, Forename, Email, Attendance, Remark" in page


def test_preview_shows_conflicts_totals_and_the_service_choice(world, as_user, session):
    client = as_user(world.coordinator)
    response = upload(client, session, "conflicting_duplicates.csv")
    page = client.get(response["Location"]).content.decode()
    assert 'data-testid="duplicate-conflict"' in page
    assert "Présent ligne 2, Absent ici : « Présent » est retenu." in page
    assert "1 personne figure deux fois avec des présences différentes" in page

    response = upload(client, session, "total_row_stored_formulas.xlsx")
    page = client.get(response["Location"]).content.decode()
    assert "Ligne 6 : ligne de total, ignorée" in page
    assert "Total présents" not in page.split('data-testid="understood"')[1]

    response = upload(client, session, "direction_and_service.csv")
    page = client.get(response["Location"]).content.decode()
    assert "le service est lu dans « Service »" in page


def test_remarks_starting_with_a_dash_are_imported_as_text(world, as_user, session):
    staged = upload_and_confirm(as_user(world.coordinator), session, "remarks_dash_plus_at.csv")
    assert staged.result["new_attendances"] == 5
    remarks = dict(session.attendances.values_list("trainee__last_name", "remark"))
    assert remarks["Arnaud"] == "- arrivée en retard"
    assert remarks["=Dumas"] == '=HYPERLINK("http://evil.test")'


def test_ods_upload_is_told_to_save_as_xlsx_or_csv(world, as_user, session):
    response = upload(as_user(world.coordinator), session, "libreoffice.ods")
    assert response.status_code == 200
    assert (
        "Fichiers LibreOffice : enregistrez au format .xlsx ou .csv." in response.content.decode()
    )
    assert not AttendanceImport.objects.exists()


# Confirmation in the worker (issue 13: no request does long work) -----------------------------


def test_confirm_queues_the_import_and_the_status_page_follows_it(
    world, as_user, session, django_capture_on_commit_callbacks
):
    client = as_user(world.coordinator)
    upload(client, session, "utf8_bom_semicolon.csv")
    staged = AttendanceImport.objects.get()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("training:import_confirm", args=[staged.pk]))
    status_url = reverse("training:import_status", args=[staged.pk])
    assert response["Location"] == status_url
    staged.refresh_from_db()
    assert staged.state == AttendanceImport.State.CONFIRMING
    assert staged.confirm_requested_by == world.coordinator
    assert not Attendance.objects.exists()  # nothing applied inside the request
    page = client.get(status_url).content.decode()
    assert 'data-poll-state="confirming"' in page and "cmer/poll.js" in page
    assert client.get(status_url, HTTP_ACCEPT="application/json").json() == {"state": "confirming"}
    # The preview no longer offers to confirm; a second confirmation is refused.
    assert (
        "Confirmer l'import"
        not in client.get(reverse("training:import_preview", args=[staged.pk])).content.decode()
    )
    again = client.post(reverse("training:import_confirm", args=[staged.pk]))
    assert again["Location"] == reverse("training:import_preview", args=[staged.pk])
    for callback in callbacks:
        callback()  # the outbox sends the task; eager in tests
    staged.refresh_from_db()
    assert staged.state == AttendanceImport.State.CONFIRMED
    assert session.attendances.count() == 5
    page = client.get(status_url).content.decode()
    assert 'data-testid="import-result"' in page and "5 présences ajoutées" in page
    assert "data-poll-state" not in page


def test_a_redelivered_task_imports_once(
    world, as_user, session, django_capture_on_commit_callbacks
):
    from cmer.outbox.models import TaskEffect
    from training.tasks import confirm_attendance_import

    client = as_user(world.coordinator)
    upload(client, session, "utf8_bom_semicolon.csv")
    staged = AttendanceImport.objects.get()
    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("training:import_confirm", args=[staged.pk]))
    # The same message delivered twice (same task id): the effect is claimed once.
    confirm_attendance_import.apply(args=[staged.pk], task_id="cmer-outbox-77")
    confirm_attendance_import.apply(args=[staged.pk], task_id="cmer-outbox-77")
    assert session.attendances.count() == 5
    assert (
        TaskEffect.objects.filter(key__startswith="training.confirm_attendance_import:").count()
        == 1
    )
    # Even with the import put back "en cours" by hand, the claimed key writes nothing twice.
    AttendanceImport.objects.filter(pk=staged.pk).update(state="confirming")
    confirm_attendance_import.apply(args=[staged.pk], task_id="cmer-outbox-77")
    assert session.attendances.count() == 5
    assert Trainee.objects.count() == 5


def test_a_failed_run_writes_nothing_and_goes_back_to_the_preview(
    world, as_user, session, monkeypatch, django_capture_on_commit_callbacks
):
    client = as_user(world.coordinator)
    upload(client, session, "grand.csv", big_csv(2_000))
    staged = AttendanceImport.objects.get()
    real = actions._attendance_for

    def failing(row, *args, **kwargs):
        if row["line"] == 1_999:
            raise RuntimeError("disk full")
        return real(row, *args, **kwargs)

    monkeypatch.setattr(actions, "_attendance_for", failing)
    with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("training:import_confirm", args=[staged.pk]))
    staged.refresh_from_db()
    assert staged.state == AttendanceImport.State.PREVIEW and staged.failure == "error"
    assert not Attendance.objects.exists() and not Trainee.objects.exists()
    from cmer.outbox.models import TaskEffect

    assert not TaskEffect.objects.exists()  # the claim was rolled back with the rows
    page = client.get(reverse("training:import_status", args=[staged.pk])).content.decode()
    assert 'data-testid="import-failed"' in page and "rien n'a été enregistré" in page
    # Confirmed again once the cause is gone: it imports.
    monkeypatch.setattr(actions, "_attendance_for", real)
    confirm(client, staged)
    staged.refresh_from_db()
    assert staged.state == AttendanceImport.State.CONFIRMED and staged.failure == ""
    assert session.attendances.count() == 2_000
