"""A DoltHub token that cannot leak through repr, str, logging or an f-string."""

from __future__ import annotations

_VISIBLE = frozenset(chr(c) for c in range(0x21, 0x7F))
MASK = "****"


class SecretToken:
    """Holds a DoltHub API token; only :meth:`reveal` returns the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        # A token with spaces or control characters would make httpx raise an error whose
        # text quotes the header value, so reject it here without echoing it.
        if not value or any(ch not in _VISIBLE for ch in value):
            raise ValueError("a DoltHub token must be non-empty printable ASCII without spaces")
        self._value = value

    def reveal(self) -> str:
        """The token itself, for the ``authorization`` header only."""
        return self._value

    def scrub(self, text: str) -> str:
        """``text`` with every occurrence of the token replaced by a mask."""
        return text.replace(self._value, MASK) if self._value in text else text

    def __repr__(self) -> str:
        return f"SecretToken('{MASK}')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a DoltHub token is not serialisable")
