"""The parts of an XLSX workbook, read in one streaming pass each with defusedxml's expat parser.

The workbook (sheet names and paths, 1900 or 1904 dates), the styles (which cell styles show a
date), the shared strings, and each sheet as a stream of rows. Cell values are what openpyxl's
read-only mode with ``data_only`` gives (same conversions, through openpyxl's own helpers):
a formula's stored value, a shared string, a number as ``int`` or ``float``, a date as
``datetime``, a boolean as ``bool``; rows missing between two rows are given as empty rows.
One difference, on purpose: the ``<dimension>`` a file declares is not trusted (openpyxl's
read-only mode dropped the cells beyond it, so a wrong one lost people silently).

Why not openpyxl itself: for 10,000 rows it read the sheet three times (once to size it when
the file gives no ``<dimension>``, once for the rows, once more here for merged cells and
formulas without a value), each element through ElementTree's Python layer; that was 2.25 s of
an upload request under load. Here expat calls the handlers directly, once per element.

defusedxml stays the guard: every part is read by ``DefusedXMLParser`` (``forbid_dtd``, no
entity declarations, no external references); only its element and text callbacks are ours.
"""

from __future__ import annotations

import datetime
import posixpath
import zipfile
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from defusedxml.ElementTree import DefusedXMLParser
from openpyxl.styles.numbers import builtin_format_code, is_date_format, is_timedelta_format
from openpyxl.utils.cell import column_index_from_string, range_boundaries
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel
from openpyxl.utils.datetime import from_ISO8601 as from_iso8601

from cmer import archives

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RELS = "http://schemas.openxmlformats.org/package/2006/relationships}"
DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships}"

WORKBOOK = "xl/workbook.xml"
WORKBOOK_RELS = "xl/_rels/workbook.xml.rels"
STYLES = "xl/styles.xml"  # where openpyxl looks for them, whatever the relationships say

CHUNK = 64 * 1024
MAX_ROW = 1_048_576  # Excel's last row: a row number beyond it is no spreadsheet's


class Damaged(Exception):
    """A part that is not what an XLSX part must be (unknown shared string, bad number…)."""


# Parsing ---------------------------------------------------------------------------------------


class _NoTree:
    """ElementTree's parser needs a target; ours builds no tree (the handlers are on expat)."""


def _parse(archive: zipfile.ZipFile, path: str, handler: Any) -> Generator[None, None, None]:
    """Feed the part at ``path`` to ``handler``'s ``start``/``end``/``data`` callbacks; yields
    after each chunk so that a caller can take what the handler gathered so far.

    Tags reach the handler as expat gives them, ``namespace}name``; attributes as a dict.
    A DTD, an entity declaration or an external reference raises defusedxml's exception,
    malformed XML ``ParseError``; a handler's ``ValueError``/``IndexError``/``KeyError``/
    ``OverflowError``, a missing part or corrupt compressed bytes become ``Damaged``.
    """
    defused = DefusedXMLParser(target=_NoTree(), forbid_dtd=True)
    expat = defused.parser
    expat.ordered_attributes = False
    expat.StartElementHandler = handler.start
    expat.EndElementHandler = handler.end
    expat.CharacterDataHandler = handler.data
    try:
        with archive.open(path) as stream:
            while chunk := stream.read(CHUNK):
                defused.feed(chunk)
                yield
        defused.close()
    except (ValueError, IndexError, KeyError, OverflowError) as exc:
        raise Damaged(path) from exc
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # the member's bytes themselves
        raise Damaged(path) from exc
    yield


def _parse_all(archive: zipfile.ZipFile, path: str, handler: Any) -> None:
    for _step in _parse(archive, path, handler):
        pass


class _RichText:
    """The text of a ``<si>`` (shared string) or ``<is>`` (inline string): the plain ``<t>``
    then the rich-text runs' ``<t>``, never the phonetic guide (``<rPh>``) — as openpyxl's
    ``Text.content``. The one reading of rich text, mixed into both handlers that meet it.

    The handler calls ``_text_open()`` at the item's opening tag, passes the tags inside it to
    ``_text_start``/``_text_end`` while ``in_text``, and takes the text from ``_text_close()``
    at its closing tag; its ``data()`` appends to ``self.capture`` (also the handler's own
    capture: they are never open at once). Plain attributes on the handler, no list unless
    there are runs: the sheet's handler runs this for every inline-string cell.
    """

    capture: list[str] | None
    in_text: bool
    plain: str | None
    runs: list[str] | None
    in_run: bool
    in_phonetic: bool

    def _text_open(self) -> None:
        self.in_text = True
        self.plain = self.runs = None
        self.in_run = self.in_phonetic = False

    def _text_start(self, tag: str) -> None:
        if tag == _T:
            if not self.in_phonetic:
                self.capture = []
        elif tag == _RUN:
            self.in_run = True
        elif tag == _PHONETIC:
            self.in_phonetic = True

    def _text_end(self, tag: str) -> None:
        if tag == _T:
            if self.capture is not None:
                text = "".join(self.capture)
                self.capture = None
                if not self.in_run:
                    self.plain = text
                elif self.runs is None:
                    self.runs = [text]
                else:
                    self.runs.append(text)
        elif tag == _RUN:
            self.in_run = False
        elif tag == _PHONETIC:
            self.in_phonetic = False

    def _text_close(self) -> str:
        self.in_text = False
        plain = self.plain or ""
        return plain if self.runs is None else plain + "".join(self.runs)


_T = MAIN + "t"
_RUN = MAIN + "r"
_PHONETIC = MAIN + "rPh"


# Workbook --------------------------------------------------------------------------------------


@dataclass
class SheetRef:
    name: str
    path: str


@dataclass
class Workbook:
    sheets: list[SheetRef] = field(default_factory=list)
    epoch: datetime.datetime = CALENDAR_WINDOWS_1900
    shared_strings: list[str] = field(default_factory=list)
    date_styles: frozenset[int] = frozenset()
    timedelta_styles: frozenset[int] = frozenset()


class _WorkbookHandler:
    def __init__(self) -> None:
        self.sheets: list[tuple[str, str]] = []  # (name, relationship id)
        self.date1904 = False

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if tag == MAIN + "sheet":
            rel_id = attrs.get(DOC_RELS + "id")
            if rel_id:  # openpyxl drops a sheet without one too
                self.sheets.append((attrs.get("name", ""), rel_id))
        elif tag == MAIN + "workbookPr":
            self.date1904 = attrs.get("date1904", "").lower() in {"1", "true"}

    def end(self, tag: str) -> None:
        pass

    def data(self, text: str) -> None:
        pass


class _RelsHandler:
    def __init__(self) -> None:
        self.rels: dict[str, tuple[str, str]] = {}  # id → (type, target in the archive)

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if tag == RELS + "Relationship" and attrs.get("TargetMode") != "External":
            target = attrs.get("Target", "")
            # As openpyxl: absolute from the package root, else relative to xl/.
            target = target[1:] if target.startswith("/") else posixpath.join("xl", target)
            self.rels[attrs.get("Id", "")] = (attrs.get("Type", ""), posixpath.normpath(target))

    def end(self, tag: str) -> None:
        pass

    def data(self, text: str) -> None:
        pass


class _StylesHandler:
    """Custom number formats and each cell style's number format (``cellXfs`` only)."""

    def __init__(self) -> None:
        self.custom: dict[int, str] = {}
        self.cell_formats: list[int] = []
        self.in_cell_xfs = False

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if tag == MAIN + "numFmt":
            self.custom[int(attrs.get("numFmtId", "0"))] = attrs.get("formatCode", "")
        elif tag == MAIN + "cellXfs":
            self.in_cell_xfs = True
        elif tag == MAIN + "xf" and self.in_cell_xfs:
            self.cell_formats.append(int(attrs.get("numFmtId", "0")))

    def end(self, tag: str) -> None:
        if tag == MAIN + "cellXfs":
            self.in_cell_xfs = False

    def data(self, text: str) -> None:
        pass

    def date_styles(self) -> tuple[frozenset[int], frozenset[int]]:
        """Style indexes showing a date, and those showing a duration (openpyxl's rule)."""
        dates, durations = set(), set()
        for index, format_id in enumerate(self.cell_formats):
            code = self.custom.get(format_id)
            if code is None:
                code = builtin_format_code(format_id)
            if code is None:
                continue
            if is_date_format(code):
                dates.add(index)
            if is_timedelta_format(code):
                durations.add(index)
        return frozenset(dates), frozenset(durations)


class _SharedStringsHandler(_RichText):
    def __init__(self) -> None:
        self.strings: list[str] = []
        self.capture = None
        self.in_text = False

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if self.in_text:
            self._text_start(tag)
        elif tag == _SI:
            self._text_open()

    def end(self, tag: str) -> None:
        if tag == _SI:
            # openpyxl drops the escape of an underscore ("_x005F_" → "_") in shared strings.
            self.strings.append(self._text_close().replace("x005F_", ""))
        elif self.in_text:
            self._text_end(tag)

    def data(self, text: str) -> None:
        capture = self.capture
        if capture is not None:
            capture.append(text)


_SI = MAIN + "si"


def read_workbook(archive: zipfile.ZipFile) -> Workbook:
    names = set(archive.namelist())
    workbook_handler = _WorkbookHandler()
    _parse_all(archive, WORKBOOK, workbook_handler)
    rels_handler = _RelsHandler()
    if WORKBOOK_RELS in names:
        _parse_all(archive, WORKBOOK_RELS, rels_handler)
    rels = rels_handler.rels
    workbook = Workbook()
    if workbook_handler.date1904:
        workbook.epoch = CALENDAR_MAC_1904
    for name, rel_id in workbook_handler.sheets:
        if rel_id not in rels:
            raise Damaged(WORKBOOK_RELS)
        kind, path = rels[rel_id]
        if path not in names or "chartsheet" in kind:
            continue
        workbook.sheets.append(SheetRef(name=name, path=path))
    strings = next(
        (path for kind, path in rels.values() if kind.endswith("/sharedStrings")),
        "xl/sharedStrings.xml",
    )
    if strings in names:
        strings_handler = _SharedStringsHandler()
        _parse_all(archive, strings, strings_handler)
        workbook.shared_strings = strings_handler.strings
    if STYLES in names:
        styles_handler = _StylesHandler()
        _parse_all(archive, STYLES, styles_handler)
        workbook.date_styles, workbook.timedelta_styles = styles_handler.date_styles()
    return workbook


# Sheets ----------------------------------------------------------------------------------------


@dataclass
class Row:
    number: int
    values: list[Any]
    # Column index → "=formula" for formula cells with no stored value (their value is None): a
    # file written by a program that does not compute (Excel and LibreOffice store the value).
    uncomputed: dict[int, str] | None = None


_COLUMNS: dict[str, int] = {}


def _column(reference: str) -> int:
    """ "AB12" → 28 (1-based), cached by letters."""
    letters = reference.rstrip("0123456789")
    column = _COLUMNS.get(letters)
    if column is None:
        column = column_index_from_string(letters)  # ValueError beyond XFD
        if len(_COLUMNS) < 20_000:
            _COLUMNS[letters] = column
    return column


def _cast_number(text: str) -> int | float:
    # openpyxl's rule: a decimal point or an exponent makes a float.
    if "." in text or "E" in text or "e" in text:
        return float(text)
    return int(text)


class _SheetHandler(_RichText):
    """Rows as they are parsed (``done``), merged ranges' rows, with openpyxl's conversions.

    Called once per element of a sheet that may hold 100,000 cells: the common tags are
    tested first and the state is plain attributes (no object per cell).
    """

    def __init__(self, workbook: Workbook) -> None:
        self.shared = workbook.shared_strings
        self.date_styles = workbook.date_styles
        self.timedelta_styles = workbook.timedelta_styles
        self.epoch = workbook.epoch
        self.done: list[Row] = []
        self.merged_rows: list[tuple[int, int]] = []
        self.row_number = 0
        self.values: list[Any] = []
        self.uncomputed: dict[int, str] | None = None
        self.column = 0
        # The cell being read.
        self.type = "n"
        self.style: str | None = None
        self.value: str | None = None
        self.formula: str | None = None
        self.capture = None  # text of the <v>, <f> or <t> being read
        self.in_text = False  # inside <is> (an inline string), read by _RichText

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if tag == _C:
            reference = attrs.get("r")
            self.column = _column(reference) if reference else self.column + 1
            self.type = attrs.get("t", "n")
            self.style = attrs.get("s")
            self.value = self.formula = None
        elif tag == _V:
            self.capture = []
        elif self.in_text:  # <t>, <r>, <rPh>… of an inline string
            self._text_start(tag)
        elif tag == _ROW:
            number = attrs.get("r")
            if number is None:
                self.row_number += 1
            else:
                try:
                    self.row_number = int(number)
                except ValueError:
                    as_float = float(number)
                    if not as_float.is_integer():
                        raise
                    self.row_number = int(as_float)
            if self.row_number > MAX_ROW:
                raise ValueError(number)
            self.values = []
            self.uncomputed = None
            self.column = 0
        elif tag == _IS:
            self._text_open()
        elif tag == _F:
            self.capture = []
        elif tag == _MERGE:
            _c1, first, _c2, last = range_boundaries(attrs.get("ref", ""))
            self.merged_rows.append((first, last))

    def end(self, tag: str) -> None:
        if tag == _V:
            self.value = "".join(self.capture or ())
            self.capture = None
        elif tag == _C:
            self._end_cell()
        elif self.in_text:
            if tag == _IS:
                self.value = self._text_close()
            else:
                self._text_end(tag)
        elif tag == _ROW:
            self.done.append(Row(self.row_number, self.values, self.uncomputed))
        elif tag == _F:
            self.formula = "".join(self.capture or ())
            self.capture = None

    def data(self, text: str) -> None:
        capture = self.capture
        if capture is not None:
            capture.append(text)

    def _end_cell(self) -> None:
        kind = self.type
        raw = self.value
        if self.formula is not None and (raw is None or not raw.strip()):
            if self.uncomputed is None:
                self.uncomputed = {}
            self.uncomputed[self.column - 1] = "=" + self.formula[:200]
            value: Any = None
        elif not raw:
            # An empty inline string is "" (as openpyxl reads <is>), an empty <v> no value.
            value = "" if kind == "inlineStr" and raw is not None else None
        elif kind == "s":
            value = self.shared[int(raw)]
        elif kind in ("inlineStr", "str", "e"):
            value = raw  # "str": a formula's text; "e": an error such as "#N/A"
        elif kind == "n":
            value = _cast_number(raw)
            style = self.style
            if style and int(style) in self.date_styles:
                try:
                    value = from_excel(
                        value, self.epoch, timedelta=int(style) in self.timedelta_styles
                    )
                except (OverflowError, ValueError):
                    value = "#VALUE!"  # as openpyxl: a date out of range reads as an error
        elif kind == "b":
            value = bool(int(raw))
        elif kind == "d":
            value = from_iso8601(raw)
        else:
            value = raw
        values = self.values
        index = self.column - 1
        if index == len(values):
            values.append(value)
        elif index < len(values):
            values[index] = value
        else:
            values.extend([None] * (index - len(values)))
            values.append(value)


_C = MAIN + "c"
_V = MAIN + "v"
_F = MAIN + "f"
_IS = MAIN + "is"
_ROW = MAIN + "row"
_MERGE = MAIN + "mergeCell"


class SheetReader:
    """One sheet, read once: ``rows()`` streams its rows (missing ones given empty, as
    openpyxl does), and ``merged_rows`` is complete once ``rows()`` is exhausted (merges are
    written after the cells) — ``finish()`` reads what is left."""

    def __init__(
        self,
        archive: zipfile.ZipFile,
        workbook: Workbook,
        path: str,
        deadline: archives.Deadline | None = None,
    ) -> None:
        self.handler = _SheetHandler(workbook)
        self.deadline = deadline
        self._steps = _parse(archive, path, self.handler)
        self._rows = self._numbered()

    @property
    def merged_rows(self) -> list[tuple[int, int]]:
        return self.handler.merged_rows

    def _parsed(self) -> Iterator[Row]:
        done = self.handler.done
        for _step in self._steps:
            if done:
                yield from done
                done.clear()

    def _numbered(self) -> Generator[Row, None, None]:
        expected = 1
        for row in self._parsed():
            if row.number < expected:
                continue  # a row out of order: openpyxl skips it too
            while expected < row.number:
                # Rows between two rows are empty lines; up to a million of them cost no read,
                # so the time budget is checked here too.
                if self.deadline is not None and not expected % 65_536:
                    self.deadline.check()
                yield Row(expected, [])
                expected += 1
            yield row
            expected += 1

    def rows(self) -> Iterator[Row]:
        return self._rows

    def finish(self) -> None:
        for _row in self._rows:
            pass

    def close(self) -> None:
        self._rows.close()
        self._steps.close()


def first_rows(reader: SheetReader, count: int) -> Iterator[Row]:
    """The rows numbered 1 to ``count``, leaving the reader on the next one."""
    for row in reader.rows():
        yield row
        if row.number >= count:
            return
