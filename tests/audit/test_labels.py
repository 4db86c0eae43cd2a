"""Every kind of read or export the code records has its words for the DPO.

``labels.describe`` names an ``access`` or ``export`` entry by the ``what`` of its data
(``labels.READS``); a ``what`` missing from READS shows only the generic "Consultation" /
"Export" line, and the DPO cannot tell a minutes PDF from a calendar. The kinds are string
literals at each call of ``record_access`` / ``record_event``, so the test reads them from the
sources (the syntax tree, not the text: a ``what`` in an admin URL's kwargs is no audit entry):
a new literal without a label fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from cmer.audit.labels import READS, describe, details
from cmer.audit.models import AuditEntry, Event
from meetings.models import MinutesDocument
from tests.conftest import step_up
from tests.meetings.helpers import approved, plan

APPS = ("cases", "meetings", "training", "conventions", "cmer")
DESCRIBED = {"ACCESS", "EXPORT"}  # the events ``describe`` names by their ``what``
# A ``what`` built from a variable, with the values it takes.
EXPANSIONS = {
    # cmer/audit/views.py: the export's format, ``audit:export`` accepts these two only.
    "f'audit_{fmt}'": {"audit_csv", "audit_pdf"},
}
# Calls whose data is not a dict literal and which are known to carry no read/export ``what``.
INDIRECT = {
    "cmer/audit/core.py:record_access",  # the helper itself: ``what`` is its parameter
    "cmer/accounts/memberships.py:_audit",  # a membership's grant or revocation
}


def _enclosing_functions(tree: ast.AST) -> dict[ast.AST, str]:
    """Each node → the name of the innermost function around it (``ast.walk`` goes outer
    first, so a nested definition overwrites its parent's name)."""
    names: dict[ast.AST, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for child in ast.walk(node):
                if child is not node:
                    names[child] = node.name
    return names


def _values(node: ast.expr) -> set[str]:
    """The strings an expression may be: a literal, either side of ``a if c else b``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _values(node.body) | _values(node.orelse)
    source = ast.unparse(node)
    if source in EXPANSIONS:
        return EXPANSIONS[source]
    raise AssertionError(f"a `what` the test cannot read: {source} (add it to EXPANSIONS)")


def _event_name(node: ast.expr) -> str | None:
    """``Event.EXPORT`` → "EXPORT"; None when the event is a variable."""
    if isinstance(node, ast.Attribute) and ast.unparse(node.value) == "Event":
        return node.attr
    return None


def recorded_whats() -> dict[str, set[str]]:
    """``what`` → where it is recorded (file:line), for every read or export of the sources."""
    found: dict[str, set[str]] = {}
    root = Path(settings.BASE_DIR)
    for app in APPS:
        for path in sorted((root / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            relative = path.relative_to(root).as_posix()
            tree = ast.parse(path.read_text(encoding="utf-8"))
            functions = _enclosing_functions(tree)
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                keywords = {k.arg: k.value for k in node.keywords if k.arg}
                where = f"{relative}:{node.lineno}"
                if name == "record_access":
                    whats = _values(keywords["what"]) if "what" in keywords else {"detail"}
                elif name == "record_event":
                    event = _event_name(node.args[0]) if node.args else None
                    if event is not None and event not in DESCRIBED:
                        continue
                    data = keywords.get("data")
                    if data is None:
                        continue
                    if not isinstance(data, ast.Dict):
                        assert f"{relative}:{functions.get(node)}" in INDIRECT, (
                            f"{where}: data the test cannot read (a dict literal, or INDIRECT)"
                        )
                        continue
                    whats = set()
                    for key, value in zip(data.keys, data.values, strict=True):
                        if isinstance(key, ast.Constant) and key.value == "what":
                            whats = _values(value)
                    if event is None:
                        assert not whats, f"{where}: a `what` under an event the test cannot read"
                else:
                    continue
                for what in whats:
                    found.setdefault(what, set()).add(where)
    return found


def test_the_sources_are_read():
    """The scan finds the kinds known to be recorded (it is not silently empty)."""
    found = recorded_whats()
    for what in ("detail", "archive", "dossier_pdf", "attachment_export", "audit_csv"):
        assert what in found
    assert "minutes_pdf" in found and "attendance_sheet" in found
    # A ``what`` that is no audit entry (the accounts admin's URL kwargs) is not collected.
    assert "password_link" not in found


def test_every_recorded_read_or_export_has_a_label():
    missing = {what: sorted(where) for what, where in recorded_whats().items() if what not in READS}
    assert missing == {}, "add these to cmer/audit/labels.py READS (and locale/en)"


def test_every_label_is_translated():
    """Each label reads differently in English (the catalogue holds it, compiled)."""
    with translation.override("fr"):
        french = {what: str(label) for what, label in READS.items()}
    with translation.override("en"):
        english = {what: str(label) for what, label in READS.items()}
    assert [what for what in READS if english[what] == french[what]] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("what", "french", "english"),
    [
        ("minutes_pdf", "export PDF du compte rendu de réunion", "meeting minutes PDF export"),
        ("attendance_sheet", "export de la feuille d'émargement", "attendance sheet export"),
    ],
)
def test_the_meeting_downloads_are_described_in_words(what, french, english):
    entry = AuditEntry(event=Event.EXPORT, additional_data={"what": what})
    assert describe(entry, {}) == french
    with translation.override("en"):
        assert describe(entry, {}) == english


def _dpo_exports(as_user, world) -> tuple[list[str], str]:
    """The DPO's search for exports: the event column's words, and the page."""
    page = as_user(world.dpo).get(reverse("audit:search"), {"event": "export"})
    assert page.status_code == 200
    return [row["event"] for row in page.context["rows"]], page.content.decode()


@pytest.mark.django_db
def test_the_attendance_sheet_reads_in_words_on_the_dpos_search(as_user, world):
    meeting = plan(world)
    response = step_up(as_user(world.referent)).get(
        reverse("meetings:attendance_sheet", args=[meeting.pk])
    )
    assert response.status_code == 200
    events, html = _dpo_exports(as_user, world)
    assert events == ["export de la feuille d'émargement"]
    assert "export de la feuille d&#x27;émargement" in html


@pytest.mark.django_db
def test_the_minutes_pdf_reads_in_words_on_the_dpos_search(
    as_user, world, django_capture_on_commit_callbacks
):
    meeting = plan(world)
    with django_capture_on_commit_callbacks(execute=True):
        approved(world, meeting)
    document = MinutesDocument.objects.get()
    assert document.state == MinutesDocument.State.READY
    response = step_up(as_user(world.member)).get(
        reverse("meetings:document", args=[meeting.pk, document.pk])
    )
    assert response.status_code == 200
    events, html = _dpo_exports(as_user, world)
    assert events == ["export PDF du compte rendu de réunion"]
    assert "export PDF du compte rendu de réunion" in html


@pytest.mark.parametrize(
    ("integrity", "said"),
    [
        ("ok", "intégrité vérifiée"),
        ("missing", "fichier introuvable, non servi"),
        ("mismatch", "fichier altéré, non servi"),
    ],
)
def test_an_integrity_alarm_says_the_file_was_not_served(integrity, said):
    """meetings/views/downloads.py and conventions/views/documents.py record the alarm as a
    read of the same kind: the details tell the DPO that nothing left."""
    entry = AuditEntry(
        event=Event.ACCESS, additional_data={"what": "minutes_pdf", "integrity": integrity}
    )
    assert details(entry) == said
