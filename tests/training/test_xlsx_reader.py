"""The XLSX reader (``training.parsing.xlsx_parts``) reads what openpyxl reads, faster.

openpyxl's read-only mode with ``data_only`` was the reader before; it stays the oracle here:
every fixture workbook and Excel-shaped workbooks (shared strings, rich text, dates in 1900 and
1904, booleans, errors, rows and cells without their reference) give the same values. Then a
10,000-row upload through the view: the right report, in a bounded number of statements.
"""

from __future__ import annotations

import datetime
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cmer.text import strip_accents
from training.models import AttendanceImport
from training.normalise import normalise_key
from training.parsing import FileRefused, parse_attendance
from training.parsing.xlsx_parts import SheetReader, read_workbook

from .factories import TrainingSessionFactory
from .xlsx_builder import Raw, excel_like_xlsx

FILES = Path(__file__).parent / "files"
FIXTURES = sorted(p for p in FILES.glob("*.xlsx") if zipfile.is_zipfile(p))


def trimmed(values: Any) -> list[Any]:
    values = list(values)
    while values and values[-1] is None:
        values.pop()
    return values


def ours(data: bytes) -> dict[str, list[list[Any]]]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    workbook = read_workbook(archive)
    sheets = {}
    for sheet in workbook.sheets:
        reader = SheetReader(archive, workbook, sheet.path)
        sheets[sheet.name] = [trimmed(row.values) for row in reader.rows()]
    return sheets


def openpyxls(data: bytes) -> dict[str, list[list[Any]]]:
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    sheets = {}
    for sheet in workbook.worksheets:
        rows = [trimmed(row) for row in sheet.iter_rows(values_only=True)]
        while rows and not rows[-1]:  # openpyxl pads to the declared dimension
            rows.pop()
        sheets[sheet.title] = rows
    return sheets


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_each_fixture_workbook_reads_as_openpyxl_reads_it(path):
    data = path.read_bytes()
    assert ours(data) == openpyxls(data)


EXCEL_ROWS: list[Any] = [
    ["Liste d'émargement — formation du 12/03/2026"],
    None,  # a row Excel leaves out: an empty line
    ["Nom", "Prénom", "Service", "Présent", "Date", "Heures", "Remarque"],
    ["Lefèvre", "Hélène", "Police municipale", True, datetime.date(2026, 3, 12), 3, "a_x005F_b"],
    ["N'Diaye", "Aïssatou", "CCAS", False, datetime.date(2026, 3, 12), 2.5, None],
    [
        Raw('<c r="{ref}" t="str"><f>UPPER("lambert")</f><v>LAMBERT</v></c>'),
        "Yves",
        Raw('<c r="{ref}" t="inlineStr"><is><r><t>Voi</t></r><r><rPr/><t>rie</t></r></is></c>'),
        Raw('<c r="{ref}" t="e"><v>#N/A</v></c>'),
        Raw('<c r="{ref}" s="1"><v>46093</v></c>'),
        Raw('<c r="{ref}" s="3"><v>1.5E1</v></c>'),
        Raw('<c r="{ref}" t="d"><v>2026-03-12T09:30:00</v></c>'),
    ],
    [Raw('<c t="s"><v>0</v></c><c><v>7</v></c><c r="E{n}" t="b"><v>1</v></c>')],
]


def excel_rows(rows: list[Any]) -> list[Any]:
    # A cell without its reference takes the next column; "{n}" is the row number.
    out = []
    for number, row in enumerate(rows, start=1):
        if row is None:
            out.append(None)
            continue
        out.append(
            [Raw(v.xml.replace("{n}", str(number))) if isinstance(v, Raw) else v for v in row]
        )
    return out


@pytest.mark.parametrize("date1904", [False, True], ids=["1900", "1904"])
def test_an_excel_shaped_workbook_reads_as_openpyxl_reads_it(date1904):
    data = excel_like_xlsx(
        {"Couverture": [["Mairie de Tarascon"]], "Émargement": excel_rows(EXCEL_ROWS)},
        date1904=date1904,
    )
    mine = ours(data)
    assert mine == openpyxls(data)
    rows = mine["Émargement"]
    assert rows[3][:6] == [
        "Lefèvre",
        "Hélène",
        "Police municipale",
        True,
        datetime.datetime.combine(datetime.date(2026, 3, 12), datetime.time()),
        3,
    ]
    assert rows[3][6] == "a_b"  # Excel's escape of "_" dropped, as openpyxl does
    assert rows[5][:4] == ["LAMBERT", "Yves", "Voirie", "#N/A"]
    assert rows[5][5] == 15.0


def test_rich_and_phonetic_shared_strings_read_as_openpyxl_reads_them():
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    strings = (
        f'<sst xmlns="{main}"><si><t>Nom</t></si><si><r><rPr><b/></rPr><t>Ya</t></r>'
        '<r><t>mada</t></r><rPh sb="0" eb="1"><t>ヤマダ</t></rPh></si><si><t/></si>'
        '<si><t xml:space="preserve"> Présent </t></si></sst>'
    )
    rows = [
        [Raw('<c r="{ref}" t="s"><v>0</v></c>'), Raw('<c r="{ref}" t="s"><v>3</v></c>')],
        [Raw('<c r="{ref}" t="s"><v>1</v></c>'), Raw('<c r="{ref}" t="s"><v>2</v></c>')],
    ]
    data = excel_like_xlsx(rows, shared_strings_xml=strings)
    assert ours(data) == openpyxls(data) == {"Feuil1": [["Nom", " Présent "], ["Yamada", ""]]}


def test_rich_and_phonetic_inline_strings_read_as_the_same_shared_strings():
    """Inline strings (``<is>``) go through the same rich-text reading as shared strings
    (``<si>``): runs joined after the plain text, phonetic guides left out."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    items = [
        '<r><rPr><b/></rPr><t>Ya</t></r><r><t>mada</t></r><rPh sb="0" eb="1"><t>ヤマダ</t></rPh>',
        '<t xml:space="preserve">Po</t><r><t>lice</t></r><phoneticPr fontId="1"/>',
        '<rPh sb="0" eb="1"><t>ヤ</t></rPh><t>CCAS</t>',
        "<t/>",
    ]
    strings = f'<sst xmlns="{main}">' + "".join(f"<si>{x}</si>" for x in items) + "</sst>"
    shared = [[Raw(f'<c r="{{ref}}" t="s"><v>{i}</v></c>') for i in range(len(items))]]
    inline = [[Raw(f'<c r="{{ref}}" t="inlineStr"><is>{x}</is></c>') for x in items]]
    from_shared = excel_like_xlsx(shared, shared_strings_xml=strings)
    from_inline = excel_like_xlsx(inline)
    expected = {"Feuil1": [["Yamada", "Police", "CCAS", ""]]}
    assert ours(from_shared) == openpyxls(from_shared) == expected
    assert ours(from_inline) == openpyxls(from_inline) == expected


def test_an_excel_shaped_file_gives_the_same_report_as_its_csv():
    rows = [
        ["Nom", "Prénom", "Direction", "Service", "Présent(e)", "Date"],
        ["Lefèvre", "Hélène", "DGS", "Police municipale", "Présente", datetime.date(2026, 3, 12)],
        ["Roux", "Léna", "Enfance", None, "absente", datetime.date(2026, 3, 12)],
        ["Total présents : 1"],
    ]
    day = datetime.date(2026, 3, 12)
    from_xlsx = parse_attendance(excel_like_xlsx(rows), "liste.xlsx", day)
    csv_lines = ["Nom;Prénom;Direction;Service;Présent(e);Date"]
    csv_lines += ["Lefèvre;Hélène;DGS;Police municipale;Présente;12/03/2026"]
    csv_lines += ["Roux;Léna;Enfance;;absente;12/03/2026", "Total présents : 1"]
    from_csv = parse_attendance("\r\n".join(csv_lines).encode(), "liste.csv", day)
    for field in ("rows", "rejected", "duplicates", "total_lines", "warnings", "columns"):
        assert getattr(from_xlsx, field) == getattr(from_csv, field), field
    assert [r["service"] for r in from_xlsx.rows] == ["Police municipale", "Enfance"]


@pytest.mark.parametrize(
    "part",
    [
        "xl/workbook.xml",
        "xl/_rels/workbook.xml.rels",
        "xl/styles.xml",
        "xl/sharedStrings.xml",
        "xl/worksheets/sheet1.xml",
    ],
)
def test_every_part_is_read_without_dtd_or_entities(part):
    source = zipfile.ZipFile(io.BytesIO(excel_like_xlsx([["Nom"], ["Robin"]])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == part:
                content = re.sub(
                    rb"^",
                    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
                    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
                    content,
                    count=1,
                )
            target.writestr(info, content)
    with pytest.raises(FileRefused, match="endommagé ou illisible"):
        parse_attendance(out.getvalue(), "dtd.xlsx")


@pytest.mark.parametrize(
    "cell",
    [
        '<c r="A2" t="s"><v>99</v></c>',  # no such shared string
        '<c r="A2"><v>douze</v></c>',  # not a number
        '<c r="A2" t="b"><v>oui</v></c>',
        '<c r="ZZZZ2"><v>1</v></c>',  # beyond the last column
    ],
)
def test_a_damaged_cell_refuses_the_file_with_the_clear_message(cell):
    data = excel_like_xlsx([["Nom"], [Raw(cell)]])
    with pytest.raises(FileRefused, match="Classeur XLSX endommagé ou illisible"):
        parse_attendance(data, "abime.xlsx")


def replaced(data: bytes, part: str, old: bytes, new: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == part:
                assert old in content
                content = content.replace(old, new)
            target.writestr(info, content)
    return out.getvalue()


def test_rows_left_out_are_blank_lines_and_a_row_past_excels_last_is_refused():
    data = excel_like_xlsx([["Nom", "Présent"], ["Robin", "oui"], ["Durand", "non"]])
    sheet = "xl/worksheets/sheet1.xml"
    gap = replaced(data, sheet, b'<row r="3">', b'<row r="40">')
    result = parse_attendance(gap, "trous.xlsx")
    assert [r["line"] for r in result.rows] == [2, 40]
    assert result.blank_lines == 37
    beyond = replaced(data, sheet, b'<row r="3">', b'<row r="1048577">')
    with pytest.raises(FileRefused, match="Classeur XLSX endommagé ou illisible"):
        parse_attendance(beyond, "trop-loin.xlsx")


def test_a_wrong_declared_dimension_loses_nobody():
    """openpyxl's read-only mode dropped rows and columns beyond ``<dimension>``."""
    rows = [["Nom", "Présent", "Remarque"], ["Robin", "oui", "en retard"], ["Durand", "non", ""]]
    data = excel_like_xlsx([*rows, ["Petit", "oui", "- partie à 11h"]])
    small = replaced(data, "xl/worksheets/sheet1.xml", b'ref="A1:C4"', b'ref="A1:B2"')
    assert openpyxls(small)["Feuil1"] == [["Nom", "Présent"], ["Robin", "oui"]]
    result = parse_attendance(small, "dimension.xlsx")
    assert [(r["line"], r["last_name"], r["remark"]) for r in result.rows] == [
        (2, "Robin", "en retard"),
        (3, "Durand", ""),
        (4, "Petit", "- partie à 11h"),
    ]


def test_corrupt_compressed_bytes_refuse_the_file_with_the_clear_message():
    data = bytearray(excel_like_xlsx([["Nom", "Présent"], *([f"N{i}", "oui"] for i in range(500))]))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    middle = start + info.compress_size // 2
    data[middle : middle + 64] = bytes(64)
    with pytest.raises(FileRefused, match="Classeur XLSX endommagé ou illisible"):
        parse_attendance(bytes(data), "abime.xlsx")


def test_a_merged_header_is_refused_before_a_file_too_long():
    """The merges are written after the cells: the refusal that says to unmerge the header
    still comes first when the rows below would be refused too."""
    source = excel_like_xlsx([["Nom", "Prénom"], *([f"N{i}", "P"] for i in range(20_001))])
    archive = zipfile.ZipFile(io.BytesIO(source))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in archive.infolist():
            content = archive.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                content = content.replace(
                    b"</sheetData>",
                    b'</sheetData><mergeCells count="1"><mergeCell ref="A1:B1"/></mergeCells>',
                )
            target.writestr(info, content)
    with pytest.raises(FileRefused, match="Cellules fusionnées dans la ligne d'en-tête"):
        parse_attendance(out.getvalue(), "fusion.xlsx")


def test_the_ascii_shortcut_of_normalise_key_changes_no_key():
    """normalise_key skips the accent folding of ASCII text: same keys as the full path, on
    every cell of the fixtures and on hard cases."""

    def full_path(value: str) -> str:
        folded = strip_accents(value).replace("œ", "oe").replace("Œ", "oe").replace("æ", "ae")
        return re.sub(r"[^0-9a-z]+", " ", folded.casefold()).strip()

    values = {"", " ", "O'Brien", "\tA\x00b\x7f", "ﬁ", "Cœur", "ÆSIR", "Straße", "İ", "ǅ"}
    for path in FIXTURES:
        for rows in ours(path.read_bytes()).values():
            values.update(str(v) for row in rows for v in row if v is not None)
    for path in FILES.glob("*.csv"):
        values.update(re.split(r"[;,\t\r\n]", path.read_bytes().decode("utf-8", "replace")))
    for value in values:
        assert normalise_key(value) == full_path(value), value


# Through the upload view -----------------------------------------------------------------------

SERVICES = ["Voirie", "Police municipale", "Éducation", "Sports", "CCAS", "État civil"]
COUNT = 10_000


def big_rows() -> list[list[Any]]:
    rows: list[list[Any]] = [["Nom", "Prénom", "Service", "Courriel", "Présent"]]
    for i in range(COUNT):
        rows.append(
            [
                f"Nom{i:05d}",
                f"Prénom{i}",
                SERVICES[i % 6],
                f"agent{i}@tarascon.test",
                "oui" if i % 7 else "non",
            ]
        )
    rows[5001][3] = "pas-une-adresse"  # rejected, line 5002
    rows[7001] = [*rows[42][:4], "non"]  # agent41 again with another status, line 7002
    rows.append(["Total présents"])
    return rows


def openpyxl_inline(rows: list[list[Any]]) -> bytes:
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Émargement")
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize("shape", ["shared-strings", "inline-strings", "csv"])
def test_a_10000_row_upload_gives_the_right_report_in_few_statements(
    shape, world, as_user, django_assert_max_num_queries
):
    rows = big_rows()
    if shape == "shared-strings":
        name, data = "presences.xlsx", excel_like_xlsx({"Émargement": rows})
    elif shape == "inline-strings":
        name, data = "presences.xlsx", openpyxl_inline(rows)
    else:
        lines = [";".join(str(v) for v in row) for row in rows]
        name, data = "presences.csv", ("\ufeff" + "\r\n".join(lines)).encode()
    session = TrainingSessionFactory(commune=world.tarascon, created_by=world.coordinator)
    client = as_user(world.coordinator)
    url = reverse("training:import_upload", args=[session.pk])
    # 13 statements today, whatever the rows: session, roles, one INSERT of the parsed rows,
    # its audit entry. The parse itself reads no database.
    with django_assert_max_num_queries(15):
        response = client.post(url, {"file": SimpleUploadedFile(name, data)})
    assert response.status_code == 302, response.content.decode()[:2000]
    staged = AttendanceImport.objects.get()
    assert len(staged.rows) == COUNT - 2
    assert staged.rows[0] == {
        "line": 2,
        "last_name": "Nom00000",
        "first_name": "Prénom0",
        "service": "Voirie",
        "organisation": "",
        "email": "agent0@tarascon.test",
        "status": "absent",
        "remark": "",
    }
    assert staged.rows[-1]["line"] == COUNT + 1
    assert staged.rejected == [{"line": 5002, "reason": "adresse électronique invalide"}]
    assert staged.duplicates == [
        {"line": 7002, "first_line": 43, "statuses": ["present", "absent"]}
    ]
    assert any("Ligne 10002 : ligne de total" in w for w in staged.warnings)
    assert staged.file_format == ("csv" if shape == "csv" else "xlsx")
