"""Destruction certificates: what a retention run removed, signed so that it can be checked later.

The certificate is a short text — run, dates, settings in force, then per rule the count and the
references (or identifiers) removed, and the references skipped under a legal hold — sealed with
the installation's checkpoint key exactly like the audit checkpoints (``cmer.audit.chain``'s
HMAC with ``AUDIT_CHECKPOINT_KEY``, a key that never enters the database). Its first line names
its kind, so a certificate can never pass for an audit checkpoint, nor the reverse.

The PDF (``cmer.pdf``, restricted fetcher) shows the same content and carries the signed text as
an embedded file (``certificat.txt``): ``manage.py verify_retention_certificate FILE`` or the
DPO's page reads it from the PDF (or from the text file itself) and checks the seal. Neither
holds a name: references, identifiers and counts only.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from cmer.audit.chain import checkpoint_mac, format_timestamp, mac_is_valid
from cmer.pdf import render_pdf

from . import rules
from .models import RetentionRun

VERSION = "cmer-retention-v1-certificate"
ATTACHMENT_NAME = "certificat.txt"
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def _settings_line() -> str:
    p = rules.periods()
    return (
        f"settings=RETENTION_ARCHIVE_YEARS:{p.archive_years} RETENTION_AGE_LIMIT:{p.age_limit} "
        f"RETENTION_DRAFT_DAYS:{p.draft_days} RETENTION_TRAINING_YEARS:{p.training_years} "
        f"RETENTION_CONVENTION_YEARS:{p.convention_years}"
    )


def certificate_text(run: RetentionRun, *, age_rule: bool) -> str:
    """The signed statement of a finished run (without the seal)."""
    lines = [
        VERSION,
        f"run={run.pk}",
        f"started={format_timestamp(run.started_at)}",
        f"finished={format_timestamp(run.finished_at or timezone.now())}",
        _settings_line(),
        f"age_rule={'on' if age_rule else 'off'}",
    ]
    for rule in rules.APPLIED_RULES:
        result = (run.results or {}).get(rule, {})
        items = ",".join(result.get("items", []))
        lines.append(
            f"rule={rule} count={result.get('count', 0)} records={result.get('records', 0)} "
            f"files={result.get('files', 0)} items={items}"
        )
    lines.append(f"held count={len(run.held or [])} items={','.join(run.held or [])}")
    return "\n".join(lines)


def sign(text: str) -> str:
    return checkpoint_mac(text)


def signed_file(run: RetentionRun) -> str:
    """The text the DPO keeps (and what the PDF embeds): the statement and its seal."""
    return f"{run.text}\nmac={run.mac}\n"


def _chunks(items: list[str], size: int = 300) -> list[list[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def render(run: RetentionRun) -> bytes:
    """The PDF: the run in words, then the signed text, also embedded as ``certificat.txt``."""
    from pypdf import PdfReader, PdfWriter

    rows = []
    for rule in rules.APPLIED_RULES:
        result = (run.results or {}).get(rule, {})
        rows.append(
            {
                "label": rules.LABELS[rule],
                "count": result.get("count", 0),
                "records": result.get("records", 0),
                "files": result.get("files", 0),
                "items": bool(result.get("items")),
                "chunks": _chunks(result.get("items", [])),
            }
        )
    pdf = render_pdf(
        "retention/certificate_pdf.html",
        {"run": run, "rows": rows, "held": _chunks(run.held or [])},
    )
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.add_attachment(ATTACHMENT_NAME, signed_file(run).encode("utf-8"))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@dataclass
class Verdict:
    ok: bool
    message: str
    run_id: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    # The run of this installation with the same statement (None: not found here).
    matches_stored: bool | None = None


def _text_of(data: bytes) -> str | None:
    """The signed text: the file itself, or the attachment of a certificate PDF."""
    if data.startswith(b"%PDF-"):
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError

        try:
            attachments = PdfReader(io.BytesIO(data)).attachments
        except (PdfReadError, ValueError, KeyError, TypeError):
            return None
        contents = attachments.get(ATTACHMENT_NAME) or []
        data = contents[0] if contents else b""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def verify(data: bytes) -> Verdict:
    """Check a certificate (its PDF or its text). Never raises: a bad file is a verdict."""
    if len(data) > MAX_UPLOAD_BYTES:
        return Verdict(False, "too_large")
    text = _text_of(data)
    if not text or not text.startswith(VERSION + "\n"):
        return Verdict(False, "not_a_certificate")
    body, sep, mac = text.rstrip("\n").rpartition("\nmac=")
    if not sep or len(mac) != 64:
        return Verdict(False, "no_seal")
    fields = dict(line.split("=", 1) for line in body.split("\n")[1:6] if "=" in line)
    run_id = int(fields["run"]) if fields.get("run", "").isdigit() else None
    if not mac_is_valid(body, mac):
        return Verdict(False, "bad_seal", run_id, fields)
    stored = (
        RetentionRun.objects.filter(pk=run_id).values_list("text", "mac").first()
        if run_id is not None
        else None
    )
    matches = None if stored is None else (stored == (body, mac))
    return Verdict(True, "ok", run_id, fields, matches)
