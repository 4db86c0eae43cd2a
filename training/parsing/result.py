"""What reading a file gives: the rows, or a refusal of the whole file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000


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
