"""Request-field checks at the gRPC boundary.

Each function takes the raw value of one request field and returns the typed value the
domain uses, or raises INVALID_ARGUMENT naming the field. Nothing past the servicer sees
an unchecked string.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from wasteland_common import errors

# DoltHub owner / database / org names and rig handles share this shape.
_HANDLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# Ids we did not mint ourselves (wasteland ids from other callers, town ids, user ids).
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}")
NAME_MAX = 100
TOKEN_MAX = 1024
TRUST_MIN = 0
TRUST_MAX = 3


@dataclass(frozen=True)
class UpstreamRef:
    """A DoltHub database, ``owner/db``."""

    owner: str
    database: str

    def __str__(self) -> str:
        return f"{self.owner}/{self.database}"


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text)


def name(value: str, field: str = "name") -> str:
    """A display name: trimmed, 1..100 characters, no control characters."""
    trimmed = value.strip()
    if not trimmed:
        raise errors.invalid(field, "required")
    if len(trimmed) > NAME_MAX:
        raise errors.invalid(field, f"at most {NAME_MAX} characters")
    if _has_control(trimmed):
        raise errors.invalid(field, "must not contain control characters")
    return trimmed


def handle(value: str, field: str) -> str:
    """A DoltHub name or rig handle (letters, digits, ``_`` and ``-``; 1..64 characters)."""
    if not value:
        raise errors.invalid(field, "required")
    if not _HANDLE.fullmatch(value):
        raise errors.invalid(
            field, "1-64 letters, digits, '_' or '-', starting with a letter or digit"
        )
    return value


def optional_handle(value: str, field: str) -> str | None:
    """Like :func:`handle`, but an empty value means "not given"."""
    return handle(value, field) if value else None


def upstream(value: str, field: str = "upstream") -> UpstreamRef:
    """A DoltHub ``owner/db`` reference."""
    owner, sep, database = value.partition("/")
    if not sep or not _HANDLE.fullmatch(owner) or not _HANDLE.fullmatch(database):
        raise errors.invalid(field, "must be a DoltHub database 'owner/db'")
    return UpstreamRef(owner, database)


def identifier(value: str, field: str) -> str:
    """An opaque id (wasteland id, user id, org id, town id)."""
    if not value:
        raise errors.invalid(field, "required")
    if not _ID.fullmatch(value):
        raise errors.invalid(field, "not a valid id")
    return value


def user_id(value: str, field: str = "user_id") -> str:
    """A Kilo user id as the JWT carries it: 1..200 printable characters, no spaces."""
    if not value:
        raise errors.invalid(field, "required")
    if len(value) > 200 or any(ch.isspace() for ch in value) or _has_control(value):
        raise errors.invalid(field, "not a valid user id")
    return value


def email(value: str, field: str = "owner_email") -> str:
    """A plausible e-mail address (one ``@``, no spaces, at most 254 characters)."""
    if not value:
        raise errors.invalid(field, "required")
    if len(value) > 254 or _has_control(value) or not _EMAIL.fullmatch(value):
        raise errors.invalid(field, "not a valid e-mail address")
    return value


def trust_level(value: int, field: str = "trust_level") -> int:
    """A Wasteland trust level, 0..3."""
    if not TRUST_MIN <= value <= TRUST_MAX:
        raise errors.invalid(field, f"must be between {TRUST_MIN} and {TRUST_MAX}")
    return value


def dolthub_token(value: str, field: str = "dolthub_token") -> str:
    """A DoltHub API token: printable ASCII without spaces. Never echoed in the error."""
    if not value:
        raise errors.invalid(field, "required")
    if len(value) > TOKEN_MAX or any(not 0x21 <= ord(ch) <= 0x7E for ch in value):
        raise errors.invalid(field, "must be printable ASCII without spaces")
    return value


def free_text(value: str, field: str, max_len: int) -> str:
    """An optional free-text field: at most ``max_len`` characters, no control characters."""
    if len(value) > max_len:
        raise errors.invalid(field, f"at most {max_len} characters")
    if _has_control(value):
        raise errors.invalid(field, "must not contain control characters")
    return value
