"""Encryption at rest for identity, facts, notes and attachments, and the keyed blind index.

Keys come from ``FIELD_ENCRYPTION_KEY``: Fernet keys (AES-128-CBC + HMAC-SHA256), comma-separated,
newest first. Values are encrypted with the first key and decrypted with any of them, so a new key
can be put in front and ``manage.py rotate_encryption_key`` re-encrypts everything with it.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

from cmer.text import strip_accents

if TYPE_CHECKING:
    from django.forms import Field as FormField

PREFIX = "enc1:"


@lru_cache(maxsize=4)
def _fernet_for(raw_keys: str) -> MultiFernet:
    keys = [k.strip() for k in raw_keys.split(",") if k.strip()]
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY is empty.")
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY must hold Fernet keys (32 url-safe base64 bytes), "
            "comma-separated, newest first."
        ) from exc


def fernet() -> MultiFernet:
    return _fernet_for(settings.FIELD_ENCRYPTION_KEY)


def encrypt_bytes(data: bytes) -> bytes:
    return fernet().encrypt(data)


def decrypt_bytes(token: bytes) -> bytes:
    return fernet().decrypt(token)


def rotate_bytes(token: bytes) -> bytes:
    return fernet().rotate(token)


def encrypt_text(value: str) -> str:
    return PREFIX + fernet().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt_text(value: str) -> str:
    if not value.startswith(PREFIX):
        raise InvalidToken("not an encrypted value")
    return fernet().decrypt(value[len(PREFIX) :].encode("ascii")).decode("utf-8")


def rotate_text(value: str) -> str:
    if not value or not value.startswith(PREFIX):
        return value
    return PREFIX + fernet().rotate(value[len(PREFIX) :].encode("ascii")).decode("ascii")


class EncryptedTextField(models.TextField):
    """A text column that only ever holds ciphertext. Not searchable, by design.

    The empty string stays empty (a blank optional field), everything else is encrypted.
    ``max_length`` is enforced on the clear text by forms and ``clean()``, not by the column.
    """

    description = "Encrypted text"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt_text(value)

    def to_python(self, value: Any) -> str | None:
        # Python only ever holds clear text: ciphertext is read through ``from_db_value``.
        # Never decrypt here: a user may type anything, "enc1:…" included, and Django calls
        # ``to_python`` on form input (``clean``) and before saving (``get_prep_value``).
        return super().to_python(value)

    def get_prep_value(self, value: Any) -> str | None:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_text(str(value))

    def formfield(self, **kwargs: Any) -> FormField | None:
        from django import forms

        defaults: dict[str, Any] = {"max_length": self.max_length, "widget": forms.Textarea}
        if self.max_length and self.max_length <= 255:
            defaults["widget"] = forms.TextInput
        defaults.update(kwargs)
        return super().formfield(**defaults)


def normalise_name(value: str) -> str:
    """Fold accents, case, punctuation and spaces: "Élodie-Marie  D'ARC" → "elodiemariedarc"."""
    return "".join(char for char in strip_accents(value) if char.isalnum()).casefold()


def blind_index(*parts: str) -> str:
    """Keyed HMAC of normalised parts. Equal people give equal indexes; the index reveals nothing
    without ``BLIND_INDEX_KEY``, which is never stored in the database."""
    message = "|".join(parts).encode("utf-8")
    return hmac.new(settings.BLIND_INDEX_KEY.encode(), message, hashlib.sha256).hexdigest()
