"""Database-level protection of the audit tables: the database itself refuses UPDATE, DELETE and
TRUNCATE, whatever the application does, and the application's role can only add pending entries.

- PostgreSQL: a row trigger (UPDATE, DELETE) and a statement trigger (TRUNCATE: row triggers do not
  fire on it) on the chain, the checkpoints and the verification records. Only the table owner
  can disable them. In production the application (web, worker, beat) connects as ``cmer_app``
  (settings.AUDIT_APP_DB_ROLE), which owns nothing and on these tables has SELECT only, plus
  INSERT on the pending table (``revoke_app_privileges``). Everything else goes through three
  ``SECURITY DEFINER`` functions owned by the owner role, with a fixed ``search_path``, which the
  application role may only EXECUTE: ``cmer_audit_seal`` (chains pending entries: the hash is
  computed by the database, not by the caller), ``cmer_audit_add_checkpoint`` (checks that the
  signed head is the chain's) and ``cmer_audit_add_verification``. A compromised web or worker
  process can therefore neither forge nor reorder the chain, nor block it (a chain row reusing
  a pending id cannot be written), nor rewrite a verification result.
- A pending entry's id and time are the database's: the columns' defaults (the table's sequence,
  ``clock_timestamp()``), and the application role may not write either column (its INSERT
  privilege names the other columns only: ``revoke_app_privileges``). One clock for every
  process, no forged date, no chosen id, and nothing to run per row (migration 0013; a BEFORE
  INSERT trigger did it before, ``STAMP_TRIGGER``, which cost the database half of a bulk
  INSERT's time).
- SQLite: BEFORE UPDATE / BEFORE DELETE triggers (SQLite has no TRUNCATE and no roles; the
  embedded database is the process's own, and the Python sealer does the same work).

The pending table (``audit_pending``, entries recorded but not chained yet, see ``sealing.py``)
refuses UPDATE and TRUNCATE the same way, and a DELETE unless the chain already holds an entry
with the same id and exactly the same content: the sealer's move is the only DELETE that passes,
so an entry can leave the pending table only into the chain.

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
VERIFICATION_TABLE = "audit_auditverification"
CHECKPOINT_TABLE = "audit_auditcheckpoint"
# Before migration 0005 (the pending table did not exist yet).
INITIAL_TABLES = ("audit_auditentry", "audit_auditcheckpoint")
# Before migration 0007 (verification records were not protected yet).
TABLES_0005 = (*INITIAL_TABLES, PENDING_TABLE)
PROTECTED_TABLES = (*TABLES_0005, VERIFICATION_TABLE)

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION cmer_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'CMER: % refused on %: the audit trail is append-only', TG_OP, TG_TABLE_NAME;
END
$$
"""


def _pending_delete_check(vendor: str, alias: str = "OLD") -> str:
    """The condition under which a pending entry (``alias``) may be deleted: the chain holds
    it, unchanged."""
    from .models import CONTENT_COLUMNS

    same = " AND ".join(
        f'c."{name}" {"IS NOT DISTINCT FROM" if vendor == "postgresql" else "IS"} {alias}."{name}"'
        for name in CONTENT_COLUMNS
    )
    return f"EXISTS (SELECT 1 FROM {CHAIN_TABLE} c WHERE c.id = {alias}.id AND {same})"  # noqa: S608


def _pg_pending_function() -> str:
    """One check per DELETE statement over the deleted rows (a transition table), not one
    plpgsql call per row: the sealer's move of a batch is one set-based anti-join."""
    return f"""
CREATE OR REPLACE FUNCTION cmer_audit_pending_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM gone o WHERE NOT {_pending_delete_check("postgresql", "o")}) THEN
        RAISE EXCEPTION 'CMER: DELETE refused on %: an entry leaves it only into the chain, '
            'unchanged', TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END
$$
"""  # noqa: S608 (names and constants of this module only)


def _row_trigger(table: str) -> str:
    return f"{table}_append_only"


def _truncate_trigger(table: str) -> str:
    return f"{table}_no_truncate"


def trigger_names(table: str, vendor: str) -> list[str]:
    if vendor == "postgresql":
        names = [_row_trigger(table), _truncate_trigger(table)]
        if table == PENDING_TABLE:
            names.append(f"{table}_chained_only")
        return names
    return [f"{table}_no_update", f"{table}_no_delete"]


# The pending table's former BEFORE INSERT trigger (PostgreSQL, migrations 0007–0012).
STAMP_TRIGGER = "audit_pending_stamp"
# The pending table's columns the database always fills itself (PostgreSQL).
DATABASE_COLUMNS = ("id", "timestamp")


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
            f"CREATE TRIGGER {table}_chained_only AFTER DELETE ON {table} "
            f"REFERENCING OLD TABLE AS gone "
            f"FOR EACH STATEMENT EXECUTE FUNCTION cmer_audit_pending_delete()",
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
    connection: Any,
    role: str | None = None,
    tables: tuple[str, ...] = PROTECTED_TABLES,
    *,
    functions: bool = True,
) -> bool:
    """PostgreSQL: leave the application role SELECT only on the audit tables, plus INSERT on
    the pending table, and EXECUTE on the three functions (``functions=False``: the
    privileges of migrations 0003–0005, before the functions existed).

    deploy/postgres/init.sql gives ``cmer_app`` SELECT/INSERT/UPDATE/DELETE on every table the
    owner creates; here the audit tables lose INSERT (but the pending table's), UPDATE, DELETE,
    TRUNCATE, TRIGGER and REFERENCES. Returns False when the role does not exist (development,
    tests).
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
            if functions:
                cursor.execute(f"REVOKE ALL ON {table} FROM {quoted}")
                cursor.execute(f"GRANT SELECT ON {table} TO {quoted}")
                if table == PENDING_TABLE:
                    # Every column but those the database fills (id, time): an INSERT naming
                    # either is refused.
                    cursor.execute(f"GRANT INSERT ({_app_columns()}) ON {table} TO {quoted}")
                    cursor.execute(f"GRANT SELECT ON {VIEW} TO {quoted}")
                continue
            cursor.execute(
                f"REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON {table} FROM {quoted}"
            )
            cursor.execute(f"GRANT SELECT, INSERT ON {table} TO {quoted}")
            if table == PENDING_TABLE:
                cursor.execute(f"GRANT DELETE ON {table} TO {quoted}")
                cursor.execute(f"GRANT SELECT ON {VIEW} TO {quoted}")
        if functions:
            for signature in FUNCTION_SIGNATURES:
                cursor.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {quoted}")
    return True


def _app_columns() -> str:
    from .models import PendingEntry

    return ", ".join(
        f'"{f.column}"'
        for f in PendingEntry._meta.concrete_fields
        if f.column not in DATABASE_COLUMNS
    )


def stamp_by_default(connection: Any) -> None:
    """PostgreSQL: the pending table's time is the column's default (``clock_timestamp()``),
    its id the sequence's; the former stamping trigger goes (see the module docstring)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f'ALTER TABLE {PENDING_TABLE} ALTER COLUMN "timestamp" SET DEFAULT clock_timestamp()'
        )
        cursor.execute(f"DROP TRIGGER IF EXISTS {STAMP_TRIGGER} ON {PENDING_TABLE}")
        cursor.execute("DROP FUNCTION IF EXISTS cmer_audit_pending_stamp()")


def stamp_by_trigger(connection: Any) -> None:
    """The former stamping trigger, and no default time (reversing migration 0013)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [PENDING_TABLE])
        (sequence,) = cursor.fetchone()
        cursor.execute(_stamp_function_sql(sequence))
        cursor.execute(f"DROP TRIGGER IF EXISTS {STAMP_TRIGGER} ON {PENDING_TABLE}")
        cursor.execute(
            f"CREATE TRIGGER {STAMP_TRIGGER} BEFORE INSERT ON {PENDING_TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION cmer_audit_pending_stamp()"
        )
        cursor.execute(f'ALTER TABLE {PENDING_TABLE} ALTER COLUMN "timestamp" DROP DEFAULT')


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


# --- PostgreSQL: the functions the application role may call instead of writing ----------------

SEAL_FUNCTION = "cmer_audit_seal"
CHECKPOINT_FUNCTION = "cmer_audit_add_checkpoint"
VERIFICATION_FUNCTION = "cmer_audit_add_verification"
FUNCTION_SIGNATURES = (
    f"{SEAL_FUNCTION}(integer, boolean)",
    f"{CHECKPOINT_FUNCTION}(text, bigint, text, bigint, timestamptz, text)",
    f"{VERIFICATION_FUNCTION}(timestamptz, timestamptz, boolean, bigint, bigint, text, text, "
    "bigint, text)",
)
# Integer columns: written in decimal by their output function, nothing to escape.
_INTEGER_COLUMNS = frozenset(
    {"action", "content_type_id", "object_id", "actor_id", "remote_port", "commune_id"}
)


def _escaped(column: str) -> str:
    """SQL for one text value as COPY's text format writes it (``chain.escape``); chr() rather
    than E'' literals, which have no ``\\v``. The backslash goes first."""
    expression = f"replace({column}, '\\', '\\\\')"
    for code, letter in ((9, "t"), (10, "n"), (13, "r"), (8, "b"), (12, "f"), (11, "v")):
        expression = f"replace({expression}, chr({code}), '\\{letter}')"
    return expression


# The characters ``chain.escape`` rewrites (backslash, then \b \t \n \v \f \r), as a bracket
# expression: the backslash doubled (it escapes inside brackets), the rest as themselves.
_ESCAPED_CLASS = (
    "'[' || chr(92) || chr(92) || chr(8) || chr(9) || chr(10) || chr(11) || chr(12) || chr(13) "
    "|| ']'"
)


def content_text_sql(alias: str = "p") -> str:
    """SQL building the content columns' part of the canonical line (``chain.CANONICAL_COLUMNS
    [3:]``), exactly as ``COPY`` writes them: the sealing function hashes this text, and
    verification hashes what ``COPY`` streams (tests/audit/test_chain_speed.py compares them).

    A row none of whose text values holds a character to escape (nearly every row) is joined
    as it is: one regular-expression test over its text instead of six ``replace`` calls per
    text column."""
    from .models import CONTENT_COLUMNS

    escaped, as_is, texts = [], [], []
    for name in CONTENT_COLUMNS:
        column = f'{alias}."{name}"'
        if name == "timestamp":
            value = f"(({column} AT TIME ZONE 'UTC')::text)"  # ISO DateStyle: the function's SET
            plain = value
        elif name == "remote_addr":
            value = plain = f"host({column})"  # inet's output without the /32 or /128
        elif name in _INTEGER_COLUMNS:
            value = plain = f"({column}::text)"
        else:
            value, plain = _escaped(column), column
            texts.append(column)
        escaped.append(f"coalesce({value}, '\\N')")
        as_is.append(f"coalesce({plain}, '\\N')")
    separator = " || chr(9) || "
    return (
        f"CASE WHEN concat({', '.join(texts)}) ~ ({_ESCAPED_CLASS}) "
        f"THEN {separator.join(escaped)} ELSE {separator.join(as_is)} END"
    )


def _seal_function_sql(schema: str, sequence: str) -> str:
    """The sealer. Its loop only hashes (each hash needs the one before) and keeps the ids and
    hashes; positions follow from the order and each link is the hash before it, so the rows
    are then written by one INSERT … SELECT from the pending table and one DELETE."""
    from . import chain
    from .models import CONTENT_COLUMNS

    columns = ", ".join(f'"{name}"' for name in CONTENT_COLUMNS)
    from_pending = ", ".join(f'p."{name}"' for name in CONTENT_COLUMNS)
    # Names and constants of this module only: no outside value in the text.
    return f"""
CREATE OR REPLACE FUNCTION {SEAL_FUNCTION}(batch integer, wait boolean) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, "{schema}", pg_temp
SET DateStyle = 'ISO, YMD'
AS $$
DECLARE
    start_position bigint;
    start_hash text;
    head_position bigint;
    head_hash text;
    r record;
    ids bigint[] := '{{}}';
    hashes text[] := '{{}}';
    moved integer;
BEGIN
    -- One sealer at a time; the lock is the transaction's (released at its end).
    IF wait THEN
        PERFORM pg_advisory_xact_lock({chain.CHAIN_LOCK_KEY});
    ELSIF NOT pg_try_advisory_xact_lock({chain.CHAIN_LOCK_KEY}) THEN
        RETURN 0;
    END IF;
    SELECT c.position, c.entry_hash INTO start_position, start_hash
        FROM {CHAIN_TABLE} c ORDER BY c.position DESC LIMIT 1;
    IF NOT FOUND THEN
        SELECT k.head_position, k.head_hash INTO start_position, start_hash
            FROM {CHECKPOINT_TABLE} k WHERE k.kind = 'boundary'
            ORDER BY k.head_position DESC LIMIT 1;
        IF NOT FOUND THEN
            start_position := 0;
            start_hash := '{chain.GENESIS_HASH}';
        END IF;
    END IF;
    head_position := start_position;
    head_hash := start_hash;
    FOR r IN
        SELECT p.id, chr(9) || p.id::text || chr(9) || {content_text_sql("p")} AS rest
        FROM {PENDING_TABLE} p ORDER BY p.id LIMIT batch
    LOOP
        head_position := head_position + 1;
        head_hash := encode(sha256(convert_to('{chain.VERSION}' || chr(9)
            || head_position::text || chr(9) || head_hash || r.rest, 'UTF8')), 'hex');
        ids := ids || r.id;
        hashes := hashes || head_hash;
    END LOOP;
    IF cardinality(ids) = 0 THEN
        RETURN 0;
    END IF;
    INSERT INTO {CHAIN_TABLE} (id, position, prev_hash, entry_hash, {columns})
        SELECT p.id, start_position + v.n,
            lag(v.entry_hash, 1, start_hash) OVER (ORDER BY v.n), v.entry_hash, {from_pending}
        FROM unnest(ids, hashes) WITH ORDINALITY AS v(id, entry_hash, n)
        JOIN {PENDING_TABLE} p ON p.id = v.id;
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved <> cardinality(ids) THEN
        RAISE EXCEPTION 'CMER: audit sealing: pending entries vanished during the seal';
    END IF;
    DELETE FROM {PENDING_TABLE} WHERE id = ANY(ids);
    RETURN moved;
END
$$
"""  # noqa: S608


def _checkpoint_function_sql(schema: str) -> str:
    """Adds a daily or manual checkpoint; refuses one whose head is not the chain's (a boundary
    checkpoint is written by the owner's purge only). The MAC is the caller's: the key never
    enters the database."""
    from . import chain

    # Names and constants of this module only: no outside value in the text.
    return f"""
CREATE OR REPLACE FUNCTION {CHECKPOINT_FUNCTION}(
    p_kind text, p_head_position bigint, p_head_hash text, p_entry_count bigint,
    p_created_at timestamptz, p_mac text
) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, "{schema}", pg_temp
AS $$
DECLARE
    new_id bigint;
BEGIN
    IF p_kind NOT IN ('daily', 'manual') THEN
        RAISE EXCEPTION 'CMER: checkpoint kind % refused', p_kind;
    END IF;
    IF NOT (
        EXISTS (SELECT 1 FROM {CHAIN_TABLE} c
                WHERE c.position = p_head_position AND c.entry_hash = p_head_hash)
        OR EXISTS (SELECT 1 FROM {CHECKPOINT_TABLE} k WHERE k.kind = 'boundary'
                   AND k.head_position = p_head_position AND k.head_hash = p_head_hash)
        OR (p_head_position = 0 AND p_head_hash = '{chain.GENESIS_HASH}')
    ) THEN
        RAISE EXCEPTION 'CMER: checkpoint refused: position % does not have that hash',
            p_head_position;
    END IF;
    INSERT INTO {CHECKPOINT_TABLE} (created_at, kind, head_position, head_hash, entry_count, mac)
        VALUES (p_created_at, p_kind, p_head_position, p_head_hash, p_entry_count, p_mac)
        RETURNING id INTO new_id;
    RETURN new_id;
END
$$
"""  # noqa: S608


def _verification_function_sql(schema: str) -> str:
    # Names and constants of this module only: no outside value in the text.
    return f"""
CREATE OR REPLACE FUNCTION {VERIFICATION_FUNCTION}(
    p_started_at timestamptz, p_finished_at timestamptz, p_ok boolean, p_checked bigint,
    p_head_position bigint, p_head_hash text, p_problem text, p_problem_position bigint,
    p_message text
) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, "{schema}", pg_temp
AS $$
DECLARE
    new_id bigint;
BEGIN
    INSERT INTO {VERIFICATION_TABLE} (started_at, finished_at, ok, checked, head_position,
        head_hash, problem, problem_position, message)
        VALUES (p_started_at, p_finished_at, p_ok, p_checked, p_head_position, p_head_hash,
        p_problem, p_problem_position, p_message)
        RETURNING id INTO new_id;
    RETURN new_id;
END
$$
"""  # noqa: S608


def _stamp_function_sql(sequence: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION cmer_audit_pending_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The id is the one the column's default drew from the sequence for this very row (an id
    -- chosen by the writer could collide with a chained entry and block sealing for ever).
    IF NEW.id IS DISTINCT FROM currval('{sequence}'::regclass) THEN
        RAISE EXCEPTION 'CMER: an audit entry''s id is given by the database';
    END IF;
    NEW."timestamp" := clock_timestamp();
    RETURN NEW;
END
$$
"""


def install_functions(connection: Any, *, stamp_trigger: bool = False) -> None:
    """PostgreSQL: (re)create the sealing, checkpoint and verification functions, owned by the
    role running the migration (the owner); ``stamp_trigger``: also the pending table's former
    stamping trigger (migration 0007, until 0013 replaces it by the columns' defaults)."""
    if connection.vendor != "postgresql":
        return
    if stamp_trigger:
        stamp_by_trigger(connection)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema(), pg_get_serial_sequence(%s, 'id')", [PENDING_TABLE])
        schema, sequence = cursor.fetchone()
        cursor.execute(_seal_function_sql(schema, sequence))
        cursor.execute(_checkpoint_function_sql(schema))
        cursor.execute(_verification_function_sql(schema))
        for signature in FUNCTION_SIGNATURES:
            # Nobody but the roles granted below (PUBLIC has EXECUTE on new functions).
            cursor.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")


def uninstall_functions(connection: Any) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER IF EXISTS {STAMP_TRIGGER} ON {PENDING_TABLE}")
        cursor.execute("DROP FUNCTION IF EXISTS cmer_audit_pending_stamp()")
        for signature in FUNCTION_SIGNATURES:
            cursor.execute(f"DROP FUNCTION IF EXISTS {signature}")


def functions_installed(connection: Any) -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_proc WHERE proname = ANY(%s) AND prosecdef",
            [[SEAL_FUNCTION, CHECKPOINT_FUNCTION, VERIFICATION_FUNCTION]],
        )
        return cursor.fetchone()[0] == 3
