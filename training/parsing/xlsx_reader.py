"""XLSX: the workbook read by ``xlsx_parts`` (one streaming pass per part, defusedxml's expat
parser) inside the caps and time budget of ``cmer.archives``."""

from __future__ import annotations

import datetime
import zipfile
from collections.abc import Iterator
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
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
from .xlsx_parts import Damaged, SheetReader, first_rows, read_workbook

# Zip bombs: the caps of cmer.archives (members, sizes, ratio) apply, and the shared strings,
# held whole in memory, are held to this: 20,000 rows of names fit in far less.
MAX_SHARED_STRINGS_BYTES = 8 * 1024 * 1024


def _check_zip(data: bytes, deadline: archives.Deadline) -> zipfile.ZipFile:
    """The workbook's zip, refused from its directory when it breaks a cap of cmer.archives;
    it reads through a ``BudgetedReader``, so that the parse stops at the deadline."""
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


def parse_xlsx(data: bytes, session_date: datetime.date | None) -> ParseResult:
    # One time budget for everything that reads this workbook: a part that is slow to parse
    # (180 MiB of XML comment) stops there with a clear message.
    deadline = archives.parse_deadline()
    archive = _check_zip(data, deadline)
    try:
        return _parse_xlsx(archive, deadline, session_date)
    except archives.ArchiveRefused as refused:
        raise FileRefused(str(refused)) from None
    except (ParseError, DefusedXmlException, Damaged) as exc:
        raise FileRefused(_("Classeur XLSX endommagé ou illisible.")) from exc
    finally:
        archive.close()


def _parse_xlsx(
    archive: zipfile.ZipFile, deadline: archives.Deadline, session_date: datetime.date | None
) -> ParseResult:
    workbook = read_workbook(archive)
    for sheet in workbook.sheets:
        reader = SheetReader(archive, workbook, sheet.path, deadline)
        try:
            found = _find_header(reader)
            if found is None:
                continue
            return _read_sheet(reader, sheet.name, found, len(workbook.sheets), session_date)
        finally:
            reader.close()
    raise FileRefused(not_found_message("xlsx", [sheet.name for sheet in workbook.sheets]))


def _read_sheet(
    reader: SheetReader,
    name: str,
    found: tuple[int, int, dict[int, str], list[str], list[Any]],
    sheet_count: int,
    session_date: datetime.date | None,
) -> ParseResult:
    first_row, header_row, mapping, unknown, header_cells = found
    result = ParseResult(file_format="xlsx", sheet=str(name)[:100])
    uncomputed_lines: set[int] = set()

    def data_rows() -> Iterator[tuple[int, list[Any]]]:
        for row in reader.rows():
            values = row.values
            if row.uncomputed:
                # A formula without a stored value is read as its text, and said.
                for index, formula in row.uncomputed.items():
                    values[index] = formula
                    if index in mapping:
                        uncomputed_lines.add(row.number)
            yield row.number, values

    def refuse_merged_header() -> None:
        # A merged title above the header is fine; a merge in the header (or in a header
        # spread over several rows) would shift or hide columns. Merges are written after the
        # cells: known once the sheet is read.
        if any(r1 <= header_row and r2 >= first_row for r1, r2 in reader.merged_rows):
            raise FileRefused(
                _(
                    "Cellules fusionnées dans la ligne d'en-tête (feuille « %(s)s ») : "
                    "défusionnez-les, une colonne par information."
                )
                % {"s": result.sheet}
            )

    finish_header(result, mapping, unknown, header_cells)
    try:
        collect_rows(result, data_rows(), mapping, session_date)
    except FileRefused:
        # A merged header is the first thing to fix, whatever else is wrong below it.
        reader.finish()
        refuse_merged_header()
        raise
    reader.finish()
    refuse_merged_header()
    if uncomputed_lines:
        result.warnings.append(
            _(
                "Formules sans valeur enregistrée (lignes %(lines)s) : lues telles "
                "quelles, comme du texte. Ouvrez et enregistrez le classeur dans Excel ou "
                "LibreOffice pour en obtenir les valeurs."
            )
            % {"lines": ", ".join(str(n) for n in sorted(uncomputed_lines)[:20])}
        )
    if sheet_count > 1:
        result.warnings.append(
            _("Feuille lue : « %(s)s » ; les autres feuilles sont ignorées.") % {"s": result.sheet}
        )
    return result


def _find_header(
    reader: SheetReader,
) -> tuple[int, int, dict[int, str], list[str], list[Any]] | None:
    """(first row naming any known column, header row, mapping, unknown headers, its cells),
    looked for in the first ``HEADER_SEARCH_ROWS`` rows; the reader is left on the next row."""
    first_row = None
    for row in first_rows(reader, HEADER_SEARCH_ROWS):
        # A formula without a stored value is no header: None, as openpyxl gives it.
        cells = row.values
        if not any(c is not None and str(c).strip() for c in cells):
            continue
        try:
            mapping, unknown = map_header(cells)
        except FileRefused:
            if first_row is None:
                continue
            raise
        if mapping and first_row is None:
            first_row = row.number
        if has_name_column(mapping):
            return first_row or row.number, row.number, mapping, unknown, cells
    return None
