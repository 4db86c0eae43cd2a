"""Data rows: one line of cells into clean values or a reason, totals, duplicates, limits."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..normalise import normalise_key
from .headers import FIELD_LABELS, STATUS_VALUES
from .result import MAX_ROWS, FileRefused, ParseResult

# Cells ---------------------------------------------------------------------------------------


def cell_text(value: Any) -> str:
    if value.__class__ is str:  # nearly every cell: the shortest way
        if "\r" in value or "\n" in value:
            value = value.replace("\r", " ").replace("\n", " ")
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return str(value).replace("\r", " ").replace("\n", " ").strip()


def parse_date(value: Any) -> datetime.date | None:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    text = cell_text(value)
    for fmt in ("%d/%m/%Y", "%Y-%m-%d", "%d/%m/%y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.datetime.strptime(text, fmt).date()  # noqa: DTZ007 (a day, no time)
        except ValueError:
            continue
    return None


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


def total_label(
    cells: list[Any], mapping: dict[int, str], texts: list[str] | None = None
) -> str | None:
    """The label of a total line (its first non-empty cell), or None for a person's line.

    A line whose first cell reads "Total…" and which carries no e-mail is a count, not a person.
    ``texts``: the cells' ``cell_text``, when the caller has them already.
    """
    if texts is None:
        texts = [cell_text(c) for c in cells]
    first = next((text for text in texts if text), "")
    if not _TOTAL_LINE.match(normalise_key(first)):
        return None
    for index, name in mapping.items():
        if name == "email" and index < len(texts) and "@" in texts[index]:
            return None
    return first[:60]


def read_row(
    line: int,
    cells: list[Any],
    mapping: dict[int, str],
    session_date: datetime.date | None,
    texts: list[str] | None = None,
) -> dict[str, Any]:
    """One data row → a dict of clean values, or ``{"error": reason}``.

    Values are plain text whatever their first character: "- arrivée en retard" is a remark,
    not a formula. Outputs neutralise them (``training.outputs.neutralise``). ``texts``: the
    cells' ``cell_text``, when the caller has them already.
    """
    if texts is None:
        texts = [cell_text(c) for c in cells]
    width = len(texts)
    values = {name: texts[index] if index < width else "" for index, name in mapping.items()}
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
        day = parse_date(next(cells[i] for i, name in mapping.items() if name == "date"))
        if day is None:
            return {"error": _("date illisible (attendu : JJ/MM/AAAA)")}
        if session_date is not None and day != session_date:
            return {"error": _("date différente de celle de la session")}
    row: dict[str, Any] = {
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


def collect_rows(
    result: ParseResult,
    numbered_rows: Iterable[tuple[int, list[Any]]],
    mapping: dict[int, str],
    session_date: datetime.date | None,
) -> None:
    first_line: dict[str, tuple[int, str]] = {}
    count = 0
    for line, cells in numbered_rows:
        texts = [cell_text(c) for c in cells]
        if not any(texts):
            result.blank_lines += 1
            continue
        label = total_label(cells, mapping, texts)
        if label is not None:
            result.total_lines.append({"line": line, "label": label})
            continue
        count += 1
        if count > MAX_ROWS:
            raise FileRefused(
                _("Le fichier compte plus de %(n)s lignes : découpez-le.")
                % {"n": number_format(MAX_ROWS, force_grouping=True)}
            )
        row = read_row(line, cells, mapping, session_date, texts)
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
