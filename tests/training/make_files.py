"""Regenerate the fixture files in files/: ``python -m tests.training.make_files``.

They imitate what town halls send: Excel's "CSV UTF-8" (BOM, semicolons, CRLF), Excel's default
French CSV (Windows-1252), an English export with commas, sign-in sheets with blank lines and
duplicates, XLSX with a cover sheet, formulas or merged headers, and files that are not what their
name says; then the exports that showed the problems of issue 16 (remarks starting with "-",
"Direction" and "Service" side by side, "Présent(e)", a LibreOffice file, a header on line 14, a
"Total présents" line, one person twice with two statuses, formulas with their stored values).
Expected outcomes are in test_files.py.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import openpyxl

HERE = Path(__file__).parent / "files"


def crlf(lines: list[str]) -> str:
    return "\r\n".join(lines) + "\r\n"


def with_stored_values(data: bytes, values: dict[str, str]) -> bytes:
    """An openpyxl workbook as Excel saves it: each formula cell with the value it computed
    (openpyxl writes formulas with an empty ``<v/>``). ``values``: cell → text."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                xml = content.decode()
                for ref, value in values.items():
                    xml = re.sub(
                        rf'<c r="{ref}"><f>(.*?)</f><v ?/>(?:</v>)?</c>',
                        lambda m, v=value, r=ref: (
                            f'<c r="{r}" t="str"><f>{m.group(1)}</f><v>{v}</v></c>'
                        ),
                        xml,
                    )
                content = xml.encode()
            target.writestr(info, content)
    return out.getvalue()


def minimal_ods() -> bytes:
    """A LibreOffice Calc file as it starts on disk: ``mimetype`` stored first, uncompressed."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet"
        )
        archive.writestr(
            "content.xml",
            '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
            'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"/>',
            compress_type=zipfile.ZIP_DEFLATED,
        )
    return out.getvalue()


def xlsx_bytes(workbook: openpyxl.Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def issue_16_files() -> None:
    # Excel's "CSV UTF-8" of a sign-in sheet where the remarks were typed as lists ("- …").
    (HERE / "remarks_dash_plus_at.csv").write_bytes(
        crlf(
            [
                "Nom;Prénom;Service;Courriel;Présent;Remarque",
                "Arnaud;Julie;Voirie;julie.arnaud@tarascon.test;oui;- arrivée en retard",
                "Bonnet;Marc;Voirie;marc.bonnet@tarascon.test;oui;+1 accompagnant",
                "Caron;Léa;CCAS;lea.caron@tarascon.test;oui;@Léa : envoyer le support",
                '=Dumas;Eric;CCAS;eric.dumas@tarascon.test;oui;=HYPERLINK("http://evil.test")',
                "Faure;Zoé;CCAS;zoe.faure@tarascon.test;non;-",
            ]
        ).encode("utf-8-sig")
    )
    # An HR export (Windows-1252, Excel French) with the direction and the service.
    (HERE / "direction_and_service.csv").write_bytes(
        crlf(
            [
                "Matricule;Nom;Prénom;Direction;Service;Emargement",
                "00412;Garnier;Paul;Direction des services techniques;Voirie;Présent",
                "00977;Henry;Inès;Direction de la population;État civil;Présent",
                "01022;Lucas;Théo;Direction générale;;Présent",
            ]
        ).encode("cp1252")
    )
    # The sign-in sheet's XLSX with the "(e)" forms of the statuses.
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Emargement"
    sheet.append(["NOM", "Prénom", "Service", "Présent(e)"])
    sheet.append(["Morel", "Anaïs", "Police municipale", "Présent(e)"])
    sheet.append(["Noël", "Bruno", "Police municipale", "Excusé(e)"])
    sheet.append(["Perrin", "Chloé", "Jeunesse", "Absent(e)"])
    sheet.append(["Renard", "David", "Jeunesse", "présent·e"])
    (HERE / "statuses_with_e.xlsx").write_bytes(xlsx_bytes(workbook))
    (HERE / "libreoffice.ods").write_bytes(minimal_ods())
    # An export from the HR software: 13 lines of letterhead and session details first.
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Export"
    sheet.append(["VILLE DE TARASCON"])
    sheet.append(["Direction des ressources humaines — Service formation"])
    for label, value in [
        ("Intitulé", "Prévention de la radicalisation"),
        ("Date", "12/03/2026"),
        ("Lieu", "Salle du conseil"),
        ("Formateur", "C. Formatrice"),
        ("Durée", "3 h"),
    ]:
        sheet.append([label, value])
    for _ in range(6):
        sheet.append([])
    sheet.append(["Nom", "Prénom", "Direction", "Présence"])  # line 14
    sheet.append(["Simon", "Elsa", "Culture", "Présent"])
    sheet.append(["Thomas", "Yann", "Sports", "Absent"])
    (HERE / "header_line_14.xlsx").write_bytes(xlsx_bytes(workbook))
    lines = ["Feuille d'émargement;;"] + [f"Information {n};;" for n in range(38)]
    lines += ["Nom;Prénom;Présent", "Vidal;Rose;oui"]  # header on line 40
    (HERE / "header_line_40.csv").write_bytes(crlf(lines).encode("utf-8"))
    # Excel sign-in sheet with a total line computed by a formula (and its stored value).
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Nom", "Prénom", "Courriel", "Présent"])
    sheet.append(["Roche", "Alice", "alice.roche@tarascon.test", "oui"])
    sheet.append(["Royer", "Basile", "basile.royer@tarascon.test", "non"])
    sheet.append(['=UPPER("lambert")', "Yves", "yves.lambert@tarascon.test", "oui"])
    sheet.append([])
    sheet.append(["Total présents", None, None, '=COUNTIF(D2:D4,"oui")'])
    data = with_stored_values(xlsx_bytes(workbook), {"A4": "LAMBERT", "D6": "2"})
    (HERE / "total_row_stored_formulas.xlsx").write_bytes(data)
    # One person signed twice: present on the morning sheet, absent on the afternoon one.
    (HERE / "conflicting_duplicates.csv").write_bytes(
        crlf(
            [
                "Nom;Prénom;Courriel;Présent",
                "Marchand;Hugo;hugo.marchand@tarascon.test;oui",
                "Meyer;Julie;julie.meyer@tarascon.test;oui",
                "MARCHAND;Hugo;Hugo.Marchand@tarascon.test;non",
                "Meyer;Julie;julie.meyer@tarascon.test;oui",
            ]
        ).encode("utf-8")
    )


def town_hall_export() -> None:
    """All of issue 16 in one sheet, as the HR software of a town hall exports it: letterhead,
    Direction and Service, "Présent(e)" statuses, a remark typed as a list item, a person on
    two lines with two statuses, a total line. Used by the browser journey."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Export RH"
    sheet.append(["VILLE DE TARASCON — Direction des ressources humaines"])
    sheet.append(["Session : Prévention de la radicalisation"])
    sheet.append(["Édité le 12/03/2026"])
    sheet.append([])
    sheet.append(["Nom", "Prénom", "Direction", "Service", "Courriel", "Présent(e)", "Remarque"])
    rows = [
        ["Arnaud", "Julie", "DST", "Voirie", "julie.arnaud@tarascon.test", "Présent(e)"],
        ["Bonnet", "Marc", "DST", "Voirie", "marc.bonnet@tarascon.test", "Excusé(e)"],
        ["Caron", "Léa", "Population", "", "lea.caron@tarascon.test", "Présent(e)"],
        ["Dumas", "Eric", "Population", "État civil", "eric.dumas@tarascon.test", "Absent(e)"],
        ["ARNAUD", "Julie", "DST", "Voirie", "Julie.Arnaud@tarascon.test", "Absent(e)"],
    ]
    remarks = ["- arrivée en retard", "", "@Léa : support envoyé", "", ""]
    for row, remark in zip(rows, remarks, strict=True):
        sheet.append([*row, remark])
    sheet.append([])
    sheet.append(["Total présents", None, None, None, None, 2])
    (HERE / "town_hall_export.xlsx").write_bytes(xlsx_bytes(workbook))


def main() -> None:
    HERE.mkdir(exist_ok=True)
    (HERE / "utf8_bom_semicolon.csv").write_bytes(
        crlf(
            [
                "Nom;Prénom;Service / Direction;Courriel;Présent",
                "Lefèvre;Hélène;Police municipale;helene.lefevre@tarascon.test;oui",
                "N'Diaye;Aïssatou;Éducation;a.ndiaye@tarascon.test;x",
                "Garçon;Loïc;Sports;loic.garcon@tarascon.test;non",
                "Béranger;Zoé;Médiathèque;zoe.beranger@tarascon.test;Excusée",
                "Müller;Jean-François;CCAS;;1",
            ]
        ).encode("utf-8-sig")
    )
    (HERE / "cp1252_semicolon.csv").write_bytes(
        crlf(
            [
                "NOM;PRENOM;DIRECTION;PRESENCE;OBSERVATIONS",
                "Cœur;Élodie;Direction de l’enfance;Oui;arrivée à 9h15",
                "Français;Noël;Services techniques;Non;",
                "Dupré;Renée;Services techniques;Oui;« très intéressée »",
            ]
        ).encode("cp1252")
    )
    (HERE / "comma_mixed_case_en.csv").write_bytes(
        crlf(
            [
                "EMAIL,last NAME,First Name,Organisation,attendance,Job title",
                "coach@club-tarascon.test,Rossi,Marco,AS Tarascon Football,Yes",
                "pres@judo.test,Nguyen,Linh,Judo Club,TRUE",
                ",Santos,Ana,Association Les Tisserands,0",
                '"sec@boules.test","Blanc","Jean, dit ""Jeannot""",Boule tarasconnaise,X',
            ]
        ).encode("utf-8")
    )
    (HERE / "blank_lines_duplicates.csv").write_bytes(
        crlf(
            [
                "Liste d'émargement — session du conseil;;;;",
                ";;;;",
                "Nom;Prénom;Organisme;E-mail;Présence",
                "Martin;Paul;Mairie;paul.martin@tarascon.test;oui",
                "",
                ";;;;",
                "Durand;Sophie;Mairie;;oui",
                "MARTIN;paul;Mairie;Paul.Martin@Tarascon.test;oui",
                "durand;SOPHIE;mairie;;non",
                "Petit;Léa;Mairie;lea.petit@tarascon.test;oui",
                ";;;;",
            ]
        ).encode("utf-8")
    )
    (HERE / "bad_rows.csv").write_bytes(
        crlf(
            [
                "Nom;Prénom;Courriel;Présent;Remarque",
                "Valide;Anne;anne@tarascon.test;oui;",
                ";Sans;nom@tarascon.test;oui;",
                "Arobase;Bob;pas-une-adresse;oui;",
                '=HYPERLINK("http://evil.test";"clic");Eve;eve@tarascon.test;oui;',
                "Plus;Carl;carl@tarascon.test;+1;",
                "Peut;Être;etre@tarascon.test;peut-être;",
                "Remarque;Dan;dan@tarascon.test;oui;@SUM(A1)",
                "Valide;Berthe;berthe@tarascon.test;non;",
            ]
        ).encode("utf-8")
    )
    (HERE / "unknown_headers.csv").write_bytes(crlf(["Foo;Bar;Baz", "1;2;3"]).encode("utf-8"))
    (HERE / "no_name_column.csv").write_bytes(
        crlf(["Courriel;Service;Présent", "a@tarascon.test;Voirie;oui"]).encode("utf-8")
    )
    (HERE / "header_only.csv").write_bytes(crlf(["Nom;Prénom;Courriel"]).encode("utf-8"))
    (HERE / "empty.csv").write_bytes(b"")
    (HERE / "renamed_pdf.csv").write_bytes(
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"
    )

    workbook = openpyxl.Workbook()
    cover = workbook.active
    cover.title = "Consignes"
    cover["A1"] = "Merci de compléter la feuille « Émargement »."
    cover["A3"] = "Ne modifiez pas les en-têtes."
    sheet = workbook.create_sheet("Émargement")
    sheet.append(["Formation radicalisation — 12 mars"])
    sheet.append([])
    sheet.append(["Prénom", "NOM", "Service", "Mail", "Présent(e)", "Signature"])
    sheet.append(["Inès", "Barbier", "État civil", "ines.barbier@tarascon.test", "X", None])
    sheet.append(["Hugo", "Mercier", "Police municipale", "hugo.mercier@tarascon.test", 1, None])
    sheet.append(["Léna", "Roux", "Jeunesse", None, None, None])
    sheet.append([])
    sheet.append(["Tom", "Faure", "Sports", "tom.faure@tarascon.test", True, None])
    stats = workbook.create_sheet("Stats")
    stats["A1"] = "Nom"
    stats["B1"] = "Total"
    workbook.save(HERE / "extra_sheet.xlsx")

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Présences"
    sheet.append(["Nom", "Prénom", "Courriel", "Présent"])
    sheet.append(["Girard", "Nina", "nina.girard@tarascon.test", "oui"])
    sheet.append(['=UPPER("lambert")', "Yves", "yves.lambert@tarascon.test", "oui"])
    sheet.append(["Colin", "Marc", "marc.colin@tarascon.test", "=1=1"])
    sheet.append(["Total", None, None, "=COUNTA(D2:D4)"])
    workbook.save(HERE / "formulas.xlsx")

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Identité", None, "Courriel", "Présent"])
    sheet.merge_cells("A1:B1")
    sheet.append(["Nom", "Prénom", None, None])
    sheet.append(["Robin", "Lucie", "lucie.robin@tarascon.test", "oui"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    (HERE / "merged_header.xlsx").write_bytes(buffer.getvalue())

    # An XLSX whose header row has a merged "Nom" cell spanning two columns.
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Nom", None, "Courriel", "Présent"])
    sheet.merge_cells("A1:B1")
    sheet.append(["Robin", "Lucie", "lucie.robin@tarascon.test", "oui"])
    workbook.save(HERE / "merged_name_header.xlsx")

    # A real XLSX renamed .csv, and a CSV renamed .xlsx.
    (HERE / "xlsx_named_csv.csv").write_bytes((HERE / "formulas.xlsx").read_bytes())
    (HERE / "csv_named_xlsx.xlsx").write_bytes((HERE / "header_only.csv").read_bytes())
    issue_16_files()
    town_hall_export()


if __name__ == "__main__":
    main()
