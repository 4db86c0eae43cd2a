"""Reading attendance files as town halls really have them: CSV from Excel, or XLSX.

Pure functions (no database): ``parse_attendance(data, filename, session_date)`` returns the rows
understood, the rows rejected with their line number and reason, the duplicates, and warnings —
or a file-level error. Nothing here writes anything.

- CSV: semicolon, comma or tab; UTF-8 with or without BOM, UTF-16 with BOM, or Windows-1252.
- XLSX: openpyxl in read-only mode; the first sheet whose first rows hold a recognisable header;
  a formula is read as the value the spreadsheet stored for it (or, if none, as its text); merged
  header cells are refused.
- Headers in French or English, any order, any case, with or without accents.
- The type is read from the content, not the name: a PDF renamed ``.csv`` is refused, a
  LibreOffice ``.ods`` is told to be saved as XLSX or CSV.
- A value starting with ``=``, ``+``, ``-`` or ``@`` ("- arrivée en retard") is kept as plain
  text: the rows hold text only, and every output neutralises it (``training.outputs``).
- A "Total présents" line is recognised, skipped and reported; two lines for the same person
  with different statuses are reported as a conflict (the first one counts).
"""

from __future__ import annotations

import csv
import datetime
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.utils.translation import ngettext

from cmer import archives

from .normalise import normalise_key

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
# A header is looked for in the first rows: exports from HR software put a title, the session's
# details and a logo block first (a real one had its header on line 14).
HEADER_SEARCH_ROWS = 30
# Zip bombs: the caps of cmer.archives (members, sizes, ratio) apply, and an XLSX part loaded
# whole by openpyxl (shared strings) is held to this: 20,000 rows of names fit in far less.
MAX_SHARED_STRINGS_BYTES = 8 * 1024 * 1024
# PDF, PNG, JPEG, GIF, gzip, 7z, RAR, ELF, PE: refused whatever the extension says.
BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b", b"7z\xbc\xaf")
BINARY_MAGIC += (b"Rar!", b"\x7fELF")

FIELDS = ("last_name", "first_name", "full_name", "service", "direction", "organisation")
FIELDS += ("email", "status", "remark", "date")

# Normalised header → field. normalise_key() has removed accents, case and punctuation.
HEADER_SYNONYMS: dict[str, str] = {}
for _field, _names in {
    "last_name": [
        "nom",
        "nom de famille",
        "nom d usage",
        "nom usuel",
        "last name",
        "lastname",
        "surname",
        "family name",
    ],
    "first_name": ["prenom", "prenoms", "first name", "firstname", "given name", "forename"],
    "full_name": [
        "nom prenom",
        "nom et prenom",
        "prenom nom",
        "prenom et nom",
        "nom complet",
        "full name",
        "name",
        "participant",
        "stagiaire",
    ],
    "service": [
        "service",
        "service direction",
        "direction service",
        "pole",
        "service pole",
        "department",
    ],
    # Broader than a service: used as the service when the file has no "Service" column, or
    # where its "Service" cell is empty.
    "direction": ["direction", "direction generale", "division"],
    "organisation": [
        "organisme",
        "organisation",
        "organization",
        "structure",
        "association",
        "club",
        "employeur",
        "employer",
        "entreprise",
        "company",
        "collectivite",
    ],
    "email": [
        "courriel",
        "email",
        "e mail",
        "mail",
        "adresse mail",
        "adresse e mail",
        "adresse electronique",
        "adresse courriel",
        "email address",
        "e mail address",
    ],
    "status": [
        "present",
        "presente",
        "presents",
        "presence",
        "emargement",
        "statut",
        "status",
        "attendance",
        "attended",
        "present e",
        "presence e",
        "statut de presence",
    ],
    "remark": [
        "remarque",
        "remarques",
        "observation",
        "observations",
        "commentaire",
        "commentaires",
        "comment",
        "comments",
        "remark",
        "remarks",
        "note",
        "notes",
    ],
    "date": ["date", "date de la session", "date de session", "session date"],
}.items():
    for _name in _names:
        HEADER_SYNONYMS[_name] = _field

STATUS_VALUES: dict[str, str] = {}
for _status, _values in {
    # "Présent(e)", "présent·e", "Présent.e" all normalise to "present e".
    "present": [
        *("oui", "o", "yes", "y", "x", "1", "true", "vrai", "p"),
        *("present", "presente", "present e", "presents", "presentes"),
    ],
    "absent": [
        *("non", "n", "no", "0", "false", "faux", "a"),
        *("absent", "absente", "absent e", "absents", "absentes"),
        *("absent non excuse", "absente non excusee", "absent e non excuse e"),
    ],
    "excused": [
        *("excuse", "excusee", "excuse e", "excuses", "excusees", "excused", "exc", "e"),
        *("absent excuse", "absente excusee", "absent e excuse e"),
    ],
}.items():
    for _value in _values:
        STATUS_VALUES[_value] = _status


class FileRefused(Exception):
    """The whole file is refused; the message is shown as is."""


@dataclass
class ParseResult:
    file_format: str = ""
    sheet: str = ""
    columns: dict[str, str] = field(default_factory=dict)  # field → header as written
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    # {"line", "first_line"}, plus "statuses" (first line's, this line's) when they disagree.
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    # Lines recognised as totals ("Total présents : 23"): skipped, listed for the preview.
    total_lines: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    blank_lines: int = 0


# Header recognition --------------------------------------------------------------------------


def field_for_header(header: Any) -> str | None:
    if header is None:
        return None
    return HEADER_SYNONYMS.get(normalise_key(str(header)))


def map_header(cells: list[Any]) -> tuple[dict[int, str], list[str]]:
    """Column index → field, and the headers that were not recognised."""
    mapping: dict[int, str] = {}
    unknown: list[str] = []
    seen: dict[str, str] = {}
    for index, cell in enumerate(cells):
        text = "" if cell is None else str(cell).strip()
        if not text:
            continue
        name = field_for_header(text)
        if name is None:
            unknown.append(text)
            continue
        if name in seen:
            raise FileRefused(
                _("Les colonnes « %(a)s » et « %(b)s » désignent la même information.")
                % {"a": seen[name], "b": text}
            )
        seen[name] = text
        mapping[index] = name
    return mapping, unknown


def has_name_column(mapping: dict[int, str]) -> bool:
    return bool({"last_name", "full_name"} & set(mapping.values()))


def not_found_message(kind: str, sheets: list[str] | None = None) -> str:
    """Where the header was looked for, and what is expected."""
    expected = _(
        "Colonnes attendues : Nom, Prénom, Service ou Direction, Organisme, Courriel, Présent."
    )
    if sheets:
        where = _(
            "Aucune en-tête reconnue dans les %(n)s premières lignes des feuilles %(sheets)s."
        ) % {"n": HEADER_SEARCH_ROWS, "sheets": ", ".join(f"« {s[:40]} »" for s in sheets)}
    else:
        where = _("Aucune en-tête reconnue dans les %(n)s premières lignes du fichier.") % {
            "n": HEADER_SEARCH_ROWS
        }
    return f"{where} {expected}"


# Cells ---------------------------------------------------------------------------------------


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return str(value).replace("\r", " ").replace("\n", " ").strip()


def _parse_date(value: Any) -> datetime.date | None:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    text = _cell_text(value)
    for fmt in ("%d/%m/%Y", "%Y-%m-%d", "%d/%m/%y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.datetime.strptime(text, fmt).date()  # noqa: DTZ007 (a day, no time)
        except ValueError:
            continue
    return None


# Lazy: translated where they are shown (the preview maps the stored names to these labels).
FIELD_LABELS = {
    "last_name": _lazy("Nom"),
    "first_name": _lazy("Prénom"),
    "full_name": _lazy("Nom"),
    "service": _lazy("Service"),
    "direction": _lazy("Direction"),
    "organisation": _lazy("Organisme"),
    "email": _lazy("Courriel"),
    "status": _lazy("Présence"),
    "remark": _lazy("Remarque"),
    "date": _lazy("Date"),
}
MAX_LENGTHS = {
    "last_name": 150,
    "first_name": 150,
    "service": 150,
    "organisation": 150,
    "email": 254,
    "remark": 200,
}


# A total line: "Total", "TOTAL présents : 23", "Sous-total", "Nombre de présents", "Effectif".
_TOTAL_LINE = re.compile(r"^(sous )?(total|totaux|nombre de presents|nombre d inscrits|effectif)\b")


def total_label(cells: list[Any], mapping: dict[int, str]) -> str | None:
    """The label of a total line (its first non-empty cell), or None for a person's line.

    A line whose first cell reads "Total…" and which carries no e-mail is a count, not a person.
    """
    first = next((_cell_text(c) for c in cells if _cell_text(c)), "")
    if not _TOTAL_LINE.match(normalise_key(first)):
        return None
    for index, name in mapping.items():
        if name == "email" and index < len(cells) and "@" in _cell_text(cells[index]):
            return None
    return first[:60]


def read_row(
    line: int,
    cells: list[Any],
    mapping: dict[int, str],
    session_date: datetime.date | None,
) -> dict[str, Any]:
    """One data row → a dict of clean values, or ``{"error": reason}``.

    Values are plain text whatever their first character: "- arrivée en retard" is a remark,
    not a formula. Outputs neutralise them (``training.outputs.neutralise``).
    """
    raw: dict[str, Any] = {}
    for index, name in mapping.items():
        raw[name] = cells[index] if index < len(cells) else None
    values = {name: _cell_text(value) for name, value in raw.items()}
    last_name = values.get("last_name", "")
    first_name = values.get("first_name", "")
    if not last_name and values.get("full_name"):
        last_name = values["full_name"]
    if not last_name:
        return {"error": _("nom manquant")}
    email = values.get("email", "").lower()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            return {"error": _("adresse électronique invalide")}
    status = "present"
    if "status" in values:
        key = normalise_key(values["status"])
        if not key:
            status = "absent"
        elif key in STATUS_VALUES:
            status = STATUS_VALUES[key]
        else:
            return {
                "error": _(
                    "valeur de présence « %(value)s » non reconnue "
                    "(attendu : oui, non, présent(e), absent(e), excusé(e))"
                )
                % {"value": values["status"][:30]}
            }
    if values.get("date"):
        day = _parse_date(raw["date"])
        if day is None:
            return {"error": _("date illisible (attendu : JJ/MM/AAAA)")}
        if session_date is not None and day != session_date:
            return {"error": _("date différente de celle de la session")}
    row = {
        "line": line,
        "last_name": last_name,
        "first_name": first_name,
        # "Service" first; the broader "Direction" where the service is not given.
        "service": values.get("service", "") or values.get("direction", ""),
        "organisation": values.get("organisation", ""),
        "email": email,
        "status": status,
        "remark": values.get("remark", ""),
    }
    for name, limit in MAX_LENGTHS.items():
        if len(row[name]) > limit:
            return {
                "error": _("colonne « %(col)s » : plus de %(n)s caractères")
                % {"col": FIELD_LABELS[name], "n": limit}
            }
    return row


def match_key(row: dict[str, Any]) -> str:
    """Same person in a file or in the registry: the e-mail, else the normalised name + org."""
    if row["email"]:
        return f"@{row['email']}"
    return f"{normalise_key(row['last_name'] + ' ' + row['first_name'])}|" + normalise_key(
        row["organisation"]
    )


def _collect(
    result: ParseResult,
    numbered_rows: Iterable[tuple[int, list[Any]]],
    mapping: dict[int, str],
    session_date: datetime.date | None,
) -> None:
    first_line: dict[str, tuple[int, str]] = {}
    count = 0
    for line, cells in numbered_rows:
        if all(_cell_text(c) == "" for c in cells):
            result.blank_lines += 1
            continue
        label = total_label(cells, mapping)
        if label is not None:
            result.total_lines.append({"line": line, "label": label})
            continue
        count += 1
        if count > MAX_ROWS:
            raise FileRefused(
                _("Le fichier compte plus de %(n)s lignes : découpez-le.") % {"n": f"{MAX_ROWS:,}"}
            )
        row = read_row(line, cells, mapping, session_date)
        if "error" in row:
            result.rejected.append({"line": line, "reason": str(row["error"])})
            continue
        key = match_key(row)
        if key in first_line:
            first, first_status = first_line[key]
            duplicate: dict[str, Any] = {"line": line, "first_line": first}
            if row["status"] != first_status:
                # Same person, two statuses: the first line counts, and the preview says so.
                duplicate["statuses"] = [first_status, row["status"]]
            result.duplicates.append(duplicate)
            continue
        first_line[key] = (line, row["status"])
        result.rows.append(row)
    if count == 0:
        raise FileRefused(_("Le fichier ne contient aucune ligne de participant."))
    if result.total_lines:
        result.warnings.append(
            ngettext(
                "Ligne %(lines)s : ligne de total, ignorée (ce n'est pas une personne).",
                "Lignes %(lines)s : lignes de total, ignorées (ce ne sont pas des personnes).",
                len(result.total_lines),
            )
            % {"lines": ", ".join(str(t["line"]) for t in result.total_lines)}
        )
    conflicts = [d for d in result.duplicates if "statuses" in d]
    if conflicts:
        result.warnings.append(
            ngettext(
                "%(n)s personne figure deux fois avec des présences différentes : seule la "
                "première ligne compte (voir les doublons en conflit ci-dessous).",
                "%(n)s personnes figurent deux fois avec des présences différentes : seule la "
                "première ligne compte (voir les doublons en conflit ci-dessous).",
                len(conflicts),
            )
            % {"n": len(conflicts)}
        )


# File type -----------------------------------------------------------------------------------


def ods_message() -> str:
    return _("Fichiers LibreOffice : enregistrez au format .xlsx ou .csv.")


def sniff_format(data: bytes, filename: str) -> str:
    """ "csv" or "xlsx", from the content; the extension must agree."""
    name = (filename or "").lower()
    extension = name.rsplit(".", 1)[-1] if "." in name else ""
    if not data:
        raise FileRefused(_("Le fichier est vide."))
    # ODF stores its "mimetype" member first and uncompressed: readable without unzipping.
    if extension in {"ods", "fods", "odt"} or (
        data.startswith(b"PK\x03\x04") and b"application/vnd.oasis.opendocument" in data[:200]
    ):
        raise FileRefused(ods_message())
    if data.startswith(b"PK\x03\x04"):
        kind = "xlsx"
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileRefused(
            _("Ancien format Excel (.xls) : enregistrez le fichier en .xlsx ou en CSV.")
        )
    elif data.startswith(BINARY_MAGIC) or (
        b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff"))
    ):
        raise FileRefused(_("Ce fichier n'est ni un CSV ni un classeur XLSX."))
    else:
        kind = "csv"
    if kind == "csv" and extension not in {"csv", "txt"}:
        raise FileRefused(
            _("Le contenu ne correspond pas à l'extension : envoyez un fichier .csv ou .xlsx.")
        )
    if kind == "xlsx" and extension != "xlsx":
        raise FileRefused(
            _("Le contenu ne correspond pas à l'extension : envoyez un fichier .csv ou .xlsx.")
        )
    return kind


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


def _csv_rows(text: str, delimiter: str) -> Iterator[list[str]]:
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
    _finish_header(result, mapping, unknown, header_cells)
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

    _collect(result, numbered(), mapping, session_date)
    return result


def _finish_header(
    result: ParseResult, mapping: dict[int, str], unknown: list[str], header_cells: list[Any]
) -> None:
    if not has_name_column(mapping):
        read = [str(FIELD_LABELS[name]) for name in mapping.values()] + unknown
        raise FileRefused(
            _("Colonne du nom introuvable (en-têtes lus : %(h)s). Ajoutez une colonne « Nom ».")
            % {"h": ", ".join(h[:40] for h in read) or "—"}
        )
    result.columns = {name: str(FIELD_LABELS[name]) for name in mapping.values()}
    headers = {name: str(header_cells[index]).strip() for index, name in mapping.items()}
    if "service" in headers and "direction" in headers:
        result.warnings.append(
            _(
                "Colonnes « %(service)s » et « %(direction)s » : le service est lu dans "
                "« %(service)s » ; « %(direction)s » ne sert que là où le service est vide."
            )
            % {"service": headers["service"][:40], "direction": headers["direction"][:40]}
        )
    if unknown:
        result.warnings.append(
            _("Colonnes ignorées : %(h)s.") % {"h": ", ".join(f"« {h[:40]} »" for h in unknown)}
        )


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
        # Expat ≥ 2.4.1 (Python 3.11 bundles it) bounds entity expansion and never fetches
        # external entities; openpyxl parses the same parts with the same parser.
        for _event, element in ElementTree.iterparse(stream, events=("end",)):  # noqa: S314
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
    except (InvalidFileException, KeyError, ValueError, OSError, ElementTree.ParseError) as exc:
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
            _finish_header(result, mapping, unknown, header_cells)
            _collect(result, _xlsx_rows(sheet, header_row, scan), mapping, session_date)
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


# Entry point ---------------------------------------------------------------------------------


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
