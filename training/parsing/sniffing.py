"""The file's type, read from its content; the extension must agree."""

from __future__ import annotations

from django.utils.translation import gettext as _

from .result import FileRefused

# PDF, PNG, JPEG, GIF, gzip, 7z, RAR, ELF, PE: refused whatever the extension says.
BINARY_MAGIC: tuple[bytes, ...] = (
    b"%PDF",
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF8",
    b"\x1f\x8b",
    b"7z\xbc\xaf",
)
BINARY_MAGIC += (b"Rar!", b"\x7fELF")


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
