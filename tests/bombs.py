"""Decompression bombs, built at run time (never committed), and a cost meter for the tests.

Each bomb is a small upload (a few hundred KB) that declares or holds a huge member; written in
1 MiB chunks so that building one does not itself need the huge size in memory.
"""

from __future__ import annotations

import io
import re
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MiB = 1024 * 1024


def _write_stream(archive: zipfile.ZipFile, name: str, chunks: Iterable[bytes]) -> None:
    info = zipfile.ZipInfo(name, date_time=(2026, 11, 30, 12, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w", force_zip64=False) as member:
        for chunk in chunks:
            member.write(chunk)


def _repeat(byte: bytes, size: int) -> Iterable[bytes]:
    block = byte * MiB
    full, rest = divmod(size, MiB)
    for _ in range(full):
        yield block
    if rest:
        yield byte * rest


def zip_bomb(size: int = 200 * MiB, *, name: str = "word/media/image1.bin") -> bytes:
    """A DOCX-shaped zip with one member of ``size`` identical bytes (~1000:1)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        _write_stream(archive, name, _repeat(b"\0", size))
    return buffer.getvalue()


def docx_with_huge_document(size: int = 200 * MiB) -> bytes:
    """A DOCX whose word/document.xml expands to ``size`` bytes of XML."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        head = b'<?xml version="1.0"?><w:document><w:body><w:p><w:r><w:t>'
        tail = b"</w:t></w:r></w:p></w:body></w:document>"
        _write_stream(
            archive,
            "word/document.xml",
            [head, *_repeat(b"A", size - len(head) - len(tail)), tail],
        )
    return buffer.getvalue()


def odt_with_mimetype(size: int, *, stored: bool = False) -> bytes:
    """An ODT whose ``mimetype`` member is ``size`` bytes long (the type, then padding)."""
    buffer = io.BytesIO()
    body = b"application/vnd.oasis.opendocument.text"
    with zipfile.ZipFile(buffer, "w") as archive:
        if stored:
            archive.writestr(
                "mimetype", body + b"A" * (size - len(body)), compress_type=zipfile.ZIP_STORED
            )
        else:
            _write_stream(archive, "mimetype", [body, *_repeat(b"A", size - len(body))])
        archive.writestr("content.xml", "<office:document-content/>")
    return buffer.getvalue()


def many_members(count: int = 5000) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        for index in range(count):
            archive.writestr(f"word/p{index}.xml", b"")
    return buffer.getvalue()


def xlsx_with_comment(size: int = 180 * MiB, rows: Iterable[list[Any]] = ()) -> bytes:
    """A valid workbook (openpyxl) whose sheet holds an XML comment of ``size`` bytes."""
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Nom", "Prénom", "Présent"])
    for row in rows or [["Durand", "Léa", "oui"]]:
        sheet.append(row)
    plain = io.BytesIO()
    workbook.save(plain)
    source = zipfile.ZipFile(io.BytesIO(plain.getvalue()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            content = source.read(info)
            if info.filename != "xl/worksheets/sheet1.xml":
                archive.writestr(info.filename, content)
                continue
            before, after = content.split(b"<sheetData", 1)
            _write_stream(
                archive,
                info.filename,
                [before, b"<!--", *_repeat(b"a", size), b"-->", b"<sheetData", after],
            )
    return buffer.getvalue()


@dataclass
class Cost:
    seconds: float
    peak_bytes: int
    how: str


def _rss_kib() -> tuple[int, int]:
    """(peak, current) resident memory of this process, from /proc (Linux)."""
    status = Path("/proc/self/status").read_text()
    peak = re.search(r"VmHWM:\s+(\d+)", status)
    current = re.search(r"VmRSS:\s+(\d+)", status)
    if peak is None or current is None:
        raise OSError("no VmHWM")
    return int(peak.group(1)), int(current.group(1))


def measure(action: Callable[[], Any]) -> tuple[Any, Cost]:
    """Run ``action``: its result, wall time, and how much the process grew meanwhile.

    On Linux the peak resident memory is reset first (``clear_refs``), so the growth counts
    everything — zlib buffers and parser memory included — at no cost to the timing.
    Elsewhere, tracemalloc's peak of Python allocations (slower: timing includes its cost).
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
        _peak, before = _rss_kib()
    except OSError:
        return _measure_tracemalloc(action)
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    peak, _current = _rss_kib()
    return result, Cost(seconds=seconds, peak_bytes=(peak - before) * 1024, how="rss")


def _measure_tracemalloc(action: Callable[[], Any]) -> tuple[Any, Cost]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        started = time.perf_counter()
        result = action()
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    return result, Cost(seconds=seconds, peak_bytes=peak, how="tracemalloc")
