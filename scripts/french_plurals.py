"""Write locale/fr/LC_MESSAGES/django.po: French's own plural rule for the French source strings.

French is the source language, so French pages show the msgids themselves. For a plural, Django
then falls back to English's rule (singular only for 1), which writes "0 personnes formées";
French takes the singular for 0 and 1. This catalogue holds every plural of the sources (taken
from the English catalogue, which ``makemessages`` keeps complete) with the French rule and the
French text unchanged. Run by ``make messages`` before ``compilemessages``; a test checks that it
is complete.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "locale" / "en" / "LC_MESSAGES" / "django.po"
TARGET = ROOT / "locale" / "fr" / "LC_MESSAGES" / "django.po"

HEADER = """# French plural forms of the French source strings (scripts/french_plurals.py).
msgid ""
msgstr ""
"Project-Id-Version: cmer\\n"
"PO-Revision-Date: 2026-01-01 00:00+0000\\n"
"Last-Translator: CMER\\n"
"Language-Team: French\\n"
"MIME-Version: 1.0\\n"
"Content-Type: text/plain; charset=UTF-8\\n"
"Content-Transfer-Encoding: 8bit\\n"
"Language: fr\\n"
"Plural-Forms: nplurals=2; plural=(n > 1);\\n"
"""


def plural_entries(path: Path) -> list[tuple[str | None, str, str]]:
    """(context, msgid, msgid_plural) of every live plural entry of a .po file."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith("#")]
        fields: dict[str, str] = {}
        current = None
        for line in lines:
            if line.startswith('"') and current:
                fields[current] += ast.literal_eval(line)
                continue
            keyword, _, rest = line.partition(" ")
            current = keyword
            fields[keyword] = ast.literal_eval(rest) if rest.startswith('"') else ""
        if "msgid_plural" in fields and fields.get("msgid"):
            entries.append((fields.get("msgctxt"), fields["msgid"], fields["msgid_plural"]))
    return entries


def quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def render(entries: list[tuple[str | None, str, str]]) -> str:
    parts = [HEADER]
    for context, singular, plural in sorted(entries, key=lambda e: (e[1], e[0] or "")):
        flags = "#, python-format\n" if "%(" in singular + plural else ""
        ctx = f"msgctxt {quote(context)}\n" if context else ""
        parts.append(
            f"{flags}{ctx}msgid {quote(singular)}\nmsgid_plural {quote(plural)}\n"
            f"msgstr[0] {quote(singular)}\nmsgstr[1] {quote(plural)}\n"
        )
    return "\n".join(parts)


def main() -> int:
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(render(plural_entries(SOURCE)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
