"""Database-level protection of the audit tables: the database itself refuses UPDATE, DELETE and
TRUNCATE, whatever the application does.

- PostgreSQL: a row trigger (UPDATE, DELETE) and a statement trigger (TRUNCATE: row triggers do not
  fire on it). Only the table owner can disable them, and in production the application connects
  as ``cmer_app``, which owns nothing and has only INSERT and SELECT on these tables
  (``revoke_app_privileges``; role name in settings.AUDIT_APP_DB_ROLE, default ``cmer_app``).
- SQLite: BEFORE UPDATE / BEFORE DELETE triggers (SQLite has no TRUNCATE and no roles).

The pending table (``audit_pending``, entries recorded but not chained yet, see ``sealing.py``)
refuses UPDATE and TRUNCATE the same way, and a DELETE unless the chain already holds an entry
with the same id and exactly the same content: the sealer's move is the only DELETE that passes,
so an entry can leave the pending table only into the chain. The application role has DELETE
on that table only.

``maintenance()`` lifts the triggers inside one transaction, for the owner only (the retention
purge and the test runner's flush): on PostgreSQL ``ALTER TABLE`` fails for any other role.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import transaction

CHAIN_TABLE = "audit_auditentry"
PENDING_TABLE = "audit_pending"
VIEW = "audit_trail"
# Before migration 0005 (the pending table did not exist yet).
INITIAL_TABLES = ("audit_auditentry", "audit_auditcheckpoint")
PROTECTED_TABLES = (*INITIAL_TABLES, PENDING_TABLE)

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION cmer_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'CMER: % refused on %: the audit trail is append-only', TG_OP, TG_TABLE_NAME;
END
$$
"""


def _pending_delete_check(vendor: str) -> str:
    """The condition under which a pending entry may be deleted: the chain holds it, unchanged."""
    from .models import CONTENT_COLUMNS

    same = " AND ".join(
        f'c."{name}" {"IS NOT DISTINCT FROM" if vendor == "postgresql" else "IS"} OLD."{name}"'
        for name in CONTENT_COLUMNS
    )
    return f"EXISTS (SELECT 1 FROM {CHAIN_TABLE} c WHERE c.id = OLD.id AND {same})"  # noqa: S608


def _pg_pending_function() -> str:
    return f"""
CREATE OR REPLACE FUNCTION cmer_audit_pending_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT {_pending_delete_check("postgresql")} THEN
        RAISE EXCEPTION 'CMER: DELETE refused on %: an entry leaves it only into the chain, '
            'unchanged', TG_TABLE_NAME;
    END IF;
    RETURN OLD;
END
$$
"""


def _row_trigger(table: str) -> str:
    return f"{table}_append_only"


def _truncate_trigger(table: str) -> str:
    return f"{table}_no_truncate"


def trigger_names(table: str, vendor: str) -> list[str]:
    if vendor == "postgresql":
        names = [_row_trigger(table), _truncate_trigger(table)]
        return [*names, f"{table}_chained_only"] if table == PENDING_TABLE else names
    return [f"{table}_no_update", f"{table}_no_delete"]


def _sqlite_create(table: str) -> list[str]:
    if table == PENDING_TABLE:
        return [
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'CMER: UPDATE refused on {table}: the audit trail is "
            f"append-only'); END",
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
            f"WHEN NOT {_pending_delete_check('sqlite')} "
            f"BEGIN SELECT RAISE(ABORT, 'CMER: DELETE refused on {table}: an entry leaves it "
            f"only into the chain, unchanged'); END",
        ]
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'CMER: {op} refused on {table}: the audit trail is "
        f"append-only'); END"
        for op in ("UPDATE", "DELETE")
    ]


def _pg_create(table: str) -> list[str]:
    if table == PENDING_TABLE:
        return [
            f"CREATE TRIGGER {_row_trigger(table)} BEFORE UPDATE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION cmer_audit_refuse()",
            f"CREATE TRIGGER {table}_chained_only BEFORE DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION cmer_audit_pending_delete()",
            f"CREATE TRIGGER {_truncate_trigger(table)} BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION cmer_audit_refuse()",
        ]
    return [
        f"CREATE TRIGGER {_row_trigger(table)} BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION cmer_audit_refuse()",
        f"CREATE TRIGGER {_truncate_trigger(table)} BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION cmer_audit_refuse()",
    ]


def install(connection: Any, tables: tuple[str, ...] = PROTECTED_TABLES) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(PG_FUNCTION)
            if PENDING_TABLE in tables:
                cursor.execute(_pg_pending_function())
            for table in tables:
                for name in trigger_names(table, "postgresql"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                for statement in _pg_create(table):
                    cursor.execute(statement)
        elif connection.vendor == "sqlite":
            for table in tables:
                for statement in _sqlite_create(table):
                    cursor.execute(statement)
        else:  # pragma: no cover
            raise NotImplementedError(connection.vendor)


def uninstall(connection: Any, tables: tuple[str, ...] = PROTECTED_TABLES) -> None:
    """Only for reversing the migration."""
    with connection.cursor() as cursor:
        for table in tables:
            for name in trigger_names(table, connection.vendor):
                if connection.vendor == "postgresql":
                    cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                else:
                    cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def app_role() -> str:
    return getattr(settings, "AUDIT_APP_DB_ROLE", "cmer_app")


def revoke_app_privileges(
    connection: Any, role: str | None = None, tables: tuple[str, ...] = PROTECTED_TABLES
) -> bool:
    """PostgreSQL: leave the application role INSERT and SELECT only on the audit tables
    (and DELETE on the pending table, which its trigger limits to the sealer's move).

    deploy/postgres/init.sql gives ``cmer_app`` SELECT/INSERT/UPDATE/DELETE on every table the
    owner creates; here the audit tables lose UPDATE, DELETE, TRUNCATE (and TRIGGER, REFERENCES).
    Returns False when the role does not exist (development, tests).
    """
    if connection.vendor != "postgresql":
        return False
    role = role or app_role()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            return False
        quoted = connection.ops.quote_name(role)
        for table in tables:
            cursor.execute(
                f"REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON {table} FROM {quoted}"
            )
            cursor.execute(f"GRANT SELECT, INSERT ON {table} TO {quoted}")
            if table == PENDING_TABLE:
                cursor.execute(f"GRANT DELETE ON {table} TO {quoted}")
                cursor.execute(f"GRANT SELECT ON {VIEW} TO {quoted}")
    return True


def is_installed(connection: Any, table: str = "audit_auditentry") -> bool:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass "
                "AND tgname = ANY(%s) AND tgenabled <> 'D'",
                [table, trigger_names(table, "postgresql")],
            )
        else:
            cursor.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN (%s, %s)",
                trigger_names(table, "sqlite"),
            )
        return cursor.fetchone()[0] == len(trigger_names(table, connection.vendor))


@contextlib.contextmanager
def maintenance(connection: Any, tables: tuple[str, ...] = PROTECTED_TABLES) -> Iterator[None]:
    """Lift the protection inside one transaction; restored before it commits.

    Works only for the tables' owner (PostgreSQL refuses ALTER TABLE to anyone else), so the
    application role can never use it.
    """
    postgres = connection.vendor == "postgresql"
    with transaction.atomic(using=connection.alias):
        with connection.cursor() as cursor:
            if postgres:
                # PostgreSQL refuses ALTER TABLE while deferred FK checks are pending in the
                # transaction (e.g. rows inserted earlier in it): run them now.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table in tables:
                if connection.vendor == "postgresql":
                    for name in trigger_names(table, "postgresql"):
                        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {name}")
                else:
                    for name in trigger_names(table, "sqlite"):
                        cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        yield
        with connection.cursor() as cursor:
            if postgres:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table in tables:
                if connection.vendor == "postgresql":
                    for name in trigger_names(table, "postgresql"):
                        cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {name}")
                else:
                    for statement in _sqlite_create(table):
                        cursor.execute(statement)
            if postgres:
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # back to Django's default
