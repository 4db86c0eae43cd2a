"""Everything training writes out for people to open: the sign-in sheet of a session (CSV, XLSX,
PDF), the reader's line every export of personal data carries ("Extrait par … le …": on the
sign-in sheet, each attestation PDF, and the ``LISEZMOI.txt`` added to an attestation zip when it
is downloaded) and the neutralisation every output applies.

Imported values are kept as the file had them ("- arrivée en retard", "=HYPERLINK(…)" typed in a
name): stored as plain text, never evaluated by us. What leaves the application is neutralised
once, here: a spreadsheet opening our CSV or XLSX must not evaluate a cell either, so any text that
could start a formula gets a leading apostrophe (OWASP's advice for CSV injection). PDFs carry
the same neutralised text, so that a value copied out of a PDF into a sheet stays text too.
"""

from __future__ import annotations

import csv
import datetime
import io
import zipfile
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from .models import Attendance, TrainingSession

# A formula starts with = + - @; a tab or a carriage return before one hides it from a reader.
DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Text that a spreadsheet could evaluate, made plain with a leading apostrophe."""
    if isinstance(value, str) and value.startswith(DANGEROUS_PREFIXES):
        return "'" + value
    return value


# The sign-in sheet of a session ----------------------------------------------------------


@dataclass
class SignInSheet:
    session: TrainingSession
    reader: str
    extracted_at: datetime.datetime
    header: list[str]
    rows: list[list[Any]]  # already neutralised

    @property
    def title_lines(self) -> list[str]:
        """The lines above the table: what the list is, and who extracted it when."""
        session = self.session
        return [
            _("Liste d'émargement — %(title)s") % {"title": neutralise(session.title)},
            _("Session du %(date)s, %(scope)s")
            % {"date": session.date.strftime("%d/%m/%Y"), "scope": session.scope_label},
            extract_line(self.reader, self.extracted_at),
        ]


def extract_line(reader: Any, when: datetime.datetime) -> str:
    """Who took personal data out of the application and when: a copy found later says whose it
    was. ``reader`` is the user (their full name, else their e-mail address)."""
    return _("Extrait par %(reader)s le %(when)s") % {
        "reader": neutralise(str(reader)),
        "when": timezone.localtime(when).strftime("%d/%m/%Y %H:%M"),
    }


BUNDLE_NOTE_NAME = "LISEZMOI.txt"


def mark_bundle(
    data: bytes, *, session: TrainingSession, reader: Any, when: datetime.datetime
) -> bytes:
    """The stored zip of a session's attestations, for one download: a ``LISEZMOI.txt`` naming
    the reader and the date is added, and the same line is the zip's comment. The zip is built
    once by the worker for whoever asks; the mark is added at each download, so it names the
    person who took that copy. The stored file is left as it is."""
    line = extract_line(reader, when)
    note = [
        _("Attestations de formation — %(title)s") % {"title": neutralise(session.title)},
        _("Session du %(date)s, %(scope)s")
        % {"date": session.date.strftime("%d/%m/%Y"), "scope": session.scope_label},
        line,
        _(
            "Ces fichiers contiennent des données personnelles : ne les transmettez qu'aux "
            "personnes concernées."
        ),
    ]
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(BUNDLE_NOTE_NAME, "\r\n".join(note) + "\r\n")
        archive.comment = line.encode("utf-8")
    return buffer.getvalue()


def sign_in_sheet(session: TrainingSession, *, reader: Any) -> SignInSheet:
    """The session's attendance list, one row per person, in name order (one query)."""
    labels = dict(Attendance.Status.choices)
    attendances = (
        session.attendances.select_related("trainee")
        .order_by("trainee__last_name", "trainee__first_name", "pk")
        .only(
            "status",
            "remark",
            "trainee__last_name",
            "trainee__first_name",
            "trainee__service",
            "trainee__organisation",
            "trainee__email",
        )
    )
    rows = [
        [
            neutralise(a.trainee.last_name),
            neutralise(a.trainee.first_name),
            neutralise(a.trainee.group_label),
            neutralise(a.trainee.email),
            str(labels.get(a.status, a.status)),
            neutralise(a.remark),
        ]
        for a in attendances
    ]
    header = [
        _("Nom"),
        _("Prénom"),
        _("Service ou organisme"),
        _("Courriel"),
        _("Présence"),
        _("Remarque"),
    ]
    return SignInSheet(
        session=session,
        reader=str(reader),
        extracted_at=timezone.now(),
        header=header,
        rows=rows,
    )


def sign_in_sheet_csv(sheet: SignInSheet) -> bytes:
    buffer = io.StringIO()
    # Semicolons and a BOM: what French Excel opens correctly with a double click.
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    for line in sheet.title_lines:
        writer.writerow([neutralise(line)])
    writer.writerow([])
    writer.writerow(sheet.header)
    writer.writerows(sheet.rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def sign_in_sheet_xlsx(sheet: SignInSheet) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(_("Émargement"))
    for line in sheet.title_lines:
        worksheet.append([neutralise(line)])
    worksheet.append([])
    worksheet.append(sheet.header)
    for row in sheet.rows:
        worksheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def sign_in_sheet_pdf(sheet: SignInSheet) -> bytes:
    from cmer.pdf import render_pdf, static_file_url

    try:
        font_regular = static_file_url("dsfr/dist/fonts/Marianne-Regular.woff2")
        font_bold = static_file_url("dsfr/dist/fonts/Marianne-Bold.woff2")
    except FileNotFoundError:  # pragma: no cover - fonts ship with django-dsfr
        font_regular = font_bold = ""
    context = {
        "sheet": sheet,
        "title_lines": sheet.title_lines,
        "font_regular": font_regular,
        "font_bold": font_bold,
    }
    return render_pdf("training/sign_in_sheet_pdf.html", context)
