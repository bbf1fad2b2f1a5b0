"""Row-level differences between two refs of a database, read through the SQL API
(``dolt_diff_stat`` and ``dolt_diff``), and their rendering as `wl` writes it into a pull
request description (``RemoteDB.Diff`` in `wl` v0.4.0, protocol spec §4.7)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .client import DoltHubClient
from .errors import DoltHubError
from .sql import bind

# dolt_diff columns that describe the diff itself rather than a row value.
_META_COLUMNS = frozenset(
    {"diff_type", "from_commit", "to_commit", "from_commit_date", "to_commit_date"}
)


@dataclass(frozen=True)
class TableDiff:
    """The dolt_diff rows of one table (columns in SELECT order), or why they are missing."""

    table: str
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, str | None]] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class RowChange:
    """One changed row: ``kind`` is added, modified or removed; ``key`` its id."""

    table: str
    kind: str
    key: str
    before: dict[str, str | None]
    after: dict[str, str | None]


async def read_diff(
    client: DoltHubClient, owner: str, db: str, *, from_ref: str, to_ref: str, at_ref: str
) -> list[TableDiff]:
    """The changes from ``from_ref`` to ``to_ref`` of ``owner/db``, queried at ``at_ref``.

    A table whose rows cannot be read is reported with ``error`` (as `wl` does); failing to
    list the changed tables raises the client's error.
    """
    stat = await client.read(
        owner,
        db,
        bind(
            "SELECT table_name, rows_added, rows_modified, rows_deleted FROM dolt_diff_stat(?, ?)",
            from_ref,
            to_ref,
        ),
        ref=at_ref,
    )
    tables = [t for r in stat.rows if (t := (r.get("table_name") or "").strip())]
    diffs: list[TableDiff] = []
    for table in tables:
        sql = bind("SELECT * FROM dolt_diff(?, ?, ?)", from_ref, to_ref, table)
        try:
            result = await client.read(owner, db, sql, ref=at_ref)
        except DoltHubError as exc:
            diffs.append(TableDiff(table=table, error=str(exc)))
            continue
        diffs.append(TableDiff(table=table, columns=result.columns, rows=result.rows))
    return diffs


def changes(diffs: list[TableDiff]) -> list[RowChange]:
    """The readable changes of ``diffs``, one per row."""
    found: list[RowChange] = []
    for diff in diffs:
        for row in diff.rows:
            before = {
                c[5:]: v for c, v in row.items() if c.startswith("from_") and c not in _META_COLUMNS
            }
            after = {
                c[3:]: v for c, v in row.items() if c.startswith("to_") and c not in _META_COLUMNS
            }
            kind = (row.get("diff_type") or "").strip() or "modified"
            found.append(
                RowChange(
                    table=diff.table,
                    kind=kind,
                    key=_row_key(diff.table, before, after),
                    before=before if kind != "added" else {},
                    after=after if kind != "removed" else {},
                )
            )
    return found


def _row_key(table: str, before: dict[str, str | None], after: dict[str, str | None]) -> str:
    # The commons' primary keys: `handle` for rigs, `key` for _meta, `id` elsewhere.
    name = {"rigs": "handle", "_meta": "key"}.get(table, "id")
    return after.get(name) or before.get(name) or ""


def render(diffs: list[TableDiff]) -> str:
    """The pull-request description `wl` writes for these changes."""
    if not diffs:
        return "(no changes)\n"
    out: list[str] = []
    for diff in diffs:
        out.append(f"## {diff.table}\n\n")
        if diff.error is not None:
            out.append(f"(error reading diff: {diff.error})\n\n")
            continue
        if not diff.rows:
            out.append("(no row changes)\n\n")
            continue
        out.append("```\n")
        for row in diff.rows:
            out.append(format_row(diff.columns, [row.get(c) or "" for c in diff.columns]))
        out.append("```\n\n")
    return "".join(out)


def format_row(header: list[str], fields: list[str]) -> str:
    """One dolt_diff row as `wl`'s ``formatDiffRow`` prints it."""
    diff_type, row_id = "", ""
    for i, col in enumerate(header[: len(fields)]):
        if col == "diff_type":
            diff_type = fields[i]
        if fields[i] != "" and (col == "to_id" or (col == "from_id" and row_id == "")):
            row_id = fields[i]
    prefix = {"added": "+", "removed": "-"}.get(diff_type, "~")
    lines = [f"{prefix} {diff_type}: id={row_id}\n"]
    from_vals: dict[str, str] = {}
    to_vals: dict[str, str] = {}
    for i, col in enumerate(header[: len(fields)]):
        if col in _META_COLUMNS:
            continue
        if col.startswith("from_"):
            from_vals[col[5:]] = fields[i]
        elif col.startswith("to_"):
            to_vals[col[3:]] = fields[i]
    # The real CLI walks Go maps here, so its field order is random; column order is used.
    for name, before in from_vals.items():
        after = to_vals.get(name, "")
        if before != after:
            lines.append(f"  {name}: {before or '(empty)'} → {after or '(empty)'}\n")
    for name, after in to_vals.items():
        if name not in from_vals and after != "":
            lines.append(f"  {name}: {after}\n")
    return "".join(lines)
