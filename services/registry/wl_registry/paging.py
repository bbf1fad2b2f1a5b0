"""Keyset pagination: page sizes and opaque page tokens.

A page token is base64url JSON naming the list it belongs to and the sort key of the
last row served, so the next page starts strictly after it even when rows are added or
removed in between. A token for another list, or garbage, is INVALID_ARGUMENT.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Generic, TypeVar

from wasteland_common import errors

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
_TOKEN_MAX = 2048

T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    """How many rows to return and the sort key to start after (None: from the start)."""

    size: int
    after: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results and the token of the next one ("" when done)."""

    items: list[T]
    next_page_token: str


def page_size(value: int, field: str = "page_size") -> int:
    """0 means the default; above the maximum is clamped; negative is invalid."""
    if value < 0:
        raise errors.invalid(field, "must not be negative")
    if value == 0:
        return DEFAULT_PAGE_SIZE
    return min(value, MAX_PAGE_SIZE)


def encode(kind: str, key: tuple[str, ...]) -> str:
    """The page token continuing list ``kind`` after the row with sort key ``key``."""
    raw = json.dumps({"k": kind, "a": list(key)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(kind: str, token: str, arity: int, field: str = "page_token") -> tuple[str, ...] | None:
    """The sort key a token for list ``kind`` continues after; None for an empty token."""
    if not token:
        return None
    bad = errors.invalid(field, "not a valid page token")
    if len(token) > _TOKEN_MAX:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError):
        raise bad from None
    if not isinstance(value, dict) or value.get("k") != kind:
        raise bad
    key = value.get("a")
    if (
        not isinstance(key, list)
        or len(key) != arity
        or not all(isinstance(part, str) for part in key)
    ):
        raise bad
    return tuple(key)


def request(kind: str, size: int, token: str, arity: int) -> PageRequest:
    """A checked :class:`PageRequest` from the raw ``page_size`` and ``page_token`` fields."""
    return PageRequest(size=page_size(size), after=decode(kind, token, arity))
