"""Each fixture file in files/ (see make_files.py) and what reading it must give."""

from __future__ import annotations

import datetime
import io
from pathlib import Path

import openpyxl
import pytest

from training.parsing import MAX_ROWS, FileRefused, parse_attendance

FILES = Path(__file__).parent / "files"


def parse(name: str, session_date: datetime.date | None = None):
    return parse_attendance((FILES / name).read_bytes(), name, session_date)


def names(result) -> list[tuple[int, str, str, str]]:
    return [(r["line"], r["last_name"], r["first_name"], r["status"]) for r in result.rows]


def test_utf8_with_bom_and_semicolons():
    result = parse("utf8_bom_semicolon.csv")
    assert result.file_format == "csv"
    assert names(result) == [
        (2, "Lefèvre", "Hélène", "present"),
        (3, "N'Diaye", "Aïssatou", "present"),
        (4, "Garçon", "Loïc", "absent"),
        (5, "Béranger", "Zoé", "excused"),
        (6, "Müller", "Jean-François", "present"),
    ]
    assert result.rows[0]["service"] == "Police municipale"
    assert result.rows[0]["email"] == "helene.lefevre@tarascon.test"
    assert result.rejected == [] and result.duplicates == []


def test_windows_1252_accents_and_remarks():
    result = parse("cp1252_semicolon.csv")
    assert names(result) == [
        (2, "Cœur", "Élodie", "present"),
        (3, "Français", "Noël", "absent"),
        (4, "Dupré", "Renée", "present"),
    ]
    assert result.rows[0]["service"] == "Direction de l’enfance"
    assert result.rows[0]["remark"] == "arrivée à 9h15"
    assert result.rows[2]["remark"] == "« très intéressée »"


def test_english_headers_commas_mixed_case_any_order():
    result = parse("comma_mixed_case_en.csv")
    assert names(result) == [
        (2, "Rossi", "Marco", "present"),
        (3, "Nguyen", "Linh", "present"),
        (4, "Santos", "Ana", "absent"),
        (5, "Blanc", 'Jean, dit "Jeannot"', "present"),
    ]
    assert result.rows[0]["organisation"] == "AS Tarascon Football"
    assert result.rows[0]["email"] == "coach@club-tarascon.test"
    assert any("Job title" in w for w in result.warnings)


def test_blank_lines_title_row_and_duplicates():
    result = parse("blank_lines_duplicates.csv")
    assert names(result) == [
        (4, "Martin", "Paul", "present"),
        (7, "Durand", "Sophie", "present"),
        (10, "Petit", "Léa", "present"),
    ]
    # Same e-mail in another case; same name + organisation without e-mail (but marked absent
    # on the second line: a conflict, reported).
    assert result.duplicates == [
        {"line": 8, "first_line": 4},
        {"line": 9, "first_line": 7, "statuses": ["present", "absent"]},
    ]
    assert result.blank_lines >= 3


def test_bad_rows_are_rejected_with_line_and_reason():
    result = parse("bad_rows.csv")
    # Values starting with = + - @ are plain text now: only real problems reject a row.
    assert [r["line"] for r in result.rows] == [2, 6, 8, 9]
    reasons = {item["line"]: item["reason"] for item in result.rejected}
    assert reasons[3] == "nom manquant"
    assert reasons[4] == "adresse électronique invalide"
    # The unquoted ";" inside the formula splits it: "Eve" lands in the e-mail column.
    assert reasons[5] == "adresse électronique invalide"
    assert "« peut-être » non reconnue" in reasons[7]
    assert result.rows[1]["status"] == "present"  # "+1": 1 is "present"
    assert result.rows[2]["remark"] == "@SUM(A1)"


def test_xlsx_with_cover_sheet_title_rows_and_blank_row():
    result = parse("extra_sheet.xlsx")
    assert result.file_format == "xlsx"
    assert result.sheet == "Émargement"
    assert names(result) == [
        (4, "Barbier", "Inès", "present"),
        (5, "Mercier", "Hugo", "present"),
        (6, "Roux", "Léna", "absent"),
        (8, "Faure", "Tom", "present"),
    ]
    assert any("Émargement" in w for w in result.warnings)


def test_xlsx_formulas_without_stored_value_are_read_as_text_and_said():
    # openpyxl (like some export tools) writes formulas without computing them.
    result = parse("formulas.xlsx")
    assert names(result)[:2] == [
        (2, "Girard", "Nina", "present"),
        (3, '=UPPER("lambert")', "Yves", "present"),
    ]
    assert [r["line"] for r in result.rejected] == [4]  # "=1=1" is no attendance value
    assert result.total_lines == [{"line": 5, "label": "Total"}]
    assert any("Formules sans valeur enregistrée (lignes 3, 4, 5)" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.csv", "vide"),
        ("header_only.csv", "aucune ligne"),
        ("renamed_pdf.csv", "ni un CSV ni un classeur"),
        ("unknown_headers.csv", "Aucune en-tête reconnue dans les 30 premières lignes"),
        ("no_name_column.csv", "Colonne du nom introuvable"),
        ("merged_header.xlsx", "fusionnées"),
        ("merged_name_header.xlsx", "fusionnées"),
        ("xlsx_named_csv.csv", "extension"),
        ("csv_named_xlsx.xlsx", "extension"),
    ],
)
def test_refused_files(name, message):
    with pytest.raises(FileRefused, match=message):
        parse(name)


def test_title_row_merged_above_header_is_accepted():
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Émargement du 12 mars", None, None])
    sheet.merge_cells("A1:C1")
    sheet.append(["Nom", "Prénom", "Présent"])
    sheet.append(["Robin", "Lucie", "oui"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    result = parse_attendance(buffer.getvalue(), "liste.xlsx")
    assert names(result) == [(3, "Robin", "Lucie", "present")]


def test_over_5_mb_is_refused():
    data = b"Nom;Prenom\r\n" + b"Dupont;Jean\r\n" * 450_000
    with pytest.raises(FileRefused, match="5 Mo"):
        parse_attendance(data, "big.csv")


def test_over_20000_rows_is_refused():
    data = ("Nom\r\n" + "".join(f"N{i}\r\n" for i in range(MAX_ROWS + 1))).encode()
    with pytest.raises(FileRefused, match="20"):
        parse_attendance(data, "many.csv")


def test_exactly_20000_rows_is_accepted():
    data = ("Nom\r\n" + "".join(f"N{i}\r\n" for i in range(MAX_ROWS))).encode()
    assert len(parse_attendance(data, "many.csv").rows) == MAX_ROWS


def test_dates_are_checked_against_the_session():
    data = b"Nom;Date\r\nA;12/03/2026\r\nB;2026-03-13\r\nC;demain\r\n"
    result = parse_attendance(data, "d.csv", datetime.date(2026, 3, 12))
    assert [r["line"] for r in result.rows] == [2]
    reasons = {r["line"]: r["reason"] for r in result.rejected}
    assert "différente" in reasons[3]
    assert "illisible" in reasons[4]


def test_two_columns_for_the_same_field_are_refused():
    with pytest.raises(FileRefused, match="même information"):
        parse_attendance(b"Nom;Courriel;E-mail\r\nA;a@b.fr;c@d.fr\r\n", "x.csv")


def test_utf16_tab_separated_export():
    data = "Nom\tPrénom\tPrésent\r\nÉtienne\tZoé\toui\r\n".encode("utf-16")
    assert names(parse_attendance(data, "unicode.txt")) == [(2, "Étienne", "Zoé", "present")]


# Issue 16: the exports town halls really send ------------------------------------------------


def test_remarks_starting_with_dash_plus_at_equals_keep_the_attendance():
    result = parse("remarks_dash_plus_at.csv")
    assert result.rejected == []
    assert [(r["last_name"], r["status"], r["remark"]) for r in result.rows] == [
        ("Arnaud", "present", "- arrivée en retard"),
        ("Bonnet", "present", "+1 accompagnant"),
        ("Caron", "present", "@Léa : envoyer le support"),
        ("=Dumas", "present", '=HYPERLINK("http://evil.test")'),
        ("Faure", "absent", "-"),
    ]


def test_direction_and_service_columns_take_the_service_and_say_so():
    result = parse("direction_and_service.csv")
    assert [(r["last_name"], r["service"]) for r in result.rows] == [
        ("Garnier", "Voirie"),
        ("Henry", "État civil"),
        ("Lucas", "Direction générale"),  # no service: its direction
    ]
    assert any(
        "« Service »" in w and "« Direction » ne sert que là où le service est vide" in w
        for w in result.warnings
    )
    assert any("Matricule" in w for w in result.warnings)


def test_direction_alone_is_the_service():
    result = parse("cp1252_semicolon.csv")
    assert result.rows[0]["service"] == "Direction de l’enfance"
    assert not any("ne sert que" in w for w in result.warnings)


def test_statuses_written_with_e():
    result = parse("statuses_with_e.xlsx")
    assert [(r["last_name"], r["status"]) for r in result.rows] == [
        ("Morel", "present"),
        ("Noël", "excused"),
        ("Perrin", "absent"),
        ("Renard", "present"),
    ]


@pytest.mark.parametrize("filename", ["libreoffice.ods", "emargement.xlsx", "liste.ods"])
def test_libreoffice_files_are_told_to_be_saved_as_xlsx_or_csv(filename):
    data = (FILES / "libreoffice.ods").read_bytes()
    with pytest.raises(FileRefused, match=r"Fichiers LibreOffice : enregistrez au format \.xlsx"):
        parse_attendance(data, filename)
    # Even a CSV misnamed .ods is told the same: the name says LibreOffice.
    with pytest.raises(FileRefused, match="LibreOffice"):
        parse_attendance(b"Nom\r\nA\r\n", "liste.ods")


def test_header_on_line_14_of_an_hr_export_is_found():
    result = parse("header_line_14.xlsx")
    assert names(result) == [(15, "Simon", "Elsa", "present"), (16, "Thomas", "Yann", "absent")]
    assert result.rows[0]["service"] == "Culture"


def test_header_not_found_says_where_it_looked():
    with pytest.raises(FileRefused, match="dans les 30 premières lignes du fichier"):
        parse("header_line_40.csv")
    workbook = openpyxl.Workbook()
    workbook.active.title = "Liste"
    workbook.active.append(["Foo", "Bar"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    with pytest.raises(FileRefused, match="30 premières lignes des feuilles « Liste »"):
        parse_attendance(buffer.getvalue(), "x.xlsx")


def test_total_line_is_skipped_and_said_and_stored_formula_values_are_read():
    result = parse("total_row_stored_formulas.xlsx")
    assert names(result) == [
        (2, "Roche", "Alice", "present"),
        (3, "Royer", "Basile", "absent"),
        (4, "LAMBERT", "Yves", "present"),  # the value Excel stored for =UPPER("lambert")
    ]
    assert result.rejected == []
    assert result.total_lines == [{"line": 6, "label": "Total présents"}]
    assert any("Ligne 6 : ligne de total, ignorée" in w for w in result.warnings)
    assert not any("Formules" in w for w in result.warnings)


def test_a_person_named_total_with_an_email_is_a_person():
    result = parse_attendance(b"Nom;Courriel\r\nTotal;m.total@tarascon.test\r\n", "x.csv")
    assert [r["last_name"] for r in result.rows] == ["Total"] and result.total_lines == []


def test_conflicting_duplicates_are_reported():
    result = parse("conflicting_duplicates.csv")
    assert [r["line"] for r in result.rows] == [2, 3]
    assert result.duplicates == [
        {"line": 4, "first_line": 2, "statuses": ["present", "absent"]},
        {"line": 5, "first_line": 3},
    ]
    assert any(
        "1 personne figure deux fois avec des présences différentes" in w for w in result.warnings
    )


def test_an_xlsx_sheet_with_a_dtd_is_refused_not_expanded():
    # defusedxml: entities (billion laughs, external ones) are never expanded.
    import re
    import zipfile

    workbook = openpyxl.Workbook()
    workbook.active.append(["Nom", "Présent"])
    workbook.active.append(["Robin", "oui"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                xml = content.decode()
                xml = re.sub(
                    r"^(<\?xml[^>]*\?>)?",
                    '<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa">'
                    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
                    xml,
                    count=1,
                )
                content = xml.replace("<t>Robin</t>", "<t>&b;</t>").encode()
            target.writestr(info, content)
    with pytest.raises(FileRefused, match="endommagé ou illisible"):
        parse_attendance(out.getvalue(), "dtd.xlsx")


def test_the_parsing_package_reads_xml_only_through_defusedxml():
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "training" / "parsing"
    for module in package.glob("*.py"):
        source = module.read_text()
        assert "xml.etree" not in source and "from xml" not in source, module.name
