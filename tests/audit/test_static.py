"""Application code never bypasses django-auditlog's signals on an audited model.

QuerySet.update(), bulk_create(), bulk_update() and raw() write or read without the signals the
trail relies on, and disable_auditlog() switches it off. This test reads the source (ast) of the
apps and of cmer/: each such call must be on a model that is *not* audited, or be listed below
with the reason it is safe.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from auditlog.registry import auditlog
from django.db import models

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("cases", "meetings", "training", "conventions", "cmer")
ALWAYS = {"bulk_create", "bulk_update", "raw", "_raw_delete"}
QUERYSET_METHODS = {
    "objects", "_default_manager", "_base_manager", "filter", "exclude", "all", "order_by",
    "select_related", "prefetch_related", "select_for_update", "annotate", "only", "defer",
    "using", "distinct", "none",
}  # fmt: skip
# (path, "Receiver.method") → why it is safe. Keep it short and justified.
_TRAINING_IMPORT = (
    "attendance import of up to 10,000 rows: one explicit record_event() per confirmed import "
    "with its counts (training/actions.py docstring); trainees hold no referral data"
)
_RETENTION = (
    "retention run: thousands of rows per decision in batches; the run records one explicit "
    "record_event(Event.RETENTION) with its counts and a signed certificate of the references "
    "(cmer/retention/runner.py, cases/retention.py docstring)"
)
ALLOWED: dict[tuple[str, str], str] = {
    ("cases/retention.py", "Decision.update"): _RETENTION,
    ("cases/retention.py", "AgendaItem.update"): _RETENTION,
    ("cases/retention.py", "Referral.update"): _RETENTION,
    ("cases/retention.py", "StateInformation.update"): _RETENTION,
    ("cases/retention.py", "queryset.update"): _RETENTION,
    ("cases/retention.py", "queryset._raw_delete"): _RETENTION,
    ("training/retention.py", "queryset._raw_delete"): _RETENTION,
    ("conventions/retention.py", "Signatory.update"): _RETENTION,
    ("conventions/retention.py", "documents._raw_delete"): _RETENTION,
    ("training/actions.py", "Trainee.bulk_create"): _TRAINING_IMPORT,
    ("training/actions.py", "Trainee.bulk_update"): _TRAINING_IMPORT,
    ("training/actions.py", "Attendance.bulk_create"): _TRAINING_IMPORT,
    ("training/actions.py", "Attendance.bulk_update"): _TRAINING_IMPORT,
    ("cases/age_brackets.py", "referral_model.bulk_update"): (
        "the data migration's backfill of the age bracket (cases 0008): a clear column derived "
        "from fields already in the trail, written once per existing referral at the upgrade; "
        "an entry per referral would only repeat it. New referrals get it through save()"
    ),
    ("training/actions.py", "AttestationBundle.update"): (
        "release_bundle_run frees the lease of a pending bundle's build (started_at only, a "
        "worker's bookkeeping, no content); every state change of a bundle goes through save()"
    ),
}


def _source_files() -> list[Path]:
    files = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            files.append(path)
    return files


def _chain_names(node: ast.AST) -> list[str]:
    """Names along a call chain: ``Referral.objects.filter(...)`` → [Referral, objects, filter]."""
    names: list[str] = []
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Name):
            names.append(node.id)
            break
        else:
            break
    return list(reversed(names))


def _model_named(module_name: str, name: str) -> type[models.Model] | None:
    try:
        module = importlib.import_module(module_name)
    except Exception:
        return None
    candidate = getattr(module, name, None)
    if isinstance(candidate, type) and issubclass(candidate, models.Model):
        return candidate
    # Imported inside a function: the model of that name, if exactly one has it.
    from django.apps import apps

    named = [model for model in apps.get_models() if model.__name__ == name]
    return named[0] if len(named) == 1 else None


def offending_calls() -> list[str]:
    found = []
    for path in _source_files():
        relative = path.relative_to(ROOT).as_posix()
        module_name = relative.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Name | ast.Attribute | ast.alias):
                name = getattr(node, "id", None) or getattr(node, "attr", None) or node.name
                if name == "disable_auditlog" and relative != "cmer/audit/core.py":
                    found.append(f"{relative}:{node.lineno}: disable_auditlog")
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            method = node.func.attr
            receiver = _chain_names(node.func.value)
            if method == "update":
                # dict.update() is everywhere: only queryset-looking receivers count.
                looks_like_queryset = bool(set(receiver) & QUERYSET_METHODS) or any(
                    name.endswith(("queryset", "qs", "_set")) for name in receiver
                )
                if not looks_like_queryset or node.args:
                    continue
            elif method not in ALWAYS:
                continue
            model = _model_named(module_name, receiver[0]) if receiver else None
            if receiver and receiver[0] == "self" and relative.startswith("cmer/audit/"):
                continue  # the audit package's own append-only refusals
            if model is not None and not auditlog.contains(model):
                continue  # not an audited model
            key = f"{receiver[0] if receiver else '?'}.{method}"
            if (relative, key) in ALLOWED:
                continue
            text = ast.get_source_segment(path.read_text(encoding="utf-8"), node) or method
            text = " ".join(text.split())[:120]
            found.append(f"{relative}:{node.lineno}: {text}")
    return found


@pytest.mark.django_db
def test_no_signal_bypass_on_audited_models():
    offenders = offending_calls()
    assert offenders == [], (
        "These calls bypass the audit trail (use save()/delete() per object, or record the "
        "entry by hand and add the call to ALLOWED with the reason):\n" + "\n".join(offenders)
    )


def test_the_scanner_catches_what_it_must(tmp_path, monkeypatch):
    """The scanner itself: a queryset update and a bulk_create are found, a dict.update is not."""
    source = (
        "from cmer.accounts.models import Membership\n"
        "def f(d):\n"
        "    d.update(a=1)\n"
        "    Membership.objects.filter(pk=1).update(role='x')\n"
        "    Membership.objects.bulk_create([])\n"
    )
    package = tmp_path / "cmer"
    package.mkdir()
    (package / "bad.py").write_text(source)
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    offenders = offending_calls()
    assert len(offenders) == 2, offenders
