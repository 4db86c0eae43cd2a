"""The write path in its own module: no import circle inside the audit core, every audit INSERT
seen by Django's query capture (both engines), and the Django internals it relies on still there."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.db.models import Model
from django.test.utils import CaptureQueriesContext

from cmer.audit import writing
from cmer.audit.core import record_event
from cmer.audit.models import AuditEntry, Event, PendingEntry

AUDIT = Path(writing.__file__).resolve().parent


def _imports_of(path: Path) -> set[str]:
    """Modules of cmer.audit imported by ``path``, at module level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                base = node.module
                names = [node.module] if node.module else [a.name for a in node.names]
            elif node.module and node.module.startswith("cmer.audit"):
                base = node.module.removeprefix("cmer.audit").lstrip(".")
                names = [base] if base else [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name:
                    found.add(name.split(".")[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("cmer.audit."):
                    found.add(alias.name.split(".")[2])
    return found


def test_no_import_circle_in_the_audit_core():
    modules = {path.stem: path for path in AUDIT.glob("*.py") if path.stem != "__init__"}
    graph = {name: _imports_of(path) & set(modules) - {name} for name, path in modules.items()}
    assert "writing" not in graph["models"] and "sealing" not in graph["models"]
    assert graph["models"] <= {"chain"}, "models keep the schema and guards only"

    cycles = []

    def visit(name: str, stack: list[str]) -> None:
        for target in sorted(graph[name]):
            if target in stack:
                cycles.append([*stack[stack.index(target) :], target])
            elif len(stack) < len(graph):
                visit(target, [*stack, target])

    for name in sorted(graph):
        visit(name, [name])
    assert cycles == []


@pytest.mark.django_db
def test_every_audit_insert_is_seen_by_the_query_capture(world):
    with CaptureQueriesContext(connection) as captured:
        record_event(Event.ACCESS, actor=world.dpo, data={"what": "detail"})
        AuditEntry.objects.create(
            event=Event.EXPORT,
            action=AuditEntry.Action.ACCESS,
            content_type_id=AuditEntry.objects.first().content_type_id,
            object_pk="1",
            object_repr="x",
        )
    inserts = [
        q["sql"] for q in captured.captured_queries if PendingEntry._meta.db_table in q["sql"]
    ]
    assert len(inserts) == 2, captured.captured_queries
    assert all(sql.lstrip().upper().startswith("INSERT") for sql in inserts)


@pytest.mark.django_db
def test_audit_insert_goes_through_execute_wrappers(world):
    seen: list[str] = []

    def spy(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        record_event(Event.ACCESS, actor=world.dpo)
    assert any(PendingEntry._meta.db_table in sql for sql in seen)


def test_the_django_internals_the_write_path_relies_on():
    """Fails loudly on a Django upgrade that changes them: ``Model._do_insert`` (overridden by
    AuditEntry to append to the pending table) and the cursor wrappers ``writing._cursor``
    builds."""
    parameters = list(inspect.signature(Model._do_insert).parameters)
    assert parameters == ["self", "manager", "using", "fields", "returning_fields", "raw"]
    assert AuditEntry._do_insert is not Model._do_insert
    assert callable(connection.make_cursor) and callable(connection.make_debug_cursor)
    assert inspect.signature(connection.make_cursor).parameters.keys() == {"cursor"}


@pytest.mark.django_db
def test_one_seal_callback_per_transaction_level(world):
    """``writing.seal_soon`` reads Django's list of on-commit callbacks (savepoint ids first,
    the callback second): one callback for the entries of a level, another in a savepoint,
    and the one of a rolled-back savepoint goes with it."""
    before = len(connection.run_on_commit)  # the test's own transaction may hold some
    with transaction.atomic():
        record_event(Event.ACCESS, actor=world.dpo)
        record_event(Event.ACCESS, actor=world.dpo)
        assert len(connection.run_on_commit) == before + 1
        savepoints, callback = connection.run_on_commit[-1][:2]
        assert savepoints == set(connection.savepoint_ids)
        assert isinstance(callback, writing._SealAfterCommit)
        with transaction.atomic():
            record_event(Event.ACCESS, actor=world.dpo)
            record_event(Event.ACCESS, actor=world.dpo)
            assert len(connection.run_on_commit) == before + 2
        try:
            with transaction.atomic():
                record_event(Event.ACCESS, actor=world.dpo)
                assert len(connection.run_on_commit) == before + 3
                raise RuntimeError
        except RuntimeError:
            pass
        assert len(connection.run_on_commit) == before + 2


@pytest.mark.django_db
def test_relations_stay_protected_without_database_constraints(world):
    """No foreign-key constraint on the audit tables (no row lock per entry): Django still
    refuses to delete a user, commune or content type an entry names, and an entry naming a
    content type that does not exist reads "type inconnu" on the DPO's page instead of failing."""
    from django.contrib.contenttypes.models import ContentType
    from django.db.models import ProtectedError
    from django.db.models.deletion import Collector

    from cmer.audit import labels
    from tests.audit.helpers import seal

    entry = record_event(Event.ACCESS, actor=world.member, target=world.tarascon)
    with pytest.raises(ProtectedError):  # (User.delete() itself refuses before that)
        Collector(using="default").collect([world.member])
    seal()  # chained now: still protected
    with pytest.raises(ProtectedError):
        world.tarascon.delete()
    with pytest.raises(ProtectedError):
        ContentType.objects.get_for_id(entry.content_type_id).delete()
    assert labels.type_name(10**9) == "type inconnu"
    for field in ("actor", "commune", "content_type"):
        assert not PendingEntry._meta.get_field(field).db_constraint


@pytest.mark.django_db
def test_the_time_of_an_entry_is_the_databases_on_postgresql(world):
    """PostgreSQL: the write path does not send the time (the column's default gives it, which
    the application role cannot override: tests/audit/test_protection.py); the entry returned
    carries the stored time. SQLite: the process's time, stored as given."""
    seen: list[str] = []

    def spy(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        entry = record_event(Event.ACCESS, actor=world.dpo)
    insert = next(sql for sql in seen if PendingEntry._meta.db_table in sql)
    columns = insert.split("VALUES")[0]
    assert ('"timestamp"' in columns) is (connection.vendor != "postgresql")
    stored = PendingEntry.objects.get(pk=entry.pk).timestamp
    assert entry.timestamp == stored
