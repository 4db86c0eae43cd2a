"""Bounded reading of uploaded archives (DOCX, XLSX, ODT… are zip files): no decompression bomb.

Every archive-based upload is opened through ``open_zip()``, which refuses it **before anything
is decompressed** when its central directory declares too many members, a member or a whole
larger than the caps, or a member compressed beyond a plausible ratio. The declared sizes are a
real bound: Python's zipfile never yields more than a member's declared size. Members are then
read only through ``read_member()`` (streamed, capped) or parsed from a ``BudgetedReader``,
which stops any parser that runs past a time budget (a slow-to-parse XML part).

Caps come from settings (``UPLOAD_ARCHIVE_*``, ``UPLOAD_PARSE_SECONDS``); messages are French,
fit to show, and never quote a member's content.
"""

from __future__ import annotations

import io
import time
import zipfile
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _

MiB = 1024 * 1024
# Central-directory entry signature: counted in the raw bytes before zipfile parses the
# directory (an entry per signature at most), so that a 20 MB file of empty entries cannot
# cost hundreds of MB of ZipInfo objects.
_CENTRAL_DIRECTORY_ENTRY = b"PK\x01\x02"
# Small members compress well (XML of a few KB at 100:1 is normal): the ratio counts above this.
RATIO_FLOOR = MiB


class ArchiveRefused(Exception):
    """The archive is refused; the message is shown as is."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int
    max_member_bytes: int
    max_total_bytes: int
    max_ratio: int


def limits() -> ArchiveLimits:
    return ArchiveLimits(
        max_members=int(settings.UPLOAD_ARCHIVE_MAX_MEMBERS),
        max_member_bytes=int(settings.UPLOAD_ARCHIVE_MAX_MEMBER_BYTES),
        max_total_bytes=int(settings.UPLOAD_ARCHIVE_MAX_TOTAL_BYTES),
        max_ratio=int(settings.UPLOAD_ARCHIVE_MAX_RATIO),
    )


def _mb(size: int) -> str:
    return f"{size / MiB:.0f}"


def check_declared(archive: zipfile.ZipFile, caps: ArchiveLimits) -> None:
    """Refuse an archive from its central directory alone (nothing decompressed)."""
    infos = archive.infolist()
    if len(infos) > caps.max_members:
        raise ArchiveRefused(
            _("Archive refusée : plus de %(n)s éléments.") % {"n": caps.max_members}
        )
    total = 0
    for info in infos:
        if info.file_size > caps.max_member_bytes:
            raise ArchiveRefused(
                _(
                    "Archive refusée : un élément dépasse %(mb)s Mo une fois décompressé "
                    "(bombe de décompression possible)."
                )
                % {"mb": _mb(caps.max_member_bytes)}
            )
        if info.file_size > RATIO_FLOOR and info.file_size > caps.max_ratio * max(
            info.compress_size, 1
        ):
            raise ArchiveRefused(
                _(
                    "Archive refusée : un élément est compressé plus de %(n)s fois "
                    "(bombe de décompression possible)."
                )
                % {"n": caps.max_ratio}
            )
        total += info.file_size
        if total > caps.max_total_bytes:
            raise ArchiveRefused(
                _(
                    "Archive refusée : son contenu dépasse %(mb)s Mo une fois décompressé "
                    "(bombe de décompression possible)."
                )
                % {"mb": _mb(caps.max_total_bytes)}
            )


def open_zip(
    data: bytes, caps: ArchiveLimits | None = None, *, deadline: Deadline | None = None
) -> zipfile.ZipFile:
    """A ZipFile over ``data`` whose declared members fit the caps; raise ArchiveRefused.

    With ``deadline``, the ZipFile reads through a ``BudgetedReader``: whatever parses its
    members stops at the deadline.
    """
    caps = caps or limits()
    if data.count(_CENTRAL_DIRECTORY_ENTRY) > caps.max_members:
        raise ArchiveRefused(
            _("Archive refusée : plus de %(n)s éléments.") % {"n": caps.max_members}
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ArchiveRefused(_("Archive endommagée ou illisible.")) from exc
    try:
        check_declared(archive, caps)
    except BaseException:
        archive.close()
        raise
    if deadline is None:
        return archive
    archive.close()
    return zipfile.ZipFile(budgeted_reader(data, deadline))


def budgeted_reader(data: bytes, deadline: Deadline) -> BudgetedReader:
    """``data`` (an archive already accepted by ``open_zip``) as a file that stops at the
    deadline, for a parser that opens the archive itself (openpyxl)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members_end = int(archive.start_dir)
    return BudgetedReader(data, deadline, members_end)


def read_member(archive: zipfile.ZipFile, name: str, max_bytes: int) -> bytes:
    """A member's bytes, streamed, refused beyond ``max_bytes`` (declared or actual)."""
    try:
        info = archive.getinfo(name)
    except KeyError as exc:
        raise ArchiveRefused(_("Archive incomplète.")) from exc
    if info.file_size > max_bytes:
        raise ArchiveRefused(_("Archive refusée : un élément attendu court est trop long."))
    chunks: list[bytes] = []
    read = 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(64 * 1024):
                read += len(chunk)
                if read > max_bytes:
                    raise ArchiveRefused(
                        _("Archive refusée : un élément attendu court est trop long.")
                    )
                chunks.append(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise ArchiveRefused(_("Archive endommagée ou illisible.")) from exc
    return b"".join(chunks)


class Deadline:
    """A time budget shared by everything that reads one upload."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.ends:
            raise ArchiveRefused(
                _(
                    "Fichier trop long à lire (plus de %(s)s secondes) : enregistrez-le à "
                    "nouveau depuis votre tableur, sans commentaires ni mise en forme inutile."
                )
                % {"s": f"{self.seconds:g}"}
            )


class BudgetedReader(io.BytesIO):
    """The uploaded bytes as a file that refuses to be read past a deadline.

    A zip member is decompressed as its parser asks for more, and every request for more reads
    compressed bytes from here: an XML part that is slow to parse (a huge comment, deep
    nesting) is stopped within a read or two after the budget, wherever the parser is.
    """

    STEP = 1024

    def __init__(self, data: bytes, deadline: Deadline, members_end: int) -> None:
        super().__init__(data)
        self.deadline = deadline
        # Where compressed member data ends (the central directory starts).
        self.members_end = members_end

    def read(self, size: int | None = -1) -> bytes:
        self.deadline.check()
        if size is not None and size > self.STEP and self.tell() < self.members_end:
            # Compressed data is read in short steps (zipfile accepts short reads there): at
            # deflate's ~1000:1 at most, one check per MB decompressed, so a parser overshoots
            # the budget by a fraction of a second. Directory reads stay whole.
            size = self.STEP
        return super().read(size)


def parse_deadline() -> Deadline:
    return Deadline(float(settings.UPLOAD_PARSE_SECONDS))
