"""Parsing of DoltHub REST answers into typed values.

Pure functions, one per response shape. Every documented variant of a field is accepted
(see /work/shared/spec/dolthub-api.md): ``schema`` or ``schema_fragment``; ``pull_id`` or
``_id``; ``res_details`` or the legacy flat write-poll fields; the several spellings of
pull-request detail fields. Unknown extra fields are ignored.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .errors import DoltHubError
from .models import PullRequest, PullSummary, QueryResult

JsonObject = dict[str, Any]


def json_object(text: str) -> JsonObject | None:
    """The body as a JSON object, or None when it is not one (bare text, arrays, junk)."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def text_field(body: JsonObject, *names: str) -> str:
    """The first of ``names`` present with a non-empty scalar value, as a string ("" if none)."""
    for name in names:
        value = body.get(name)
        if value is None or isinstance(value, dict | list):
            continue
        text = cell(value)
        if text:
            return text
    return ""


def envelope_status(body: JsonObject) -> str:
    """The lower-cased status of a DoltHub envelope (``query_execution_status`` or ``status``)."""
    return text_field(body, "query_execution_status", "status").strip().lower()


def envelope_message(body: JsonObject) -> str:
    """The human message of a DoltHub envelope, whichever key carries it."""
    return text_field(body, "query_execution_message", "message", "error")


def cell(value: Any) -> str | None:
    """One SQL cell as text: numbers in decimal (whole floats without a fraction), booleans
    as ``1``/``0``, JSON documents re-serialised compactly, null as None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _schema_columns(body: JsonObject) -> list[str] | None:
    for key in ("schema", "schema_fragment"):
        schema = body.get(key)
        if isinstance(schema, list) and schema:
            columns: list[str] = []
            for entry in schema:
                if not isinstance(entry, dict) or not isinstance(entry.get("columnName"), str):
                    raise DoltHubError(f"malformed DoltHub answer: bad {key} entry")
                columns.append(entry["columnName"])
            return columns
    return None


def parse_query(body: JsonObject) -> QueryResult:
    """A successful SQL-read envelope as a :class:`QueryResult` (the caller has already
    turned an ``Error`` status into an exception)."""
    raw_rows = body.get("rows")
    if raw_rows is None:
        raw_rows = []
    if not isinstance(raw_rows, list) or not all(isinstance(r, dict) for r in raw_rows):
        raise DoltHubError("malformed DoltHub answer: rows is not a list of objects")
    columns = _schema_columns(body)
    if columns is None:
        # Real DoltHub keeps row keys in SELECT order; use them when no schema was sent.
        columns = list(raw_rows[0].keys()) if raw_rows else []
    rows: list[dict[str, str | None]] = []
    for raw in raw_rows:
        row = {column: cell(raw.get(column)) for column in columns}
        for key, value in raw.items():
            if key not in row:
                row[key] = cell(value)
        rows.append(row)
    return QueryResult(columns=columns, rows=rows, truncated=envelope_status(body) == "rowlimit")


def write_details(body: JsonObject) -> JsonObject:
    """The fields describing a write operation's outcome: ``res_details`` when present and
    non-empty (current format), else the body itself (legacy flat format)."""
    details = body.get("res_details")
    if isinstance(details, dict) and details:
        merged = dict(body)
        merged.update(details)
        return merged
    return body


def pull_id_of(body: JsonObject) -> str:
    """The pull-request id of an answer (``pull_id`` or ``_id``, string or number)."""
    return text_field(body, "pull_id", "_id")


def parse_pull(body: JsonObject, *, owner: str, db: str, pull_id: str) -> PullRequest:
    """A pull-request detail answer, with every field-name variant normalised."""
    return PullRequest(
        pull_id=pull_id_of(body) or pull_id,
        title=text_field(body, "title", "title:"),
        description=text_field(body, "description", "description:"),
        state=text_field(body, "state").lower(),
        from_owner=text_field(
            body, "from_branch_owner", "from_branch_owner_name", "from_owner_name"
        ),
        from_database=text_field(
            body, "from_branch_database", "from_branch_repo_name", "from_repository_name"
        )
        or db,
        from_branch=text_field(body, "from_branch", "from_branch_name"),
        to_owner=text_field(body, "to_branch_owner", "to_branch_owner_name", "to_owner_name")
        or owner,
        to_database=text_field(
            body, "to_branch_database", "to_branch_repo_name", "to_repository_name"
        )
        or db,
        to_branch=text_field(body, "to_branch", "to_branch_name"),
        author=text_field(body, "author", "creator_name", "creator"),
        created_at=text_field(body, "created_at"),
    )


def parse_pull_page(body: JsonObject) -> tuple[list[PullSummary], str]:
    """One page of a pull-request list and the next page token ("" on the last page)."""
    raw = body.get("pulls")
    if raw is None:
        raw = []
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        raise DoltHubError("malformed DoltHub answer: pulls is not a list of objects")
    pulls = [
        PullSummary(
            pull_id=pull_id_of(p),
            title=text_field(p, "title"),
            state=text_field(p, "state").lower(),
            creator=text_field(p, "creator", "creator_name", "author"),
            created_at=text_field(p, "created_at"),
        )
        for p in raw
    ]
    return pulls, text_field(body, "next_page_token")


def parse_branches(body: JsonObject) -> list[str]:
    """The branch names of a branch-list answer."""
    raw = body.get("branches")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise DoltHubError("malformed DoltHub answer: branches is not a list")
    names: list[str] = []
    for entry in raw:
        if isinstance(entry, str):
            names.append(entry)
        elif isinstance(entry, dict):
            name = text_field(entry, "branch_name", "name")
            if name:
                names.append(name)
        else:
            raise DoltHubError("malformed DoltHub answer: bad branch entry")
    return names


_OPERATION_USER = re.compile(r"^users/(?P<user>[^/]+)/userOperations/")


def operation_user(operation_name: str) -> str:
    """The user in a write operation name ``users/<user>/userOperations/<uuid>``, or ""."""
    match = _OPERATION_USER.match(operation_name)
    return match.group("user") if match else ""
