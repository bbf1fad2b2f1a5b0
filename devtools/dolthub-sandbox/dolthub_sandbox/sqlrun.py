"""Running SQL against commit snapshots, with Dolt's system tables and functions emulated.

Dolt extensions are materialised as TEMP tables in the connection before the translated
statement runs: ``dolt_branches``, ``dolt_log``, ``dolt_commits`` and empty
``dolt_status``/``dolt_remotes``/``dolt_remote_branches``/``dolt_tags``; table functions
``dolt_diff``, ``dolt_diff_stat``, ``dolt_diff_summary`` and ``dolt_log``. ``HASHOF``,
``ACTIVE_BRANCH`` and ``DATABASE`` become literals. Procedures (``CALL DOLT_…``) change
branches, so they are carried out by :mod:`.operations`, not here.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlglot import exp

from . import dialect
from .errors import SqlError
from .repo import Repo
from .snapshot import (
    Table,
    TableDiff,
    connect,
    diff_snapshots,
    mysql_type,
    quote_ident,
    user_tables,
)

Clock = Callable[[], datetime]
Cell = str | None


# ---------------------------------------------------------------------- functions


def _substring_index(value: str | None, delim: str | None, count: int | None) -> str | None:
    if value is None or delim is None or count is None:
        return None
    if delim == "":
        return ""
    parts = value.split(delim)
    if count >= 0:
        return delim.join(parts[:count])
    return delim.join(parts[count:])


def _json_unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _json_length(value: Any) -> int | None:
    if value is None:
        return None
    try:
        doc = json.loads(value) if isinstance(value, str) else value
    except ValueError as err:
        raise sqlite3.DataError("invalid JSON") from err
    return len(doc) if isinstance(doc, list | dict) else 1


def _regexp(pattern: str | None, value: Any) -> int | None:
    if pattern is None or value is None:
        return None
    return 1 if re.search(pattern, str(value)) else 0


def _pad(left: bool) -> Callable[[Any, int, str], str | None]:
    def pad(value: Any, length: int, fill: str) -> str | None:
        if value is None or length is None or fill is None:
            return None
        text = str(value)
        if len(text) >= length:
            return text[:length]
        if not fill:
            return None
        filler = (fill * length)[: length - len(text)]
        return filler + text if left else text + filler

    return pad


def register_functions(conn: sqlite3.Connection, clock: Clock) -> None:
    """MySQL functions SQLite lacks; time functions read the sandbox clock (UTC)."""
    conn.create_function("NOW", 0, lambda: clock().strftime("%Y-%m-%d %H:%M:%S"))
    conn.create_function("NOW", 1, lambda _fsp: clock().strftime("%Y-%m-%d %H:%M:%S"))
    conn.create_function("CURDATE", 0, lambda: clock().strftime("%Y-%m-%d"))
    conn.create_function("CURTIME", 0, lambda: clock().strftime("%H:%M:%S"))
    conn.create_function("UNIX_TIMESTAMP", 0, lambda: int(clock().timestamp()))
    conn.create_function("UUID", 0, lambda: str(uuid.uuid4()))
    pure = {"deterministic": True}
    conn.create_function(
        "MYSQL_RIGHT",
        2,
        lambda s, n: None if s is None or n is None else (str(s)[-n:] if n > 0 else ""),
        **pure,
    )
    conn.create_function("SUBSTRING_INDEX", 3, _substring_index, **pure)
    conn.create_function("JSON_UNQUOTE", 1, _json_unquote, **pure)
    conn.create_function("JSON_LENGTH", 1, _json_length, **pure)
    conn.create_function("REGEXP", 2, _regexp, **pure)
    conn.create_function("LPAD", 3, _pad(True), **pure)
    conn.create_function("RPAD", 3, _pad(False), **pure)


# ---------------------------------------------------------------------- Dolt emulation


def _create_temp(
    conn: sqlite3.Connection,
    name: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[Any]],
) -> None:
    conn.execute(f"DROP TABLE IF EXISTS temp.{quote_ident(name)}")
    defs = ", ".join(f"{quote_ident(c)} {t}" for c, t in columns)
    conn.execute(f"CREATE TEMP TABLE {quote_ident(name)} ({defs})")
    if rows:
        marks = ", ".join("?" for _ in columns)
        conn.executemany(f"INSERT INTO temp.{quote_ident(name)} VALUES ({marks})", rows)  # noqa: S608


_TEXT = "VARCHAR(1024)"
_BIG = "BIGINT"


class DoltEmulation:
    """Implements :class:`dialect.DoltHooks` for one connection on one commit."""

    def __init__(self, conn: sqlite3.Connection, repo: Repo, ref: str, commit_id: str) -> None:
        self.conn = conn
        self.repo = repo
        self.ref = ref
        self.commit_id = commit_id
        self.database = repo.name
        self._made: set[str] = set()
        self._counter = 0

    # -- refs

    def resolve(self, ref: str) -> str:
        if ref.upper() in ("HEAD", "WORKING", "STAGED"):
            return self.commit_id
        return self.repo.resolve(ref)

    def hashof(self, ref: str) -> str:
        return self.resolve(ref)

    # -- system tables

    def system_table(self, name: str) -> None:
        if name in self._made:
            return
        self._made.add(name)
        if name == "dolt_branches":
            rows = []
            for branch in self.repo.branches():
                c = self.repo.commit(branch.commit_id)
                rows.append(
                    (
                        branch.name,
                        branch.commit_id,
                        c.committer,
                        c.email,
                        c.committed_at,
                        c.message,
                        "",
                        "",
                        0,
                    )
                )
            _create_temp(
                self.conn,
                name,
                [
                    ("name", _TEXT),
                    ("hash", "CHAR(32)"),
                    ("latest_committer", _TEXT),
                    ("latest_committer_email", _TEXT),
                    ("latest_commit_date", "DATETIME_TEXT"),
                    ("latest_commit_message", "TEXT"),
                    ("remote", _TEXT),
                    ("branch", _TEXT),
                    ("dirty", "TINYINT"),
                ],
                rows,
            )
        elif name == "dolt_log":
            self._log_table(name, self.commit_id)
        elif name == "dolt_commits":
            seen: dict[str, Any] = {}
            for branch in self.repo.branches():
                for c in self.repo.log(branch.commit_id):
                    seen.setdefault(
                        c.commit_id, (c.commit_id, c.committer, c.email, c.committed_at, c.message)
                    )
            _create_temp(
                self.conn,
                name,
                [
                    ("commit_hash", "CHAR(32)"),
                    ("committer", _TEXT),
                    ("email", _TEXT),
                    ("date", "DATETIME_TEXT"),
                    ("message", "TEXT"),
                ],
                sorted(seen.values(), key=lambda r: r[3], reverse=True),
            )
        elif name == "dolt_status":
            _create_temp(
                self.conn,
                name,
                [("table_name", _TEXT), ("staged", "TINYINT"), ("status", _TEXT)],
                [],
            )
        elif name == "dolt_remotes":
            _create_temp(
                self.conn,
                name,
                [
                    ("name", _TEXT),
                    ("url", _TEXT),
                    ("fetch_specs", "JSON_TEXT"),
                    ("params", "JSON_TEXT"),
                ],
                [],
            )
        elif name == "dolt_remote_branches":
            _create_temp(
                self.conn,
                name,
                [
                    ("name", _TEXT),
                    ("hash", "CHAR(32)"),
                    ("latest_committer", _TEXT),
                    ("latest_commit_date", "DATETIME_TEXT"),
                    ("latest_commit_message", "TEXT"),
                ],
                [],
            )
        elif name == "dolt_tags":
            _create_temp(
                self.conn,
                name,
                [
                    ("tag_name", _TEXT),
                    ("tag_hash", "CHAR(32)"),
                    ("tagger", _TEXT),
                    ("email", _TEXT),
                    ("date", "DATETIME_TEXT"),
                    ("message", "TEXT"),
                ],
                [],
            )

    def _log_table(self, name: str, commit_id: str) -> None:
        history = self.repo.log(commit_id)
        heights: dict[str, int] = {}
        by_id = {c.commit_id: c for c in history}
        for record in reversed(history):
            heights[record.commit_id] = 1 + max(
                (heights.get(p, 0) for p in record.parents if p in by_id), default=0
            )
        rows = [
            (c.commit_id, c.committer, c.email, c.committed_at, c.message, heights[c.commit_id])
            for c in history
        ]
        rows.sort(key=lambda r: (r[5], r[3]), reverse=True)
        _create_temp(
            self.conn,
            name,
            [
                ("commit_hash", "CHAR(32)"),
                ("committer", _TEXT),
                ("email", _TEXT),
                ("date", "DATETIME_TEXT"),
                ("message", "TEXT"),
                ("commit_order", _BIG),
            ],
            rows,
        )

    # -- table functions

    def _range(self, args: list[str], what: str) -> tuple[str, str, list[str]]:
        """(from commit, to commit, remaining args) from ``'a','b',…`` or ``'a..b',…``."""
        if args and "..." in args[0]:
            left, right = args[0].split("...", 1)
            to_commit = self.resolve(right)
            return self.repo.merge_base(self.resolve(left), to_commit), to_commit, args[1:]
        if args and ".." in args[0]:
            left, right = args[0].split("..", 1)
            return self.resolve(left), self.resolve(right), args[1:]
        if len(args) < 2:
            raise SqlError(f"function '{what}' expects at least two ref arguments")
        return self.resolve(args[0]), self.resolve(args[1]), args[2:]

    def _diffs(self, from_commit: str, to_commit: str) -> list[TableDiff]:
        return diff_snapshots(self.repo.snapshot(from_commit), self.repo.snapshot(to_commit))

    def table_function(self, name: str, args: list[str]) -> str:
        self._counter += 1
        temp = f"dolt_tf_{self._counter}"
        if name == "dolt_log":
            refs = [a for a in args if not a.startswith("-")]
            self._log_table(temp, self.resolve(refs[0]) if refs else self.commit_id)
        elif name == "dolt_diff":
            self._diff_table(temp, args)
        elif name == "dolt_diff_stat":
            self._diff_stat(temp, args)
        elif name == "dolt_diff_summary":
            self._diff_summary(temp, args)
        else:
            raise SqlError(f"table function not found: {name}")
        return temp

    def _diff_table(self, temp: str, args: list[str]) -> None:
        from_commit, to_commit, rest = self._range(args, "dolt_diff")
        if len(rest) != 1:
            raise SqlError("function 'dolt_diff' expects a table name argument")
        table = rest[0]
        with (
            closing(connect(self.repo.snapshot(from_commit))) as old_conn,
            closing(connect(self.repo.snapshot(to_commit))) as new_conn,
        ):
            old_t = user_tables(old_conn).get(table)
            new_t = user_tables(new_conn).get(table)
        if old_t is None and new_t is None:
            raise SqlError(f"table not found: {table}")
        change = next((d for d in self._diffs(from_commit, to_commit) if d.name == table), None)
        to_cols = new_t.columns if new_t else ()
        from_cols = old_t.columns if old_t else ()
        from_date = self.repo.commit(from_commit).committed_at
        to_date = self.repo.commit(to_commit).committed_at
        columns = [(f"to_{c.name}", c.declared_type) for c in to_cols]
        columns += [("to_commit", _TEXT), ("to_commit_date", "DATETIME_TEXT")]
        columns += [(f"from_{c.name}", c.declared_type) for c in from_cols]
        columns += [
            ("from_commit", _TEXT),
            ("from_commit_date", "DATETIME_TEXT"),
            ("diff_type", _TEXT),
        ]
        rows = []
        for row_change in change.changes if change else []:
            after, before = row_change.after or {}, row_change.before or {}
            rows.append(
                [after.get(c.name) for c in to_cols]
                + [to_commit, to_date]
                + [before.get(c.name) for c in from_cols]
                + [from_commit, from_date]
                + [row_change.kind]
            )
        _create_temp(self.conn, temp, columns, rows)

    def _diff_stat(self, temp: str, args: list[str]) -> None:
        from_commit, to_commit, rest = self._range(args, "dolt_diff_stat")
        rows = []
        for diff in self._diffs(from_commit, to_commit):
            if rest and diff.name not in rest:
                continue
            old_width = len(diff.before.columns) if diff.before else 0
            new_width = len(diff.after.columns) if diff.after else 0
            added = [c for c in diff.changes if c.kind == "added"]
            removed = [c for c in diff.changes if c.kind == "removed"]
            modified = [c for c in diff.changes if c.kind == "modified"]
            cells_modified = sum(
                sum(
                    1
                    for k in set(c.before or {}) | set(c.after or {})
                    if (c.before or {}).get(k) != (c.after or {}).get(k)
                )
                for c in modified
            )
            rows.append(
                (
                    diff.name,
                    diff.before_count - len(removed) - len(modified),
                    len(added),
                    len(removed),
                    len(modified),
                    len(added) * new_width,
                    len(removed) * old_width,
                    cells_modified,
                    diff.before_count,
                    diff.after_count,
                    diff.before_count * old_width,
                    diff.after_count * new_width,
                )
            )
        _create_temp(
            self.conn,
            temp,
            [
                ("table_name", _TEXT),
                ("rows_unmodified", _BIG),
                ("rows_added", _BIG),
                ("rows_deleted", _BIG),
                ("rows_modified", _BIG),
                ("cells_added", _BIG),
                ("cells_deleted", _BIG),
                ("cells_modified", _BIG),
                ("old_row_count", _BIG),
                ("new_row_count", _BIG),
                ("old_cell_count", _BIG),
                ("new_cell_count", _BIG),
            ],
            rows,
        )

    def _diff_summary(self, temp: str, args: list[str]) -> None:
        from_commit, to_commit, rest = self._range(args, "dolt_diff_summary")
        rows = []
        for diff in self._diffs(from_commit, to_commit):
            if rest and diff.name not in rest:
                continue
            if diff.before is None:
                kind = "added"
            elif diff.after is None:
                kind = "dropped"
            else:
                kind = "modified"
            rows.append(
                (
                    diff.name if diff.before else "",
                    diff.name if diff.after else "",
                    kind,
                    int(bool(diff.changes)),
                    int(diff.schema_changed),
                )
            )
        _create_temp(
            self.conn,
            temp,
            [
                ("from_table_name", _TEXT),
                ("to_table_name", _TEXT),
                ("diff_type", _TEXT),
                ("data_change", "TINYINT"),
                ("schema_change", "TINYINT"),
            ],
            rows,
        )


# ---------------------------------------------------------------------- errors


def dolt_error(err: sqlite3.Error, conn: sqlite3.Connection | None = None) -> SqlError:
    """A SQLite error re-worded the way Dolt words the same failure."""
    text = str(err)
    if m := re.match(r"no such table: (?:\w+\.)?(.+)", text):
        return SqlError(f"table not found: {m.group(1)}")
    if m := re.match(r"no such column: (.+)", text):
        return SqlError(f'column "{m.group(1)}" could not be found in any table in scope')
    if m := re.match(r"UNIQUE constraint failed: (.+)", text):
        columns = [c.strip() for c in m.group(1).split(",")]
        table = columns[0].split(".", 1)[0]
        names = [c.split(".", 1)[-1] for c in columns]
        if conn is not None:
            info = conn.execute(f"PRAGMA table_info({quote_ident(table)})").fetchall()
            key = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]]
            if key == names:
                return SqlError(f"duplicate primary key given: [{', '.join(names)}]")
        return SqlError(f"duplicate unique key given: [{', '.join(names)}]")
    if m := re.match(r"CHECK constraint failed: (.+)", text):
        return SqlError(f'Check constraint "{m.group(1)}" violated')
    if m := re.match(r"NOT NULL constraint failed: (?:\w+\.)?(.+)", text):
        return SqlError(
            f"column name '{m.group(1)}' is non-nullable but attempted to set a value of null"
        )
    if "no such function" in text:
        return SqlError(text.replace("no such function", "function not found"))
    return SqlError(text)


# ---------------------------------------------------------------------- reads


@dataclass(frozen=True)
class ReadResult:
    columns: list[tuple[str, str]]  # (name, MySQL type)
    rows: list[list[Cell]]
    truncated: bool


def cell(value: Any) -> Cell:
    """One value as DoltHub sends it: every cell a string, NULL as None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _value_type(values: list[Any]) -> str:
    for value in values:
        if isinstance(value, int):
            return "BIGINT"
        if isinstance(value, float):
            return "DOUBLE"
        if isinstance(value, bytes):
            return "LONGBLOB"
        if value is not None:
            return "LONGTEXT"
    return "NULL"


def _declared_types(conn: sqlite3.Connection, parsed: dialect.Parsed) -> dict[str, str]:
    """Column name → MySQL type across every table the query reads."""
    if parsed.tree is None:
        return {}
    # Every TEMP table was materialised for this very query (Dolt tables and functions).
    temp = user_tables(conn, "temp")
    names = sorted(temp) + sorted({t.name for t in parsed.tree.find_all(exp.Table) if t.name})
    tables: dict[str, Table] = {**user_tables(conn), **temp}
    types: dict[str, str] = {}
    for name in names:
        table = tables.get(name) or tables.get(name.lower())
        for column in table.columns if table else ():
            types.setdefault(column.name, mysql_type(column.declared_type))
    return types


_SHOW_TABLES = (
    "SELECT name AS {alias} FROM main.sqlite_master WHERE type = 'table'"
    " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
)


def run_read(
    repo: Repo, commit_id: str, ref: str, sql: str, *, row_limit: int, clock: Clock
) -> ReadResult:
    """Run one read-only statement on the content at ``commit_id``."""
    statements = dialect.split_statements(sql)
    if not statements:
        raise SqlError("query was empty")
    if len(statements) > 1:
        raise SqlError("only a single statement is supported by the read API")
    parsed = dialect.parse_statement(statements[0])
    if parsed.writes:
        raise SqlError("the read API runs read-only queries; send writes to the write endpoint")
    with closing(connect(repo.snapshot(commit_id))) as conn:
        register_functions(conn, clock)
        hooks = DoltEmulation(conn, repo, ref, commit_id)
        try:
            if parsed.kind == "show_tables":
                sqlite_sql = [_SHOW_TABLES.format(alias=quote_ident(f"Tables_in_{repo.name}"))]
            else:
                sqlite_sql = dialect.to_sqlite(parsed, hooks, name_columns=True)
            cursor = conn.execute(sqlite_sql[-1])
            fetched = cursor.fetchmany(row_limit + 1)
        except sqlite3.Error as err:
            raise dolt_error(err, conn) from err
        except RecursionError as err:
            raise SqlError("query too complex") from err
        names = [d[0] for d in cursor.description or []]
        truncated = len(fetched) > row_limit
        fetched = fetched[:row_limit]
        declared = _declared_types(conn, parsed)
    columns = [
        (name, declared.get(name) or _value_type([r[i] for r in fetched]))
        for i, name in enumerate(names)
    ]
    rows = [[cell(v) for v in raw] for raw in fetched]
    return ReadResult(columns, rows, truncated)


# ---------------------------------------------------------------------- writes


def run_write(conn: sqlite3.Connection, parsed: dialect.Parsed, hooks: DoltEmulation) -> int:
    """Run one data or schema statement on a writable scratch connection, atomically.

    Returns the rows-affected count SQLite reports."""
    if parsed.kind == "show_tables":
        return 0
    try:
        statements = dialect.to_sqlite(parsed, hooks, name_columns=False)
    except RecursionError as err:
        raise SqlError("query too complex") from err
    affected = 0
    conn.execute("BEGIN")
    try:
        for statement in statements:
            cursor = conn.execute(statement)
            if parsed.kind == "select":
                cursor.fetchall()
            affected += max(cursor.rowcount, 0)
    except sqlite3.Error as err:
        conn.execute("ROLLBACK")
        raise dolt_error(err, conn) from err
    conn.execute("COMMIT")
    return affected
