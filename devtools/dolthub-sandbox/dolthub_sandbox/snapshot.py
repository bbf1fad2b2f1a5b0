"""Reading commit snapshots: tables, schemas, rows keyed by primary key, and row diffs.

A snapshot is an ordinary SQLite file. Column types are declared with their MySQL name;
types whose SQLite affinity would mangle text (JSON, TIMESTAMP, ENUM, …) carry a
``_TEXT`` suffix (see :mod:`dolthub_sandbox.dialect`), removed again by
:func:`mysql_type`.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

Value = int | float | str | bytes | None
Row = dict[str, Value]
Key = tuple[Value, ...]

TEXT_MARKER = "_TEXT"


def mysql_type(declared: str) -> str:
    """The MySQL type name of a column declared in a snapshot."""
    upper = declared.upper()
    if TEXT_MARKER in upper:
        return upper.replace(TEXT_MARKER, "", 1)
    return upper


def connect(path: Path, *, writable: bool = False) -> sqlite3.Connection:
    """A connection to a snapshot file; read-only ones never lock or modify the file."""
    if writable:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
        # Scratch copies become durable as a whole when committed (fsync + rename), so
        # per-statement journaling and syncing would only cost time.
        conn.execute("PRAGMA journal_mode = MEMORY")
        conn.execute("PRAGMA synchronous = OFF")
    else:
        uri = f"file:{pathname2url(str(path))}?mode=ro&immutable=1"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    conn.execute("PRAGMA temp_store = MEMORY")
    # Dolt's default collation is utf8mb4_0900_bin: LIKE is case-sensitive.
    conn.execute("PRAGMA case_sensitive_like = ON")
    return conn


@dataclass(frozen=True)
class Column:
    name: str
    declared_type: str
    not_null: bool
    pk_index: int  # 1-based position in the primary key, 0 when not part of it


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    signature: str  # CREATE TABLE text plus index definitions; equal ⇔ same schema

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def key_columns(self) -> list[str]:
        """Primary-key columns in key order; every column when the table has no key."""
        keyed = sorted((c for c in self.columns if c.pk_index), key=lambda c: c.pk_index)
        return [c.name for c in keyed] or self.column_names


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def user_tables(conn: sqlite3.Connection, schema: str = "main") -> dict[str, Table]:
    """Every user table of a snapshot (SQLite's own tables excluded), by name."""
    master = f"{quote_ident(schema)}.sqlite_master"
    rows = conn.execute(
        f"SELECT name, sql FROM {master} WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%'"  # noqa: S608
        " ESCAPE '\\' ORDER BY name"
    ).fetchall()
    tables: dict[str, Table] = {}
    for name, create_sql in rows:
        index_sql = [
            str(r[0])
            for r in conn.execute(
                f"SELECT sql FROM {master} WHERE type = 'index' AND tbl_name = ?"  # noqa: S608
                " AND sql IS NOT NULL ORDER BY name",
                (name,),
            )
        ]
        info = conn.execute(
            f"PRAGMA {quote_ident(schema)}.table_info({quote_ident(name)})"
        ).fetchall()
        columns = tuple(Column(r[1], str(r[2] or ""), bool(r[3]), int(r[5])) for r in info)
        tables[str(name)] = Table(str(name), columns, "\n".join([str(create_sql), *index_sql]))
    return tables


def sort_key(key: Key) -> tuple[tuple[int, Any], ...]:
    """An ordering over primary-key tuples that tolerates NULLs and mixed types."""
    parts: list[tuple[int, Any]] = []
    for value in key:
        if value is None:
            parts.append((0, 0))
        elif isinstance(value, int | float):
            parts.append((1, value))
        elif isinstance(value, bytes):
            parts.append((3, value))
        else:
            parts.append((2, value))
    return tuple(parts)


def load_rows(conn: sqlite3.Connection, table: Table, schema: str = "main") -> dict[Key, Row]:
    """All rows of ``table`` keyed by primary key."""
    names = table.column_names
    select = ", ".join(quote_ident(n) for n in names)
    rows: dict[Key, Row] = {}
    key_positions = [names.index(k) for k in table.key_columns]
    for raw in conn.execute(
        f"SELECT {select} FROM {quote_ident(schema)}.{quote_ident(table.name)}"  # noqa: S608
    ):
        rows[tuple(raw[i] for i in key_positions)] = dict(zip(names, raw, strict=True))
    return rows


@dataclass(frozen=True)
class RowChange:
    key: Key
    before: Row | None
    after: Row | None

    @property
    def kind(self) -> str:
        """Dolt's diff_type: added, removed or modified."""
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        return "modified"


def diff_rows(before: dict[Key, Row], after: dict[Key, Row]) -> list[RowChange]:
    """Row-level changes from ``before`` to ``after``, ordered by key."""
    changes: list[RowChange] = []
    for key in sorted(set(before) | set(after), key=sort_key):
        old, new = before.get(key), after.get(key)
        if old != new:
            changes.append(RowChange(key, old, new))
    return changes


@dataclass(frozen=True)
class TableDiff:
    name: str
    before: Table | None
    after: Table | None
    changes: list[RowChange]
    before_count: int
    after_count: int

    @property
    def schema_changed(self) -> bool:
        before = self.before.signature if self.before else None
        after = self.after.signature if self.after else None
        return before != after


def diff_snapshots(before_path: Path, after_path: Path) -> list[TableDiff]:
    """Every table whose schema or rows differ between two snapshots, by table name."""
    with closing(connect(before_path)) as old, closing(connect(after_path)) as new:
        old_tables, new_tables = user_tables(old), user_tables(new)
        diffs: list[TableDiff] = []
        for name in sorted(set(old_tables) | set(new_tables)):
            t_old, t_new = old_tables.get(name), new_tables.get(name)
            rows_old = load_rows(old, t_old) if t_old else {}
            rows_new = load_rows(new, t_new) if t_new else {}
            changes = diff_rows(rows_old, rows_new)
            diff = TableDiff(name, t_old, t_new, changes, len(rows_old), len(rows_new))
            if changes or diff.schema_changed:
                diffs.append(diff)
        return diffs


def same_content(a: Path, b: Path) -> bool:
    """True when two snapshots hold the same schema and rows."""
    return not diff_snapshots(a, b)
