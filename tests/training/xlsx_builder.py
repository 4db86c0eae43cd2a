"""Workbooks written as Excel writes them, for tests and bench/training_import.py.

openpyxl writes every text cell as an inline string and no ``<dimension>`` in write-only mode;
Excel writes shared strings, a dimension, styles with date formats, ``t="str"`` for a formula's
text. ``excel_like_xlsx`` writes that shape from rows of Python values; a ``Raw`` value is put
in the sheet as the cell's XML as is (to try what Excel or other tools write).
"""

from __future__ import annotations

import datetime
import io
import zipfile
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, to_excel

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"

# cellXfs: 0 general, 1 built-in date (14, "mm-dd-yy"), 2 custom "dd/mm/yyyy" (164), 3 "0.00".
STYLES = (
    f'<styleSheet xmlns="{MAIN}">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/></numFmts>'
    '<fonts count="1"><font/></fonts>'
    '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
    '<borders count="1"><border/></borders>'
    '<cellStyleXfs count="2"><xf numFmtId="0"/><xf numFmtId="14"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" xfId="0"/>'
    '<xf numFmtId="14" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="164" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="2" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
DATE_STYLE = 1
CUSTOM_DATE_STYLE = 2


@dataclass(frozen=True)
class Raw:
    """A cell's XML, written as is (``{ref}`` is replaced by the cell's reference)."""

    xml: str


def _sheet(rows: list[list[Any]], strings: dict[str, int], epoch: datetime.datetime) -> str:
    width = max((len(row) for row in rows if row is not None), default=1)
    parts = [
        f'<worksheet xmlns="{MAIN}" xmlns:r="{REL}">'
        f'<dimension ref="A1:{get_column_letter(max(width, 1))}{max(len(rows), 1)}"/><sheetData>'
    ]
    for number, row in enumerate(rows, start=1):
        if row is None:  # a row left out of the file (Excel omits empty rows)
            continue
        parts.append(f'<row r="{number}">')
        for index, value in enumerate(row, start=1):
            ref = f"{get_column_letter(index)}{number}"
            if value is None:
                continue
            if isinstance(value, Raw):
                parts.append(value.xml.replace("{ref}", ref))
            elif isinstance(value, bool):
                parts.append(f'<c r="{ref}" t="b"><v>{int(value)}</v></c>')
            elif isinstance(value, int | float):
                parts.append(f'<c r="{ref}"><v>{value}</v></c>')
            elif isinstance(value, datetime.date):
                serial = to_excel(value, epoch)
                parts.append(f'<c r="{ref}" s="{CUSTOM_DATE_STYLE}"><v>{serial}</v></c>')
            else:
                index_ = strings.setdefault(str(value), len(strings))
                parts.append(f'<c r="{ref}" t="s"><v>{index_}</v></c>')
        parts.append("</row>")
    parts.append("</sheetData></worksheet>")
    return "".join(parts)


def excel_like_xlsx(
    sheets: dict[str, list[list[Any]]] | list[list[Any]],
    *,
    date1904: bool = False,
    shared_strings_xml: str | None = None,
) -> bytes:
    """A workbook with shared strings; ``sheets``: name → rows (or the rows of "Feuil1").
    ``shared_strings_xml`` replaces the shared strings part (rich text, phonetic runs…)."""
    if not isinstance(sheets, dict):
        sheets = {"Feuil1": sheets}
    epoch = CALENDAR_MAC_1904 if date1904 else CALENDAR_WINDOWS_1900
    strings: dict[str, int] = {}
    sheet_xml = [_sheet(rows, strings, epoch) for rows in sheets.values()]
    if shared_strings_xml is None:
        items = "".join(f'<si><t xml:space="preserve">{escape(text)}</t></si>' for text in strings)
        shared_strings_xml = (
            f'<sst xmlns="{MAIN}" count="{len(strings)}" uniqueCount="{len(strings)}">{items}</sst>'
        )
    sheet_entries = "".join(
        f'<sheet name={quoteattr(name)} sheetId="{i}" r:id="rId{i}"/>'
        for i, name in enumerate(sheets, start=1)
    )
    properties = ' date1904="1"' if date1904 else ""
    workbook = (
        f'<workbook xmlns="{MAIN}" xmlns:r="{REL}">'
        f"<workbookPr{properties}/>"
        f"<sheets>{sheet_entries}</sheets></workbook>"
    )
    n = len(sheets)
    rels = "".join(
        f'<Relationship Id="rId{i}" Type="{REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, n + 1)
    )
    rels += (
        f'<Relationship Id="rId{n + 1}" Type="{REL}/styles" Target="styles.xml"/>'
        f'<Relationship Id="rId{n + 2}" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>'
    )
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, n + 1)
    )
    content_types = (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/'
        'vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        f"{overrides}</Types>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{PKG}"><Relationship Id="rId1" Type="{REL}/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr(
            "xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{PKG}">{rels}</Relationships>'
        )
        archive.writestr("xl/styles.xml", STYLES)
        archive.writestr("xl/sharedStrings.xml", shared_strings_xml)
        for i, xml in enumerate(sheet_xml, start=1):
            archive.writestr(f"xl/worksheets/sheet{i}.xml", xml)
    return buffer.getvalue()
