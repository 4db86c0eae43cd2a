"""The header tables: which written header means which field, which written value means which
attendance status, and how a header row is recognised."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from ..normalise import normalise_key
from .result import FileRefused, ParseResult

# A header is looked for in the first rows: exports from HR software put a title, the session's
# details and a logo block first (a real one had its header on line 14).
HEADER_SEARCH_ROWS = 30

FIELDS: tuple[str, ...] = (
    "last_name",
    "first_name",
    "full_name",
    "service",
    "direction",
    "organisation",
)
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


def finish_header(
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
