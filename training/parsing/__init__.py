"""Reading attendance files as town halls really have them: CSV from Excel, or XLSX.

Pure functions (no database): ``parse_attendance(data, filename, session_date)`` returns the rows
understood, the rows rejected with their line number and reason, the duplicates, and warnings —
or a file-level error. Nothing here writes anything.

- CSV: semicolon, comma or tab; UTF-8 with or without BOM, UTF-16 with BOM, or Windows-1252.
- XLSX: read as openpyxl's read-only mode reads it, in one streaming pass per part (see
  ``xlsx_parts``); the first sheet whose first rows hold a recognisable header;
  a formula is read as the value the spreadsheet stored for it (or, if none, as its text); merged
  header cells are refused.
- Headers in French or English, any order, any case, with or without accents.
- The type is read from the content, not the name: a PDF renamed ``.csv`` is refused, a
  LibreOffice ``.ods`` is told to be saved as XLSX or CSV.
- A value starting with ``=``, ``+``, ``-`` or ``@`` ("- arrivée en retard") is kept as plain
  text: the rows hold text only, and every output neutralises it (``training.outputs``).
- A "Total présents" line is recognised, skipped and reported; two lines for the same person
  with different statuses are reported as a conflict (the first one counts).

The package, by concern: ``sniffing`` (type from content), ``headers`` (header and status
tables, header recognition), ``csv_reader``, ``xlsx_reader`` (header, merges, formulas) over
``xlsx_parts`` (the workbook's XML parts through defusedxml's expat parser), ``rows`` (a line
into values or a reason; totals and duplicates), ``result``.
"""

from __future__ import annotations

import datetime

from django.utils.translation import gettext as _

from .csv_reader import parse_csv
from .headers import FIELD_LABELS, HEADER_SEARCH_ROWS
from .result import MAX_BYTES, MAX_ROWS, FileRefused, ParseResult
from .sniffing import sniff_format
from .xlsx_reader import parse_xlsx

__all__ = [
    "FIELD_LABELS",
    "HEADER_SEARCH_ROWS",
    "MAX_BYTES",
    "MAX_ROWS",
    "FileRefused",
    "ParseResult",
    "parse_attendance",
]


def parse_attendance(
    data: bytes, filename: str, session_date: datetime.date | None = None
) -> ParseResult:
    """Read an uploaded attendance file. Raises ``FileRefused`` with a message fit to show."""
    if len(data) > MAX_BYTES:
        raise FileRefused(_("Le fichier dépasse 5 Mo."))
    kind = sniff_format(data, filename)
    if kind == "xlsx":
        return parse_xlsx(data, session_date)
    return parse_csv(data, session_date)
