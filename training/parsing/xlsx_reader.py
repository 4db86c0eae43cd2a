"""XLSX: openpyxl in read-only mode inside the caps and time budget of ``cmer.archives``, and
the sheet XML read with defusedxml for what read-only openpyxl does not expose."""

from __future__ import annotations

import datetime
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, iterparse
from django.utils.translation import gettext as _

from cmer import archives

from .headers import (
    HEADER_SEARCH_ROWS,
    finish_header,
    has_name_column,
    map_header,
    not_found_message,
)
from .result import FileRefused, ParseResult
from .rows import collect_rows

# Zip bombs: the caps of cmer.archives (members, sizes, ratio) apply, and an XLSX part loaded
# whole by openpyxl (shared strings) is held to this: 20,000 rows of names fit in far less.
MAX_SHARED_STRINGS_BYTES = 8 * 1024 * 1024

# XLSX ----------------------------------------------------------------------------------------


def _check_zip(data: bytes, deadline: archives.Deadline) -> zipfile.ZipFile:
    """The workbook's zip, refused from its directory when it breaks a cap of cmer.archives;
    it reads through a ``BudgetedReader``, so whatever parses it stops at the deadline."""
    try:
        archive = archives.open_zip(data, deadline=deadline)
    except archives.ArchiveRefused as refused:
        raise FileRefused(str(refused)) from None
    names = set(archive.namelist())
    if "xl/workbook.xml" not in names:
        raise FileRefused(_("Ce fichier n'est ni un CSV ni un classeur XLSX."))
    strings = [i for i in archive.infolist() if i.filename.lower().endswith("sharedstrings.xml")]
    if sum(info.file_size for info in strings) > MAX_SHARED_STRINGS_BYTES:
        raise FileRefused(_("Classeur trop volumineux une fois décompressé."))
    return archive


_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


@dataclass
class SheetScan:
    """What read-only openpyxl does not expose, read from the sheet XML in one pass."""

    merged_rows: list[tuple[int, int]] = field(default_factory=list)  # (min_row, max_row)
    # (row, column index) → "=formula" for formula cells with no stored value: a file written by
    # a program that does not compute (Excel and LibreOffice always store the value).
    uncomputed: dict[tuple[int, int], str] = field(default_factory=dict)


def scan_sheet(archive: zipfile.ZipFile, worksheet_path: str) -> SheetScan:
    from openpyxl.utils.cell import (
        column_index_from_string,
        coordinate_from_string,
        range_boundaries,
    )

    scan = SheetScan()
    with archive.open(worksheet_path) as stream:
        # defusedxml: a DTD with entities (billion laughs, external entities) is refused
        # instead of being expanded; openpyxl uses it too once it is installed.
        for _event, element in iterparse(stream, events=("end",), forbid_dtd=True):
            tag = element.tag
            if tag == f"{_MAIN_NS}c":
                formula = element.find(f"{_MAIN_NS}f")
                if formula is not None:
                    value = element.find(f"{_MAIN_NS}v")
                    if value is None or not (value.text or "").strip():
                        try:
                            column, row = coordinate_from_string(element.get("r", ""))
                            key = (row, column_index_from_string(column) - 1)
                        except (ValueError, TypeError):
                            continue
                        scan.uncomputed[key] = "=" + (formula.text or "")[:200]
            elif tag == f"{_MAIN_NS}mergeCell":
                try:
                    _c1, r1, _c2, r2 = range_boundaries(element.get("ref", ""))
                except (ValueError, TypeError):
                    continue
                scan.merged_rows.append((r1, r2))
            elif tag == f"{_MAIN_NS}row":
                element.clear()
    return scan


def parse_xlsx(data: bytes, session_date: datetime.date | None) -> ParseResult:
    # One time budget for everything that reads this workbook (openpyxl and our own parse):
    # a part that is slow to parse (180 MiB of XML comment) stops there with a clear message.
    deadline = archives.parse_deadline()
    archive = _check_zip(data, deadline)
    try:
        return _parse_xlsx(archive, data, deadline, session_date)
    except archives.ArchiveRefused as refused:
        raise FileRefused(str(refused)) from None
    except (ParseError, DefusedXmlException) as exc:  # a sheet's XML, read lazily
        raise FileRefused(_("Classeur XLSX endommagé ou illisible.")) from exc
    finally:
        archive.close()


def _parse_xlsx(
    archive: zipfile.ZipFile,
    data: bytes,
    deadline: archives.Deadline,
    session_date: datetime.date | None,
) -> ParseResult:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        # data_only: a formula cell gives the value the spreadsheet computed and stored, which
        # is what the person saw ("=UPPER(B2)" → "LAMBERT").
        workbook = openpyxl.load_workbook(
            archives.budgeted_reader(data, deadline),
            read_only=True,
            data_only=True,
            keep_links=False,
        )
    except (
        InvalidFileException,
        KeyError,
        ValueError,
        OSError,
        ParseError,
        DefusedXmlException,
    ) as exc:
        raise FileRefused(_("Classeur XLSX endommagé ou illisible.")) from exc
    try:
        for sheet in workbook.worksheets:
            found = _find_header(sheet)
            if found is None:
                continue
            first_row, header_row, mapping, unknown, header_cells = found
            result = ParseResult(file_format="xlsx", sheet=str(sheet.title)[:100])
            scan = scan_sheet(archive, sheet._worksheet_path)
            # A merged title above the header is fine; a merge in the header (or in a header
            # spread over several rows) would shift or hide columns.
            if any(r1 <= header_row and r2 >= first_row for r1, r2 in scan.merged_rows):
                raise FileRefused(
                    _(
                        "Cellules fusionnées dans la ligne d'en-tête (feuille « %(s)s ») : "
                        "défusionnez-les, une colonne par information."
                    )
                    % {"s": result.sheet}
                )
            finish_header(result, mapping, unknown, header_cells)
            collect_rows(result, _xlsx_rows(sheet, header_row, scan), mapping, session_date)
            uncomputed_lines = sorted(
                {row for row, column in scan.uncomputed if row > header_row and column in mapping}
            )
            if uncomputed_lines:
                result.warnings.append(
                    _(
                        "Formules sans valeur enregistrée (lignes %(lines)s) : lues telles "
                        "quelles, comme du texte. Ouvrez et enregistrez le classeur dans Excel ou "
                        "LibreOffice pour en obtenir les valeurs."
                    )
                    % {"lines": ", ".join(str(n) for n in uncomputed_lines[:20])}
                )
            if len(workbook.worksheets) > 1:
                result.warnings.append(
                    _("Feuille lue : « %(s)s » ; les autres feuilles sont ignorées.")
                    % {"s": result.sheet}
                )
            return result
        sheets = [str(sheet.title) for sheet in workbook.worksheets]
    finally:
        workbook.close()
    raise FileRefused(not_found_message("xlsx", sheets))


def _find_header(
    sheet: Any,
) -> tuple[int, int, dict[int, str], list[str], list[Any]] | None:
    """(first row naming any known column, header row, mapping, unknown headers, its cells)."""
    first_row = None
    for row_number, row in enumerate(
        sheet.iter_rows(max_row=HEADER_SEARCH_ROWS, values_only=True), start=1
    ):
        cells = list(row)
        if not any(c is not None and str(c).strip() for c in cells):
            continue
        try:
            mapping, unknown = map_header(cells)
        except FileRefused:
            if first_row is None:
                continue
            raise
        if mapping and first_row is None:
            first_row = row_number
        if has_name_column(mapping):
            return first_row or row_number, row_number, mapping, unknown, cells
    return None


def _xlsx_rows(sheet: Any, header_row: int, scan: SheetScan) -> Iterator[tuple[int, list[Any]]]:
    # Read-only mode yields every row from min_row on, gaps included: enumerate gives the line.
    uncomputed = scan.uncomputed
    for line, row in enumerate(
        sheet.iter_rows(min_row=header_row + 1, values_only=True), start=header_row + 1
    ):
        values = list(row)
        if uncomputed:
            for index in range(len(values)):
                if (line, index) in uncomputed:
                    values[index] = uncomputed[(line, index)]
        yield line, values
