"""The real ``wl``'s path from a DoltHub JSON answer to row values.

The real CLI converts every SQL-read answer to ``dolt sql -r csv`` text and parses that
with a line-based reader that trims every field. Its quirks are part of the observable
behaviour and are kept: column order comes from ``schema_fragment`` or, failing that, the
key order of the first row (DoltHub's documented ``schema`` key is not read); NULL becomes
an empty string; a cell containing a newline breaks the row apart.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from .errors import WlError
from .gofmt import GoDecodeError, decode_struct, format_float_g, json_dumps, parse_json, trim_space


def _format_cell(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "1" if value else "0"
    elif isinstance(value, int | float):
        number = float(value)  # Go decodes every JSON number as float64
        if math.isfinite(number) and number == int(number) and abs(number) < 2**63:
            text = str(int(number))
        else:
            text = format_float_g(number)
    else:
        text = json_dumps(_sort_maps(value))
    if any(ch in text for ch in ',\n"'):
        text = '"' + text.replace('"', '""') + '"'
    return text


def _sort_maps(value: Any) -> Any:
    # json.Marshal of a map[string]any sorts its keys.
    if isinstance(value, dict):
        return {k: _sort_maps(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sort_maps(v) for v in value]
    return value


def json_to_csv(body: bytes) -> str:
    """A DoltHub SQL-read answer as CSV text (header line + one line per row)."""
    try:
        envelope = decode_struct(
            body,
            {"query_execution_status": "string", "query_execution_message": "string"},
            "backend.queryResponse",
        )
        doc = parse_json(body)
    except GoDecodeError as exc:
        raise WlError(f"parsing API response: {exc}") from exc
    if envelope["query_execution_status"] == "Error":
        raise WlError(f"query error: {envelope['query_execution_message']}")
    rows = doc.get("rows") if isinstance(doc, dict) else None
    if rows is not None and not isinstance(rows, list):
        raise WlError(
            "parsing API response: json: cannot unmarshal into Go struct field "
            "queryResponse.rows of type []json.RawMessage"
        )
    rows = rows or []
    columns: list[str] = []
    schema = doc.get("schema_fragment") if isinstance(doc, dict) else None
    if (
        isinstance(schema, list)
        and schema
        and all(isinstance(c, dict) and isinstance(c.get("columnName", ""), str) for c in schema)
    ):
        columns = [str(c.get("columnName", "")) for c in schema]
    elif rows:
        first = rows[0]
        if not isinstance(first, dict):
            raise WlError("cannot determine column order: expected object")
        columns = list(first.keys())
    else:
        return ""
    if not columns:
        return ""
    out = [",".join(columns), "\n"]
    for row in rows:
        if not isinstance(row, dict):
            continue
        cells = ["" if row.get(col) is None else _format_cell(row[col]) for col in columns]
        out.append(",".join(cells))
        out.append("\n")
    return "".join(out)


def parse_csv_line(line: str) -> list[str]:
    """One CSV line split on commas outside double quotes (``""`` is a quote)."""
    fields: list[str] = []
    current: list[str] = []
    in_quote = False
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == '"' and not in_quote:
            in_quote = True
        elif ch == '"' and in_quote:
            if i + 1 < len(line) and line[i + 1] == '"':
                current.append('"')
                i += 1
            else:
                in_quote = False
        elif ch == "," and not in_quote:
            fields.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    fields.append("".join(current))
    return fields


def parse_simple_csv(data: str) -> list[dict[str, str]]:
    """Rows as dicts keyed by trimmed header names, every value trimmed."""
    lines = trim_space(data).split("\n")
    if len(lines) < 2:
        return []
    headers = parse_csv_line(lines[0])
    rows: list[dict[str, str]] = []
    for line in lines[1:]:
        if line == "":
            continue
        fields = parse_csv_line(line)
        rows.append(
            {trim_space(h): trim_space(fields[i]) for i, h in enumerate(headers) if i < len(fields)}
        )
    return rows


def data_lines(data: str) -> list[str]:
    """The trimmed, non-empty lines after the header (single-column results)."""
    lines = trim_space(data).split("\n")
    return [trim_space(line) for line in lines[1:] if trim_space(line)]


def second_line(data: str) -> str | None:
    """The trimmed first data line, or None when the result has no rows."""
    lines = trim_space(data).split("\n")
    return trim_space(lines[1]) if len(lines) >= 2 else None


def read_csv_records(data: str) -> list[list[str]] | None:
    """Strict CSV records (quoted newlines allowed), or None when the text is malformed."""
    try:
        records = [r for r in csv.reader(io.StringIO(data), strict=True) if r]
    except csv.Error:
        return None
    if records and any(len(r) != len(records[0]) for r in records):
        return None
    return records
