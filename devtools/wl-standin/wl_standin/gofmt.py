"""Text formats the real (Go) ``wl`` produces, reproduced byte for byte.

Go's ``%q`` quoting, its JSON encoder (HTML-safe escaping, struct field order), its
RFC 3339 timestamps, its URL escaping and its whitespace trimming all differ in small ways
from Python's defaults; every user-visible string and every request URL built by the
stand-in goes through these helpers so the output matches the real CLI.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, quote_plus

# Go's unicode.IsSpace set (strings.TrimSpace); Python's str.strip() also strips \x1c-\x1f.
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def trim_space(text: str) -> str:
    """``strings.TrimSpace``: leading and trailing Unicode white space removed."""
    return text.strip(_GO_SPACE)


def _is_go_print(ch: str) -> bool:
    # strconv.IsPrint: letters, marks, numbers, punctuation, symbols and U+0020.
    if ch == " ":
        return True
    return unicodedata.category(ch)[0] in "LMNPS"


def _escape_rune(ch: str, quote_char: str) -> str:
    if ch in (quote_char, "\\"):
        return "\\" + ch
    if _is_go_print(ch) and not ("\ud800" <= ch <= "\udfff"):
        return ch
    simple = {
        "\a": "\\a",
        "\b": "\\b",
        "\f": "\\f",
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        "\v": "\\v",
    }
    if ch in simple:
        return simple[ch]
    code = ord(ch)
    if "\udc80" <= ch <= "\udcff":  # a byte that was not valid UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def quote_go(text: str) -> str:
    """``strconv.Quote`` / ``%q`` of a string: double quotes, Go escapes."""
    return '"' + "".join(_escape_rune(ch, '"') for ch in text) + '"'


def quote_rune(ch: str) -> str:
    """``%q`` of a rune: single quotes, Go escapes."""
    return "'" + _escape_rune(ch, "'") + "'"


def query_escape(text: str) -> str:
    """``url.QueryEscape``: space becomes ``+``, everything but ``[A-Za-z0-9-_.~]`` escaped."""
    return quote_plus(text, safe="", encoding="utf-8", errors="surrogateescape")


def path_escape(text: str) -> str:
    """``url.PathEscape``: one path segment, ``/`` escaped as ``%2F``."""
    return quote(text, safe="$&+,:;=@", encoding="utf-8", errors="surrogateescape")


def _json_string(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or ch in "<>&" or ch in "\u2028\u2029":
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")  # Go replaces invalid UTF-8 with U+FFFD
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def json_dumps(value: Any, *, indent: str | None = None, _level: int = 0) -> str:
    """``json.Marshal`` (or ``MarshalIndent`` with ``indent``) of plain data.

    Mappings keep their insertion order (Go structs encode in field order; callers sort
    the keys themselves where Go encodes a ``map``). Strings are escaped like Go's
    encoder, including its HTML-safe escapes of ``<``, ``>`` and ``&``.
    """
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float_g(value)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        items = [(_json_string(str(k)), v) for k, v in value.items()]
        if indent is None:
            return "{" + ",".join(f"{k}:{json_dumps(v)}" for k, v in items) + "}"
        pad = indent * (_level + 1)
        body = ",\n".join(
            f"{pad}{k}: {json_dumps(v, indent=indent, _level=_level + 1)}" for k, v in items
        )
        return "{\n" + body + "\n" + indent * _level + "}"
    if isinstance(value, Sequence):
        if not value:
            return "[]"
        if indent is None:
            return "[" + ",".join(json_dumps(v) for v in value) + "]"
        pad = indent * (_level + 1)
        body = ",\n".join(f"{pad}{json_dumps(v, indent=indent, _level=_level + 1)}" for v in value)
        return "[\n" + body + "\n" + indent * _level + "]"
    raise TypeError(f"cannot encode {type(value).__name__}")


def format_float_g(value: float) -> str:
    """``fmt.Sprintf("%g", v)`` for the floats a DoltHub cell can hold."""
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = exponent[0] if exponent[0] in "+-" else "+"
        digits = exponent.lstrip("+-").rjust(2, "0")
        return f"{mantissa}e{sign}{digits}"
    return text


def json_kind(value: Any) -> str:
    """The JSON type name Go's decoder reports in "cannot unmarshal X into …" errors."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class GoDecodeError(ValueError):
    """A JSON document did not fit the Go type the real ``wl`` decodes it into."""


def parse_json(data: bytes) -> Any:
    """Decode JSON, raising :class:`GoDecodeError` with a Go-style message on bad syntax."""
    try:
        return json.loads(data.decode("utf-8", errors="replace"))
    except ValueError as exc:
        if not data.strip():
            raise GoDecodeError("unexpected end of JSON input") from exc
        raise GoDecodeError(f"invalid character in JSON input: {exc}") from exc


def _lookup(obj: Mapping[str, Any], name: str) -> Any:
    # encoding/json matches keys exactly first, then case-insensitively; the last
    # matching key in the document wins.
    if name in obj:
        return obj[name]
    found: Any = None
    for key, value in obj.items():
        if key.lower() == name.lower():
            found = value
    return found


def decode_struct(data: bytes | Any, fields: Mapping[str, str], struct: str = "") -> dict[str, Any]:
    """Decode ``data`` the way ``json.Unmarshal`` fills a Go struct.

    ``fields`` maps JSON names to Go kinds: ``string``, ``bool``, ``object`` (a nested
    struct, returned as a dict) or ``any``. Missing keys and ``null`` give the zero value;
    a value of the wrong JSON type raises :class:`GoDecodeError` with Go's message.
    """
    obj = parse_json(data) if isinstance(data, bytes) else data
    if obj is None:
        obj = {}
    if not isinstance(obj, dict):
        raise GoDecodeError(
            f"json: cannot unmarshal {json_kind(obj)} into Go value of type {struct or 'struct'}"
        )
    out: dict[str, Any] = {}
    for name, kind in fields.items():
        value = _lookup(obj, name)
        zero: Any = {"string": "", "bool": False, "object": {}, "any": None}[kind]
        if value is None:
            out[name] = zero
            continue
        ok = (
            kind == "any"
            or (kind == "string" and isinstance(value, str))
            or (kind == "bool" and isinstance(value, bool))
            or (kind == "object" and isinstance(value, dict))
        )
        if not ok:
            go_type = {"string": "string", "bool": "bool", "object": "struct"}[kind]
            raise GoDecodeError(
                f"json: cannot unmarshal {json_kind(value)} into Go struct field "
                f"{struct}.{name} of type {go_type}"
            )
        out[name] = value
    return out


def string_map_rows(value: Any) -> list[dict[str, str]]:
    """``[]map[string]string`` decoding of a ``rows`` array: any non-string cell fails the
    whole decode (null decodes as "")."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise GoDecodeError(
            f"json: cannot unmarshal {json_kind(value)} into Go value of type []map[string]string"
        )
    rows: list[dict[str, str]] = []
    for raw in value:
        if raw is None:
            rows.append({})
            continue
        if not isinstance(raw, dict):
            raise GoDecodeError(
                f"json: cannot unmarshal {json_kind(raw)} into Go value of type map[string]string"
            )
        row: dict[str, str] = {}
        for key, cell in raw.items():
            if cell is None:
                row[key] = ""
            elif isinstance(cell, str):
                row[key] = cell
            else:
                raise GoDecodeError(
                    f"json: cannot unmarshal {json_kind(cell)} into Go value of type string"
                )
        rows.append(row)
    return rows


_LEADING_INT = re.compile(r"[+-]?\d+")


def scan_int(text: str) -> int | None:
    """``fmt.Sscanf(text, "%d", &n)``: the leading integer after spaces, or None."""
    match = _LEADING_INT.match(text.lstrip(" \t\r\n"))
    return int(match.group()) if match else None


def atoi(text: str) -> int | None:
    """``strconv.Atoi``: the whole string as a decimal integer, or None."""
    if re.fullmatch(r"[+-]?\d+", text):
        value = int(text)
        if -(2**63) <= value < 2**63:
            return value
    return None


def truncate_runes(text: str, limit: int) -> str:
    """The first ``limit`` characters plus ``...`` when the text is longer."""
    return text if len(text) <= limit else text[:limit] + "..."
