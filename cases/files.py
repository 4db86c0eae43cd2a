"""Attachments: checked by content, encrypted on disk under a random name, never served directly."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from cmer import archives
from cmer.crypto import decrypt_bytes, encrypt_bytes

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
MAX_ATTACHMENTS_PER_UPLOAD = 10


@dataclass(frozen=True)
class CheckedFile:
    content: bytes
    content_type: str
    display_name: str
    sha256: str


# OpenDocument's ``mimetype`` member is its first, stored, and a few dozen bytes long.
MAX_ODF_MIMETYPE_BYTES = 200


def _zip_kind(content: bytes) -> str | None:
    """The office type of a zip, from its member names (and ODF's ``mimetype``).

    The archive is checked against the caps of ``cmer.archives`` from its directory alone (a
    bomb is refused before anything is decompressed, with its own message); the only member
    read is ``mimetype``, streamed and capped.
    """
    try:
        with archives.open_zip(content) as archive:
            names = set(archive.namelist())
            if "mimetype" in names:
                raw = archives.read_member(archive, "mimetype", MAX_ODF_MIMETYPE_BYTES)
                mimetype = raw.decode("ascii", "replace").strip()
                # Only the types we accept: any other value is refused as an unknown type.
                return mimetype if mimetype in ODF_TYPES else None
            if "[Content_Types].xml" in names:
                if any(n.startswith("word/") for n in names):
                    return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
                if any(n.startswith("xl/") for n in names):
                    return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                if any(n.startswith("ppt/") for n in names):
                    return (
                        "application/vnd.openxmlformats-officedocument.presentationml.presentation"
                    )
    except archives.ArchiveRefused as refused:
        raise ValidationError(str(refused), code="archive") from None
    return None


def sniff_content_type(content: bytes) -> str | None:
    """The real type of a file, from its bytes. The name and the browser's claim are ignored.

    Raises ValidationError for an archive refused by ``cmer.archives`` (a bomb)."""
    head = content[:16]
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "application/msword"  # legacy Office (doc, xls)
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(content)
    return None


ODF_TYPES = {
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
}

EXTENSIONS = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
}


def check_upload(upload: UploadedFile) -> CheckedFile:
    if upload.size is not None and upload.size > MAX_ATTACHMENT_BYTES:
        raise ValidationError(_("Un fichier dépasse 20 Mo."))
    content = upload.read(MAX_ATTACHMENT_BYTES + 1)
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise ValidationError(_("Un fichier dépasse 20 Mo."))
    if not content:
        raise ValidationError(_("Un fichier est vide."))
    content_type = sniff_content_type(content)
    if content_type is None:
        raise ValidationError(
            _(
                "Type de fichier refusé : seuls les PDF, images et documents bureautiques sont "
                "acceptés (le contenu du fichier est vérifié, pas son nom)."
            )
        )
    # Never trust the client's name: keep a short, safe label with the real extension.
    stem = Path(upload.name or "fichier").stem
    safe = "".join(c for c in stem if c.isalnum() or c in " -_")[:80].strip() or "fichier"
    return CheckedFile(
        content=content,
        content_type=content_type,
        display_name=f"{safe}.{EXTENSIONS[content_type]}",
        sha256=hashlib.sha256(content).hexdigest(),
    )


def _root() -> Path:
    root = Path(settings.PRIVATE_STORAGE_ROOT) / "attachments"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


def write_encrypted(content: bytes) -> str:
    name = secrets.token_hex(24)
    path = _root() / name
    with open(path, "xb") as handle:
        handle.write(encrypt_bytes(content))
    path.chmod(0o600)
    return name


def read_decrypted(stored_name: str) -> bytes:
    return decrypt_bytes((_root() / Path(stored_name).name).read_bytes())


def stored_path(stored_name: str) -> Path:
    """Where an attachment's encrypted file is (or was): retention checks it is gone."""
    return _root() / Path(stored_name).name


def delete_stored(*stored_names: str) -> None:
    for stored_name in stored_names:
        (_root() / Path(stored_name).name).unlink(missing_ok=True)


def rewrite_encrypted(stored_name: str, token: bytes) -> None:
    path = _root() / Path(stored_name).name
    temporary = path.with_suffix(".rotating")
    temporary.write_bytes(token)
    temporary.replace(path)


def stored_token(stored_name: str) -> bytes:
    return (_root() / Path(stored_name).name).read_bytes()
