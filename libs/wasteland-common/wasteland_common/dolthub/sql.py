"""SQL literal helpers: the only sanctioned way to put a caller's value into DoltHub SQL.

DoltHub runs MySQL-dialect SQL, where a backslash inside a string literal is an escape
character; both backslashes and quotes are therefore doubled (as ``wl``'s EscapeSQL does).
"""

from __future__ import annotations


def quote(value: str | None) -> str:
    """A MySQL string literal that evaluates to exactly ``value`` (``NULL`` for None).

    >>> quote("it's")
    "'it''s'"
    """
    if value is None:
        return "NULL"
    escaped = value.replace("\\", "\\\\").replace("'", "''").replace("\x00", "\\0")
    return f"'{escaped}'"


def escape_like(prefix: str) -> str:
    """``prefix`` as a LIKE pattern fragment that matches it literally.

    Escapes ``\\``, ``%`` and ``_`` with a backslash (LIKE's default escape character).
    The result is a pattern, not a literal: append wildcards and pass it through
    :func:`quote`, e.g. ``f"name LIKE {quote(escape_like(p) + '%')}"``.
    """
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def quote_identifier(name: str) -> str:
    """A back-quoted MySQL identifier (table or column name) that names exactly ``name``."""
    if not name or "\x00" in name:
        raise ValueError("an SQL identifier must be non-empty and contain no NUL")
    return "`" + name.replace("`", "``") + "`"


SqlValue = str | int | float | bool | None


def _literal(value: SqlValue) -> str:
    if value is None or isinstance(value, str):
        return quote(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("SQL has no literal for NaN or infinity")
        return repr(value)
    raise TypeError(f"cannot bind a {type(value).__name__} into SQL")


def bind(template: str, *values: SqlValue) -> str:
    """``template`` with each ``?`` placeholder replaced by the literal for the next value.

    Strings (and None) go through :func:`quote`; ints, floats and bools become numbers.
    A ``?`` inside a quoted string or back-quoted identifier of the template is left
    alone. Raises ValueError when the number of placeholders and values differ.

    >>> bind("SELECT title FROM wanted WHERE id = ? AND priority <= ?", "w-1", 2)
    "SELECT title FROM wanted WHERE id = 'w-1' AND priority <= 2"
    """
    out: list[str] = []
    pending = list(values)
    quote_char = ""
    i = 0
    while i < len(template):
        ch = template[i]
        if quote_char:
            out.append(ch)
            if ch == "\\" and quote_char != "`" and i + 1 < len(template):
                out.append(template[i + 1])
                i += 1
            elif ch == quote_char:
                quote_char = ""
        elif ch in ("'", '"', "`"):
            quote_char = ch
            out.append(ch)
        elif ch == "?":
            if not pending:
                raise ValueError("more ? placeholders than values")
            out.append(_literal(pending.pop(0)))
        else:
            out.append(ch)
        i += 1
    if quote_char:
        raise ValueError("unterminated quote in SQL template")
    if pending:
        raise ValueError("more values than ? placeholders")
    return "".join(out)
