"""Django internals the code relies on, each pinned here so that a Django upgrade that changes
one fails loudly in this file rather than quietly somewhere else.

Already pinned elsewhere: ``Model._do_insert`` and the cursor wrappers of the audit write path
(``tests/audit/test_write_path.py``). Documented APIs (``Model._meta``, ``_base_manager``,
``Model.from_db``) need no guard.
"""

from __future__ import annotations

import datetime
import inspect

import django
import pytest
from django.db import connection, transaction
from django.db.models import Model
from django.db.models.sql.compiler import SQLCompiler

from cmer.accounts.models import Commune, User


def test_django_is_the_version_these_guards_were_written_for():
    """On an upgrade, re-read the guards below (and the write path's) before changing this."""
    assert django.VERSION[:2] == (5, 2)


def test_compiler_converters_used_by_the_referral_list():
    """``cases.views.listing.list_page`` wraps the ORM's compiled UNION in its own SELECT, then runs
    the rows through the compiler's converters (SQLite's dates) as the ORM would."""
    assert list(inspect.signature(SQLCompiler.get_converters).parameters) == [
        "self",
        "expressions",
    ]
    assert list(inspect.signature(SQLCompiler.apply_converters).parameters) == [
        "self",
        "rows",
        "converters",
    ]
    assert list(inspect.signature(SQLCompiler.as_sql).parameters)[:3] == [
        "self",
        "with_limits",
        "with_col_aliases",
    ]


@pytest.mark.django_db
def test_compiled_union_select_and_converters_give_the_orm_values(world):
    """The same statement read by hand (as ``list_page``) and by the ORM: equal values."""
    columns = ("pk", "email", "date_joined")
    first = User.objects.filter(pk=world.agent.pk).order_by().values(*columns)
    union = first.union(User.objects.filter(pk=world.dpo.pk).order_by().values(*columns), all=True)
    compiler = union.query.get_compiler(using=union.db)
    sql, params = compiler.as_sql()
    assert all(len(item) == 3 for item in compiler.select)  # (expression, sql, alias)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM ({sql}) u ORDER BY 1", params)  # noqa: S608
        rows = cursor.fetchall()
    converters = compiler.get_converters([expression for expression, _, _ in compiler.select])
    assert isinstance(converters, dict)
    if converters:
        rows = list(compiler.apply_converters(rows, converters))
    expected = sorted(union, key=lambda row: row["pk"])
    assert [tuple(row) for row in rows] == [
        (row["pk"], row["email"], row["date_joined"]) for row in expected
    ]
    assert all(isinstance(row[2], datetime.datetime) for row in rows)


@pytest.mark.django_db
def test_query_is_empty_tells_none_from_a_filter():
    """``cases.access`` and ``meetings.access`` skip a role's arm when its communes are
    ``.none()``."""
    assert Commune.objects.none().query.is_empty()
    assert not Commune.objects.filter(pk=0).query.is_empty()
    assert not Commune.objects.all().query.is_empty()


@pytest.mark.django_db(transaction=True)
def test_in_atomic_block_tells_autocommit_from_a_transaction():
    """``cmer.audit.sealing`` seals in autocommit (one round trip) outside a transaction."""
    assert connection.in_atomic_block is False
    with transaction.atomic():
        assert connection.in_atomic_block is True
    assert connection.in_atomic_block is False


@pytest.mark.django_db
def test_model_state_used_by_the_audit_append(world):
    """``cmer.audit.writing.append`` saves without ``Model.save`` and sets ``_state`` itself."""
    fresh = Commune(name="X", insee_code="99999")
    assert fresh._state.adding is True and fresh._state.db is None
    assert world.tarascon._state.adding is False
    assert Commune.objects.get(pk=world.tarascon.pk)._state.db == "default"
    assert callable(Model.from_db)


def test_quote_name_used_by_raw_sql():
    """``rotate_encryption_key`` and ``cmer.audit.protection`` quote identifiers with it."""
    assert connection.ops.quote_name("cases_referral") == '"cases_referral"'
    assert connection.ops.quote_name('"already"') == '"already"'
