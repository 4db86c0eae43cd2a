"""CSV as Excel and HR software write it: encodings, delimiters, a header below a title."""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

from .headers import HEADER_SEARCH_ROWS, finish_header, map_header, not_found_message
from .result import FileRefused, ParseResult
from .rows import collect_rows

if TYPE_CHECKING:
    from _csv import Reader  # csv.reader()'s type, with line_num: named in the stubs only

# CSV -----------------------------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise FileRefused(
            _("Encodage du fichier non reconnu : enregistrez-le en « CSV UTF-8 ».")
        ) from exc


def _csv_rows(text: str, delimiter: str) -> Reader:
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"')


def parse_csv(data: bytes, session_date: datetime.date | None) -> ParseResult:
    text = decode_text(data)
    if "\x00" in text:
        raise FileRefused(_("Ce fichier n'est ni un CSV ni un classeur XLSX."))
    best: tuple[int, str, int, dict[int, str], list[str], list[str]] | None = None
    for delimiter in (";", ",", "\t"):
        try:
            for index, cells in enumerate(_csv_rows(text, delimiter)):
                if index >= HEADER_SEARCH_ROWS:
                    break
                if not any(c.strip() for c in cells):
                    continue
                mapping, unknown = map_header(cells)
                if mapping and (best is None or len(mapping) > best[0]):
                    best = (len(mapping), delimiter, index, mapping, unknown, cells)
                if mapping:
                    break
        except csv.Error as exc:
            raise FileRefused(_("Fichier CSV illisible : %(e)s") % {"e": exc}) from exc
    if best is None:
        raise FileRefused(not_found_message("csv"))
    _n, delimiter, header_index, mapping, unknown, header_cells = best
    result = ParseResult(file_format="csv")
    finish_header(result, mapping, unknown, header_cells)
    reader = _csv_rows(text, delimiter)

    def numbered() -> Iterator[tuple[int, list[Any]]]:
        try:
            for index, cells in enumerate(reader):
                if index > header_index:
                    # csv line numbers: reader.line_num counts physical lines (quoted newlines).
                    yield reader.line_num, cells
        except csv.Error as exc:
            raise FileRefused(
                _("Fichier CSV illisible ligne %(n)s.") % {"n": reader.line_num}
            ) from exc

    collect_rows(result, numbered(), mapping, session_date)
    return result
