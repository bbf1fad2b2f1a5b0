"""Protobuf enums ⇄ the lower-case words the API and the domain use.

``VISIBILITY_PUBLIC`` ⇄ ``"public"``, ``OPERATION_KIND_CLAIM`` ⇄ ``"claim"``: the word is
the value name without the enum's prefix, so the proto stays the one list of values.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar, cast

E = TypeVar("E", bound=int)


def _prefix(enum_type: Any) -> str:
    # OperationKind → OPERATION_KIND_ (buf STANDARD style prefixes every value).
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum_type.DESCRIPTOR.name).upper() + "_"


def words(enum_type: type[E]) -> dict[E, str]:
    """Every defined value except UNSPECIFIED, number → word."""
    prefix = _prefix(enum_type)
    items: list[tuple[str, int]] = enum_type.items()  # type: ignore[attr-defined]
    return {
        cast(E, number): name[len(prefix) :].lower()
        for name, number in items
        if not name.endswith("_UNSPECIFIED")
    }


def word(enum_type: type[E], number: int) -> str | None:
    """The word of ``number``; None for UNSPECIFIED or a number the proto lacks."""
    return words(enum_type).get(cast(E, number))


def number(enum_type: type[E], word_: str) -> E | None:
    """The number of ``word_`` (``"claim"`` → OPERATION_KIND_CLAIM); None if unknown."""
    for value, name in words(enum_type).items():
        if name == word_:
            return value
    return None


def require_number(enum_type: type[E], word_: str) -> E:
    """Like :func:`number` for a word already validated at the boundary; ValueError if not."""
    value = number(enum_type, word_)
    if value is None:
        raise ValueError(f"{word_!r} is not a value of {enum_type.__name__}")
    return value
