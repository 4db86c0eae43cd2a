"""Regenerate the fixture files in files/: ``python -m tests.training.make_files``.

They imitate what town halls send: Excel's "CSV UTF-8" (BOM, semicolons, CRLF), Excel's default
French CSV (Windows-1252), an English export with commas, sign-in sheets with blank lines and
duplicates, XLSX with a cover sheet, formulas or merged headers, and files that are not what their
name says. Expected outcomes are in test_files.py.
"""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl

HERE = Path(__file__).parent / "files"


def crlf(lines: list[str]) -> str:
    return "\r\n".join(lines) + "\r\n"


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


if __name__ == "__main__":
    main()
