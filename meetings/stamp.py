"""The reader's stamp on the minutes PDF: a slot reserved at render time, filled at download.

Every downloaded copy carries "Exemplaire nominatif de <reader> — téléchargé le <date>" at the
foot of every page, over the stored PDF (never re-rendered). Rewriting the PDF with pypdf for
each download made the copy lose its PDF/A conformance (an unembedded Helvetica, a new
producer) and cost memory in proportion to the pages. So the work is split:

- **At render time** (``StampSlot``, a WeasyPrint *finisher*, run once in the worker): the PDF
  gets one embedded TrueType font (DejaVu Sans, subset to the WinAnsi characters, widths taken
  from the font program), one tiny ``q`` stream and one uncompressed **slot** stream of
  ``SLOT_SIZE`` bytes that holds only a comment; each page's ``/Contents`` becomes
  ``[q, page, slot]`` and the shared resources name the font. The stored PDF/A is therefore
  conformant as WeasyPrint wrote it, slot included (the slot draws nothing).
- **At download** (``StampedFile``): the stored bytes are streamed in blocks, and the slot's
  bytes are replaced by the reader's stamp, padded with spaces to the same length. Nothing else
  changes — not an offset, not the cross-reference table, not the XMP metadata or the file
  identifier — so the copy is exactly as conformant as the original, its only new content uses
  the embedded font and an opaque DeviceRGB colour under the sRGB output intent, and the memory
  used is one block whatever the number of pages. The copy has no earlier revision to fall back
  to (not an incremental update): cutting the file does not remove the name.

The stored file's SHA-256 is checked before a copy is served (``verify``): one more read in
blocks, so a file changed on disk is never handed out under the minutes' name.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import secrets
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

# Fixed size of the slot: enough for a 120-character name, the date and the operators even if
# every character needs escaping; the reader's stamp is padded to it with spaces.
SLOT_SIZE = 1024
MARKER = b"%CMER-STAMP-SLOT "
FONT_NAME = "CMERStamp"
# Candidate locations of DejaVu Sans (Debian's fonts-dejavu-core, installed by the Dockerfile
# and already needed by WeasyPrint's fallback).
FONT_FILES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
)
# Where the stamp is drawn, in default user space (points from the bottom-left corner): under
# the page's footer line, which WeasyPrint places in the 22 mm bottom margin.
STAMP_X, STAMP_Y, STAMP_SIZE = 28, 12, 7
MAX_NAME_CHARS = 120
BLOCK_SIZE = 64 * 1024
# Letters that Unicode does not decompose to a base letter (NFKD leaves them whole).
UNDECOMPOSED = {"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "ı": "i"}


@functools.cache
def winansi_codes() -> dict[int, str]:
    """WinAnsiEncoding's printable codes (PDF's standard encoding for simple fonts)."""
    codes = {}
    for code in range(32, 256):
        try:
            char = bytes([code]).decode("cp1252")
        except UnicodeDecodeError:
            continue
        if unicodedata.category(char) != "Cc":
            codes[code] = char
    return codes


@dataclass(frozen=True)
class StampFont:
    program: bytes  # the subset TrueType font, embedded as /FontFile2
    compressed: bytes  # the same, deflated once per process rather than at every render
    widths: tuple[int, ...]  # /Widths for codes 32..255, in 1/1000 em
    supported: frozenset[int]  # codes the program has a glyph for
    bbox: tuple[int, int, int, int]
    ascent: int
    descent: int
    cap_height: int


def _font_file() -> Path:
    for path in FONT_FILES:
        if path.is_file():
            return path
    raise FileNotFoundError("DejaVu Sans (fonts-dejavu-core) is needed to stamp the minutes PDF")


@functools.cache
def stamp_font() -> StampFont:
    """DejaVu Sans subset to WinAnsi, once per process (about 0.1 s; cached)."""
    from fontTools.subset import Options, Subsetter
    from fontTools.ttLib import TTFont

    # fontTools reports each subsetting step at INFO: not worth a worker log line.
    logging.getLogger("fontTools.subset").setLevel(logging.WARNING)
    font = TTFont(str(_font_file()))
    cmap = font.getBestCmap()
    wanted = {code: char for code, char in winansi_codes().items() if ord(char) in cmap}
    options = Options()
    options.hinting = False
    options.layout_features = []
    options.notdef_outline = True
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "kern", "FFTM", "MATH"]
    subsetter = Subsetter(options)
    subsetter.populate(unicodes=[ord(char) for char in wanted.values()])
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.save(buffer)
    program = buffer.getvalue()

    # Widths from the embedded program itself (PDF/A: dictionary and program must agree).
    font = TTFont(io.BytesIO(program))
    cmap = font.getBestCmap()
    scale = 1000 / font["head"].unitsPerEm
    hmtx = font["hmtx"]
    widths = tuple(
        round(hmtx[cmap[ord(wanted[code])]][0] * scale) if code in wanted else 0
        for code in range(32, 256)
    )
    head, os2 = font["head"], font["OS/2"]
    return StampFont(
        program=program,
        compressed=zlib.compress(program, 9),
        widths=widths,
        supported=frozenset(wanted),
        bbox=tuple(round(v * scale) for v in (head.xMin, head.yMin, head.xMax, head.yMax)),
        ascent=round(os2.sTypoAscender * scale),
        descent=round(os2.sTypoDescender * scale),
        cap_height=round(getattr(os2, "sCapHeight", os2.sTypoAscender) * scale),
    )


class StampSlot:
    """WeasyPrint finisher: embed the stamp font and reserve the slot on every page.

    ``marker`` is unique per render, so that ``locate()`` finds this slot and nothing else.
    """

    def __init__(self) -> None:
        self.marker = MARKER + secrets.token_hex(12).encode()

    def __call__(self, document: Any, pdf: Any) -> None:
        import pydyf

        font = stamp_font()
        program = pydyf.Stream(
            [font.compressed], {"Filter": "/FlateDecode", "Length1": len(font.program)}
        )
        pdf.add_object(program)
        descriptor = pydyf.Dictionary(
            {
                "Type": "/FontDescriptor",
                # Six capital letters and "+": the PDF convention for an embedded subset.
                "FontName": "/CMERST+DejaVuSans",
                "Flags": 32,  # non-symbolic: WinAnsi maps through the font's (3,1) cmap
                "FontBBox": pydyf.Array(font.bbox),
                "ItalicAngle": 0,
                "Ascent": font.ascent,
                "Descent": font.descent,
                "CapHeight": font.cap_height,
                "StemV": 80,
                "FontFile2": program.reference,
            }
        )
        pdf.add_object(descriptor)
        font_dict = pydyf.Dictionary(
            {
                "Type": "/Font",
                "Subtype": "/TrueType",
                "BaseFont": "/CMERST+DejaVuSans",
                "FirstChar": 32,
                "LastChar": 255,
                "Widths": pydyf.Array(font.widths),
                "Encoding": "/WinAnsiEncoding",
                "FontDescriptor": descriptor.reference,
            }
        )
        pdf.add_object(font_dict)
        save = pydyf.Stream([b"q"])
        pdf.add_object(save)
        # Uncompressed on purpose: its bytes are replaced in place at download.
        slot = pydyf.Stream([b"Q\n" + self.marker.ljust(SLOT_SIZE, b" ")])
        pdf.add_object(slot)

        done: set[int] = set()
        for number in pdf.pages["Kids"][::3]:
            page = pdf.objects[number]
            resources = _resolve(pdf, page.get("Resources"))
            if resources is None:
                resources = pydyf.Dictionary({})
                page["Resources"] = resources
            if id(resources) not in done:
                fonts = _resolve(pdf, resources.get("Font"))
                if fonts is None:
                    fonts = pydyf.Dictionary({})
                    resources["Font"] = fonts
                fonts[FONT_NAME] = font_dict.reference
                done.add(id(resources))
            contents = page.get("Contents")
            parts = list(contents) if isinstance(contents, list) else [contents]
            page["Contents"] = pydyf.Array(
                [save.reference, *[p for p in parts if p is not None], slot.reference]
            )

    def locate(self, data: bytes) -> int:
        """Offset of the slot in the written PDF (exactly one occurrence)."""
        offset = data.find(self.marker)
        if offset < 0 or data.find(self.marker, offset + 1) >= 0:
            raise ValueError("stamp slot not found once in the rendered PDF")
        return offset


def _resolve(pdf: Any, value: Any) -> Any:
    """A pydyf reference (``b"5 0 R"``) to its object; anything else unchanged."""
    if isinstance(value, bytes) and value.endswith(b" R"):
        return pdf.objects[int(value.split()[0])]
    return value


def _code(char: str, supported: frozenset[int]) -> int | None:
    if len(char) != 1:
        return None
    try:
        code = char.encode("cp1252")[0]
    except UnicodeEncodeError:
        return None
    return code if code in supported else None


def _encode(text: str) -> bytes:
    """``text`` in WinAnsi, as a PDF literal string. A character the font lacks becomes its
    unaccented letter when there is one (ő → o, Ł → L), else "?"."""
    # Every WinAnsi character: the embedded subset holds them all (DejaVu Sans covers WinAnsi,
    # tested), so a download needs no font file and never pays for the subsetting.
    supported = frozenset(winansi_codes())
    out = bytearray()
    for char in text:
        code = _code(char, supported)
        if code is None:
            base = UNDECOMPOSED.get(char) or "".join(
                c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
            )
            code = _code(base, supported)
        out.append(ord("?") if code is None else code)
    escaped = bytes(out).replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    return b"(" + escaped + b")"


def stamp_content(text: str) -> bytes:
    """What the slot holds for one reader: ``SLOT_SIZE`` bytes, padded with spaces.

    The slot follows the page's content, after a ``Q`` that restores the page's initial
    graphics state (the ``q`` stream precedes the page), so the stamp is drawn in default user
    space whatever the page did. Opaque grey text in the embedded font: no transparency.
    """
    content = (
        b"q BT /"
        + FONT_NAME.encode()
        + f" {STAMP_SIZE} Tf 0.3 0.3 0.3 rg 1 0 0 1 {STAMP_X} {STAMP_Y} Tm ".encode()
        + _encode(text)
        + b" Tj ET Q"
    )
    if len(content) > SLOT_SIZE:
        raise ValueError("stamp text too long for the slot")
    return content.ljust(SLOT_SIZE, b" ")


def clip_name(name: str) -> str:
    return name if len(name) <= MAX_NAME_CHARS else name[: MAX_NAME_CHARS - 1] + "…"


class StampedFile(io.RawIOBase):
    """The stored PDF read in blocks, with the slot's bytes replaced by ``replacement``.

    Same length as the stored file; memory is one block, whatever the number of pages.
    """

    def __init__(self, raw: IO[bytes], offset: int, replacement: bytes) -> None:
        super().__init__()
        self._raw = raw
        self._offset = offset
        self._replacement = replacement
        self._position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk: bytes | bytearray = self._raw.read(len(buffer))
        size = len(chunk)
        if not size:
            return 0
        start, end = self._position, self._position + size
        slot_start, slot_end = self._offset, self._offset + len(self._replacement)
        if start < slot_end and end > slot_start:
            chunk = bytearray(chunk)
            lo, hi = max(start, slot_start), min(end, slot_end)
            chunk[lo - start : hi - start] = self._replacement[lo - slot_start : hi - slot_start]
        buffer[:size] = chunk
        self._position = end
        return size

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def verify(raw: IO[bytes], sha256: str, offset: int) -> bool:
    """The stored bytes still match their SHA-256 and hold an untouched slot at ``offset``.
    Reads in blocks and rewinds ``raw``."""
    digest = hashlib.sha256()
    for block in iter(lambda: raw.read(BLOCK_SIZE), b""):
        digest.update(block)
    ok = digest.hexdigest() == sha256
    if ok:
        raw.seek(offset)
        ok = raw.read(len(MARKER)) == MARKER
    raw.seek(0)
    return ok
