"""The minutes PDF (rendered once per version), the reader's stamp, the attendance sheet.

- ``render_minutes(meeting, version)``: WeasyPrint through ``cmer.pdf.render_pdf`` (restricted
  fetcher: a note naming ``file:///etc/passwd`` or an internal address fetches nothing), A4,
  French, "page n / N" and the restricted-distribution header on every page, PDF/A-3b, with the
  reader's stamp slot reserved on every page (``stamp.StampSlot``). A referral appears by
  reference and pseudonym only.
- ``render_attendance_sheet(meeting, reader=, when=)``: rendered at each download, "Extrait par
  <reader> le <date>" at the foot of every page.
- ``open_stamped(document, text)``: the stored PDF, verified against its SHA-256, streamed with
  the reader's name and the date in the slot of every page: no re-render, no rewrite, PDF/A
  kept, memory flat in the pages (``meetings/stamp.py``). Documents stored before the slot
  existed are stamped by the older pypdf overlay (``stamp_pdf``), which is not PDF/A.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone, translation

from .models import ActionItem, AgendaItem, Attendance, Meeting, MinutesAddendum
from .pseudonym import label
from .stamp import StampedFile, StampSlot, clip_name, stamp_content, verify

PDF_VARIANT = "pdf/a-3b"
STAMP_FONT = "/CMERStamp"


def _fonts() -> dict[str, str]:
    from cmer.pdf import static_file_url

    try:
        return {
            "font_regular": static_file_url("dsfr/dist/fonts/Marianne-Regular.woff2"),
            "font_bold": static_file_url("dsfr/dist/fonts/Marianne-Bold.woff2"),
        }
    except FileNotFoundError:  # pragma: no cover - fonts ship with django-dsfr
        return {"font_regular": "", "font_bold": ""}


def attendance_rows(meeting: Meeting) -> list[dict[str, Any]]:
    rows = [
        {
            "name": inv.user.get_full_name() or inv.user.email,
            "institution": "",
            "attendance": inv.get_attendance_display(),
            "status": inv.attendance,
        }
        for inv in meeting.invitations.filter(withdrawn_at__isnull=True)
        .select_related("user")
        .order_by("user__last_name", "user__first_name", "pk")
    ]
    rows += [
        {
            "name": ext.name,
            "institution": ext.institution,
            "attendance": ext.get_attendance_display(),
            "status": ext.attendance,
        }
        for ext in meeting.externals.order_by("pk")
    ]
    return rows


def minutes_context(meeting: Meeting, version: int | None = None) -> dict[str, Any]:
    """What the minutes say. ``version`` n includes the first n-1 addenda (1 = as approved)."""
    items = list(
        AgendaItem.objects.filter(meeting=meeting)
        .select_related("referral")
        .prefetch_related("decisions")
    )
    agenda = [
        {
            "item": item,
            "label": label(item.referral, meeting.local_day) if item.referral_id else item.title,
            "decisions": list(item.decisions.all()),
        }
        for item in items
    ]
    addenda = list(MinutesAddendum.objects.filter(meeting=meeting).select_related("author"))
    if version is not None:
        addenda = addenda[: max(version - 1, 0)]
    actions = list(
        ActionItem.objects.filter(meeting=meeting).select_related("owner").order_by("due_on", "pk")
    )
    return {
        "meeting": meeting,
        "attendance": attendance_rows(meeting),
        "agenda": agenda,
        "actions": actions,
        "addenda": addenda,
        "version": version,
        "present": Attendance.PRESENT,
        **_fonts(),
    }


@dataclass(frozen=True)
class RenderedMinutes:
    data: bytes
    stamp_offset: int  # where the reader's stamp goes (``stamp.SLOT_SIZE`` bytes)


def render_minutes(meeting: Meeting, version: int) -> RenderedMinutes:
    from cmer.pdf import render_pdf

    slot = StampSlot()
    with translation.override(settings.LANGUAGE_CODE):
        data = render_pdf(
            "meetings/minutes_pdf.html",
            minutes_context(meeting, version),
            pdf_variant=PDF_VARIANT,
            finisher=slot,
        )
    return RenderedMinutes(data=data, stamp_offset=slot.locate(data))


class IntegrityError(Exception):
    """The stored PDF no longer matches its SHA-256 (or is missing): never served."""


def open_stamped(document: Any, text: str) -> tuple[io.BytesIO | StampedFile, int]:
    """A file object over the reader's copy of ``document`` and its length.

    The stored bytes are checked against the SHA-256 first (read in blocks), then streamed
    with the slot filled in: the copy has the stored file's length and structure.
    """
    try:
        raw = document.file.open("rb")
    except OSError as exc:
        raise IntegrityError("missing") from exc
    size = document.file.size
    if document.stamp_offset is None:
        # Stored before the slot existed: the older overlay (whole file in memory).
        with raw:
            data = raw.read()
        if hashlib.sha256(data).hexdigest() != document.sha256:
            raise IntegrityError("mismatch")
        stamped = stamp_pdf(data, text)
        return io.BytesIO(stamped), len(stamped)
    if not verify(raw, document.sha256, document.stamp_offset):
        raw.close()
        raise IntegrityError("mismatch")
    replacement = stamp_content(text)
    return StampedFile(raw, document.stamp_offset, replacement), size


@dataclass(frozen=True)
class AttendanceSheet:
    data: bytes
    rows: int  # people listed (invitees and external participants)


def render_attendance_sheet(meeting: Meeting, *, reader: Any, when: Any) -> AttendanceSheet:
    """The printable attendance sheet (feuille d'émargement): names and a signature column,
    "Extrait par <reader> le <date>" at the foot of every page (an export of personal data)."""
    from cmer.pdf import render_pdf

    rows = attendance_rows(meeting)
    context = {
        "meeting": meeting,
        "attendance": rows,
        "reader": clip_name(reader.get_full_name() or reader.email),
        "extracted_at": timezone.localtime(when),
        **_fonts(),
    }
    with translation.override(settings.LANGUAGE_CODE):
        data = render_pdf("meetings/attendance_sheet_pdf.html", context)
    return AttendanceSheet(data=data, rows=len(rows))


def page_count(data: bytes) -> int:
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(data)).pages)


def _pdf_string(text: str) -> bytes:
    encoded = text.encode("cp1252", errors="replace")
    return b"(" + encoded.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def stamp_text(reader_name: str, when: Any = None) -> str:
    moment = timezone.localtime(when or timezone.now())
    with translation.override(settings.LANGUAGE_CODE):
        from django.utils.translation import gettext as _

        return _("Exemplaire nominatif de %(name)s — téléchargé le %(date)s — ne pas diffuser") % {
            "name": clip_name(reader_name),
            "date": moment.strftime("%d/%m/%Y %H:%M"),
        }


def stamp_pdf(data: bytes, text: str) -> bytes:
    """The older overlay, for documents stored without a stamp slot: ``text`` at the foot of
    every page, rewritten by pypdf (not PDF/A: Helvetica is not embedded; memory grows with
    the pages). Returns the stamped copy; ``data`` is unchanged."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import (
        ArrayObject,
        DecodedStreamObject,
        DictionaryObject,
        NameObject,
    )

    reader = PdfReader(io.BytesIO(data))
    writer = PdfWriter(clone_from=reader)
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
                NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
            }
        )
    )
    save = DecodedStreamObject()
    save.set_data(b"q\n")
    save_ref = writer._add_object(save)
    stamps: dict[tuple[float, float], Any] = {}
    for page in writer.pages:
        box = page.mediabox
        key = (float(box.left), float(box.bottom))
        if key not in stamps:
            # Restore the page's graphics state (Q), then draw in default user space.
            stream = DecodedStreamObject()
            stream.set_data(
                b"\nQ\nq BT "
                + STAMP_FONT.encode()
                + b" 7 Tf 0.3 0.3 0.3 rg 1 0 0 1 "
                + f"{key[0] + 28:.1f} {key[1] + 12:.1f}".encode()
                + b" Tm "
                + _pdf_string(text)
                + b" Tj ET Q\n"
            )
            stamps[key] = writer._add_object(stream)
        resources = page.get("/Resources")
        resources = resources.get_object() if resources is not None else DictionaryObject()
        fonts = resources.get("/Font")
        fonts = fonts.get_object() if fonts is not None else DictionaryObject()
        fonts[NameObject(STAMP_FONT)] = font
        resources[NameObject("/Font")] = fonts
        page[NameObject("/Resources")] = resources
        contents = page.get("/Contents")
        existing = contents.get_object() if contents is not None else None
        if isinstance(existing, ArrayObject):
            parts = list(existing)
        elif contents is not None:
            parts = [contents]
        else:
            parts = []
        page[NameObject("/Contents")] = ArrayObject([save_ref, *parts, stamps[key]])
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()
