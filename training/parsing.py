"""Reading attendance files as town halls really have them: CSV from Excel, or XLSX.

Pure functions (no database): ``parse_attendance(data, filename, session_date)`` returns the rows
understood, the rows rejected with their line number and reason, the duplicates, and warnings —
or a file-level error. Nothing here writes anything.

- CSV: semicolon, comma or tab; UTF-8 with or without BOM, UTF-16 with BOM, or Windows-1252.
- XLSX: openpyxl in read-only mode; the first sheet whose first rows hold a recognisable header;
  formulas are refused, merged header cells are refused.
- Headers in French or English, any order, any case, with or without accents.
- The type is read from the content, not the name: a PDF renamed ``.csv`` is refused.
"""

from __future__ import annotations

import csv
import datetime
import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from cmer import archives

from .normalise import normalise_key

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
# A header is looked for in the first rows (a title or a logo line often comes first).
HEADER_SEARCH_ROWS = 10
# Zip bombs: the caps of cmer.archives (members, sizes, ratio) apply, and an XLSX part loaded
# whole by openpyxl (shared strings) is held to this: 20,000 rows of names fit in far less.
MAX_SHARED_STRINGS_BYTES = 8 * 1024 * 1024
FORMULA_PREFIXES = ("=", "+", "-", "@")
# PDF, PNG, JPEG, GIF, gzip, 7z, RAR, ELF, PE: refused whatever the extension says.
BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b", b"7z\xbc\xaf")
BINARY_MAGIC += (b"Rar!", b"\x7fELF")

FIELDS = ("last_name", "first_name", "full_name", "service", "organisation", "email")
FIELDS += ("status", "remark", "date")

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
        "direction",
        "service direction",
        "direction service",
        "pole",
        "service pole",
        "department",
    ],
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
    "present": ["oui", "o", "yes", "y", "x", "1", "true", "vrai", "present", "presente", "p"],
    "absent": ["non", "n", "no", "0", "false", "faux", "absent", "absente", "a"],
    "excused": ["excuse", "excusee", "excused", "exc", "e", "absent excuse", "absente excusee"],
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
    duplicates: list[dict[str, Any]] = field(default_factory=list)
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


def read_row(
    line: int,
    cells: list[Any],
    mapping: dict[int, str],
    session_date: datetime.date | None,
    formula_cells: set[int] | None = None,
) -> dict[str, Any]:
    """One data row → a dict of clean values, or ``{"error": reason}``."""
    raw: dict[str, Any] = {}
    for index, name in mapping.items():
        raw[name] = cells[index] if index < len(cells) else None
        if formula_cells and index in formula_cells:
            return {
                "error": _("colonne « %(col)s » : formule refusée, collez la valeur seule")
                % {"col": FIELD_LABELS[name]}
            }
    values = {name: _cell_text(value) for name, value in raw.items()}
    for name, text in values.items():
        if text.startswith(FORMULA_PREFIXES):
            return {
                "error": _(
                    "colonne « %(col)s » : une cellule ne peut commencer par = + - ou @ "
                    "(risque de formule) ; retirez ce caractère"
                )
                % {"col": FIELD_LABELS[name]}
            }
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
            return {"error": _("valeur de présence non reconnue (attendu : oui, non, excusé)")}
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
        "service": values.get("service", ""),
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
    numbered_rows: Iterable[tuple[int, list[Any], set[int] | None]],
    mapping: dict[int, str],
    session_date: datetime.date | None,
) -> None:
    first_line: dict[str, int] = {}
    count = 0
    for line, cells, formula_cells in numbered_rows:
        if all(_cell_text(c) == "" for c in cells):
            result.blank_lines += 1
            continue
        count += 1
        if count > MAX_ROWS:
            raise FileRefused(
                _("Le fichier compte plus de %(n)s lignes : découpez-le.") % {"n": f"{MAX_ROWS:,}"}
            )
        row = read_row(line, cells, mapping, session_date, formula_cells)
        if "error" in row:
            result.rejected.append({"line": line, "reason": str(row["error"])})
            continue
        key = match_key(row)
        if key in first_line:
            result.duplicates.append({"line": line, "first_line": first_line[key]})
            continue
        first_line[key] = line
        result.rows.append(row)
    if count == 0:
        raise FileRefused(_("Le fichier ne contient aucune ligne de participant."))


# File type -----------------------------------------------------------------------------------


def sniff_format(data: bytes, filename: str) -> str:
    """ "csv" or "xlsx", from the content; the extension must agree."""
    name = (filename or "").lower()
    extension = name.rsplit(".", 1)[-1] if "." in name else ""
    if not data:
        raise FileRefused(_("Le fichier est vide."))
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
    best: tuple[int, str, int, dict[int, str], list[str]] | None = None
    for delimiter in (";", ",", "\t"):
        try:
            for index, cells in enumerate(_csv_rows(text, delimiter)):
                if index >= HEADER_SEARCH_ROWS:
                    break
                if not any(c.strip() for c in cells):
                    continue
                mapping, unknown = map_header(cells)
                if mapping and (best is None or len(mapping) > best[0]):
                    best = (len(mapping), delimiter, index, mapping, unknown)
                if mapping:
                    break
        except csv.Error as exc:
            raise FileRefused(_("Fichier CSV illisible : %(e)s") % {"e": exc}) from exc
    if best is None:
        raise FileRefused(
            _(
                "Aucune en-tête reconnue. Colonnes attendues : Nom, Prénom, Service ou Direction, "
                "Organisme, Courriel, Présent."
            )
        )
    _n, delimiter, header_index, mapping, unknown = best
    result = ParseResult(file_format="csv")
    _finish_header(result, mapping, unknown)
    reader = _csv_rows(text, delimiter)

    def numbered() -> Iterator[tuple[int, list[Any], set[int] | None]]:
        try:
            for index, cells in enumerate(reader):
                if index > header_index:
                    # csv line numbers: reader.line_num counts physical lines (quoted newlines).
                    yield reader.line_num, cells, None
        except csv.Error as exc:
            raise FileRefused(
                _("Fichier CSV illisible ligne %(n)s.") % {"n": reader.line_num}
            ) from exc

    _collect(result, numbered(), mapping, session_date)
    return result


def _finish_header(result: ParseResult, mapping: dict[int, str], unknown: list[str]) -> None:
    if not has_name_column(mapping):
        read = [str(FIELD_LABELS[name]) for name in mapping.values()] + unknown
        raise FileRefused(
            _("Colonne du nom introuvable (en-têtes lus : %(h)s). Ajoutez une colonne « Nom ».")
            % {"h": ", ".join(h[:40] for h in read) or "—"}
        )
    result.columns = {name: str(FIELD_LABELS[name]) for name in mapping.values()}
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


def _merged_ranges(archive: zipfile.ZipFile, worksheet_path: str) -> list[tuple[int, int]]:
    """Row spans (min_row, max_row) of merged cells, read from the sheet XML (read-only mode
    of openpyxl does not expose them)."""
    from openpyxl.utils.cell import range_boundaries

    spans = []
    with archive.open(worksheet_path) as stream:
        # Expat ≥ 2.4.1 (Python 3.11 bundles it) bounds entity expansion and never fetches
        # external entities; openpyxl parses the same parts with the same parser.
        for _event, element in ElementTree.iterparse(stream, events=("end",)):  # noqa: S314
            if element.tag == f"{_MAIN_NS}mergeCell":
                ref = element.get("ref", "")
                try:
                    _c1, r1, _c2, r2 = range_boundaries(ref)
                except (ValueError, TypeError):
                    continue
                spans.append((r1, r2))
            elif element.tag == f"{_MAIN_NS}row":
                element.clear()
    return spans


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
        workbook = openpyxl.load_workbook(
            archives.budgeted_reader(data, deadline),
            read_only=True,
            data_only=False,
            keep_links=False,
        )
    except (InvalidFileException, KeyError, ValueError, OSError, ElementTree.ParseError) as exc:
        raise FileRefused(_("Classeur XLSX endommagé ou illisible.")) from exc
    try:
        for sheet in workbook.worksheets:
            found = _find_header(sheet)
            if found is None:
                continue
            first_row, header_row, mapping, unknown = found
            result = ParseResult(file_format="xlsx", sheet=str(sheet.title)[:100])
            spans = _merged_ranges(archive, sheet._worksheet_path)
            # A merged title above the header is fine; a merge in the header (or in a header
            # spread over several rows) would shift or hide columns.
            if any(r1 <= header_row and r2 >= first_row for r1, r2 in spans):
                raise FileRefused(
                    _(
                        "Cellules fusionnées dans la ligne d'en-tête (feuille « %(s)s ») : "
                        "défusionnez-les, une colonne par information."
                    )
                    % {"s": result.sheet}
                )
            _finish_header(result, mapping, unknown)
            _collect(result, _xlsx_rows(sheet, header_row), mapping, session_date)
            if len(workbook.worksheets) > 1:
                result.warnings.append(
                    _("Feuille lue : « %(s)s » ; les autres feuilles sont ignorées.")
                    % {"s": result.sheet}
                )
            return result
    finally:
        workbook.close()
    raise FileRefused(
        _(
            "Aucune feuille ne contient d'en-tête reconnue. Colonnes attendues : Nom, Prénom, "
            "Service ou Direction, Organisme, Courriel, Présent."
        )
    )


def _find_header(sheet: Any) -> tuple[int, int, dict[int, str], list[str]] | None:
    """(first row naming any known column, header row, mapping, unknown headers)."""
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
            return first_row or row_number, row_number, mapping, unknown
    return None


def _xlsx_rows(sheet: Any, header_row: int) -> Iterator[tuple[int, list[Any], set[int] | None]]:
    # Read-only mode yields every row from min_row on, gaps included: enumerate gives the line.
    for line, row in enumerate(sheet.iter_rows(min_row=header_row + 1), start=header_row + 1):
        values = []
        formulas: set[int] = set()
        for index, cell in enumerate(row):
            if getattr(cell, "data_type", None) == "f":
                formulas.add(index)
            values.append(getattr(cell, "value", None))
        yield line, values, formulas or None


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
