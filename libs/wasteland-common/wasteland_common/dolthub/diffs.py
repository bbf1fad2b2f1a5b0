"""Row-level differences between two refs of a database, read through the SQL API
(``dolt_diff_stat`` and ``dolt_diff``), and their rendering as `wl` writes it into a pull
request description (``RemoteDB.Diff`` in `wl` v0.4.0, protocol spec §4.7).

`wl` diffs a branch against the fork's ``main`` as it is now (two dots); once the fork's
``main`` moves on (a fork sync), that diff also shows the newer upstream commits, reversed.
:class:`DiffRange` reads what a branch did since it left ``main`` instead (Dolt's three-dot
range ``main...branch``, from their merge base), between two commit hashes, so the same
range always reads the same changes and can be cached.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from .client import DoltHubClient
from .errors import DoltHubError
from .sql import bind, quote_identifier

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


@dataclass(frozen=True)
class DiffRange:
    """What a branch changed since it left ``main``: from the merge base of the commits
    ``base`` (the ``main`` it was cut from, or any later one) and ``head`` (the branch's
    head), to ``head``. Both are commit hashes, so a range's changes never change."""

    base: str
    head: str

    @property
    def spec(self) -> str:
        """Dolt's three-dot revision argument, ``base...head``."""
        return f"{self.base}...{self.head}"


async def read_diff(
    client: DoltHubClient, owner: str, db: str, *, from_ref: str, to_ref: str, at_ref: str
) -> list[TableDiff]:
    """The changes from ``from_ref`` to ``to_ref`` of ``owner/db``, queried at ``at_ref``.

    A table whose rows cannot be read is reported with ``error`` (as `wl` does); failing to
    list the changed tables raises the client's error.
    """
    return await _read(client, owner, db, (from_ref, to_ref), at_ref=at_ref)


async def read_range(
    client: DoltHubClient, owner: str, db: str, diff_range: DiffRange, *, at_ref: str = "main"
) -> list[TableDiff]:
    """The changes of ``diff_range`` in ``owner/db`` (1 + one read per changed table).

    Errors as :func:`read_diff`."""
    return await _read(client, owner, db, (diff_range.spec,), at_ref=at_ref)


async def range_changes(
    client: DoltHubClient, owner: str, db: str, diff_range: DiffRange
) -> list[RowChange] | None:
    """The row changes of ``diff_range``, or None when a changed table cannot be read
    (a partial list would misdescribe the change). Raises the client's error when the
    changed tables cannot be listed."""
    tables = await read_range(client, owner, db, diff_range)
    if any(t.error is not None for t in tables):
        return None
    return changes(tables)


async def _read(
    client: DoltHubClient, owner: str, db: str, revisions: tuple[str, ...], *, at_ref: str
) -> list[TableDiff]:
    # Only "?" marks are formatted into the SQL; every value goes through bind().
    marks = ", ".join("?" for _ in revisions)
    stat_sql = (
        f"SELECT table_name, rows_added, rows_modified, rows_deleted FROM dolt_diff_stat({marks})"  # noqa: S608
    )
    stat = await client.read(owner, db, bind(stat_sql, *revisions), ref=at_ref)
    tables = [t for r in stat.rows if (t := (r.get("table_name") or "").strip())]
    diffs: list[TableDiff] = []
    for table in tables:
        sql = bind(f"SELECT * FROM dolt_diff({marks}, ?)", *revisions, table)  # noqa: S608
        try:
            result = await client.read(owner, db, sql, ref=at_ref)
        except DoltHubError as exc:
            diffs.append(TableDiff(table=table, error=str(exc)))
            continue
        error = "DoltHub truncated the diff (RowLimit)" if result.truncated else None
        diffs.append(TableDiff(table, result.columns, result.rows, error))
    return diffs


async def branch_heads(
    client: DoltHubClient, owner: str, db: str, branches: Collection[str]
) -> dict[str, str]:
    """The head commit of each of ``branches`` that exists in ``owner/db`` (one read).

    Raises NotFound when the database is missing."""
    names = sorted(set(branches))
    if not names:
        return {}
    marks = ", ".join("?" for _ in names)
    sql = f"SELECT name, hash FROM dolt_branches WHERE name IN ({marks})"  # noqa: S608
    result = await client.read(owner, db, bind(sql, *names))
    heads: dict[str, str] = {}
    for row in result.rows:
        name, head = row.get("name"), row.get("hash")
        if name in names and head:
            heads[name] = head
    return heads


def primary_key(table: str) -> str:
    """The primary-key column of a commons table: ``handle`` for rigs, ``key`` for
    ``_meta``, ``id`` for every other."""
    return {"rigs": "handle", "_meta": "key"}.get(table, "id")


async def read_rows(
    client: DoltHubClient,
    owner: str,
    db: str,
    table: str,
    keys: Collection[str],
    *,
    ref: str = "main",
    batch: int = 100,
) -> dict[str, dict[str, str | None]]:
    """The rows of ``table`` at ``ref`` whose primary key is one of ``keys``, by key (a key
    absent from the answer has no row). One read per ``batch`` keys (more when DoltHub
    truncates an answer)."""
    wanted = sorted(set(keys))
    found: dict[str, dict[str, str | None]] = {}
    column = primary_key(table)
    for start in range(0, len(wanted), batch):
        chunk = wanted[start : start + batch]
        marks = ", ".join("?" for _ in chunk)
        sql = bind(
            f"SELECT * FROM {quote_identifier(table)}"  # noqa: S608 - identifiers quoted
            f" WHERE {quote_identifier(column)} IN ({marks})"
            f" ORDER BY {quote_identifier(column)}",
            *chunk,
        )
        for row in await client.read_all(owner, db, sql, ref=ref):
            key = row.get(column)
            if key is not None and key in chunk:
                found[key] = row
    return found


def by_table(changes: Collection[RowChange]) -> Mapping[str, list[RowChange]]:
    """``changes`` grouped by table, in their order."""
    grouped: dict[str, list[RowChange]] = {}
    for change in changes:
        grouped.setdefault(change.table, []).append(change)
    return grouped


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
    name = primary_key(table)
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
