"""Three-way merge of two commits, row by row on primary keys, like Dolt.

Fast-forwards when one side contains the other. Otherwise each table is merged against
the merge base: a row changed on one side only takes that side's version; a row changed
on both sides merges cell by cell when the two sides touched different columns (as Dolt
does) and is a conflict otherwise; a row deleted on one side and modified on the other,
or inserted on both sides with different content, is a conflict. Schema changes merge
only when one side changed a table's schema and the other left that table alone.
Any conflict fails the whole merge (Dolt's hosted API cannot resolve conflicts either).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from .errors import MergeConflict
from .snapshot import Key, Row, Table, connect, load_rows, quote_ident, sort_key, user_tables
from .storage import Store


@dataclass(frozen=True)
class MergeOutcome:
    kind: Literal["up_to_date", "fast_forward", "merged"]
    commit_id: str  # the new head of the branch merged into
    rows_changed: int


@dataclass
class _Plan:
    """Changes to apply to a copy of "ours" to obtain the merge result."""

    replace_tables: list[tuple[str, Table | None]]  # (name, theirs' table or None = drop)
    row_updates: dict[str, list[tuple[Key, Row | None]]]  # table → (key, new row | delete)
    conflicts: list[str]


def _merge_row(base: Row | None, ours: Row | None, theirs: Row | None) -> tuple[bool, Row | None]:
    """(conflict?, merged row) for one key whose two sides both differ from base."""
    if base is None or ours is None or theirs is None:
        return True, None
    merged = dict(ours)
    for column in set(base) | set(ours) | set(theirs):
        b, o, t = base.get(column), ours.get(column), theirs.get(column)
        if t == b or o == t:
            continue
        if o == b:
            merged[column] = t
        else:
            return True, None
    return False, merged


def _merge_rows(
    name: str, base: dict[Key, Row], ours: dict[Key, Row], theirs: dict[Key, Row], plan: _Plan
) -> None:
    updates: list[tuple[Key, Row | None]] = []
    conflicted: list[Key] = []
    for key in sorted(set(base) | set(ours) | set(theirs), key=sort_key):
        b, o, t = base.get(key), ours.get(key), theirs.get(key)
        if o == t or b == t:
            continue
        if b == o:
            updates.append((key, t))
            continue
        conflict, merged = _merge_row(b, o, t)
        if conflict:
            conflicted.append(key)
        else:
            updates.append((key, merged))
    if conflicted:
        shown = ", ".join("/".join(str(v) for v in k) for k in conflicted[:10])
        plan.conflicts.append(f'table "{name}" ({len(conflicted)} rows: {shown})')
    if updates:
        plan.row_updates[name] = updates


def _plan(base_path: Path, ours_path: Path, theirs_path: Path) -> _Plan:
    plan = _Plan([], {}, [])
    with (
        closing(connect(base_path)) as b_conn,
        closing(connect(ours_path)) as o_conn,
        closing(connect(theirs_path)) as t_conn,
    ):
        b_tables, o_tables, t_tables = user_tables(b_conn), user_tables(o_conn), user_tables(t_conn)
        for name in sorted(set(b_tables) | set(o_tables) | set(t_tables)):
            b, o, t = b_tables.get(name), o_tables.get(name), t_tables.get(name)
            sig_b, sig_o, sig_t = (x.signature if x else None for x in (b, o, t))

            def rows(conn: sqlite3.Connection, table: Table | None) -> dict[Key, Row]:
                return load_rows(conn, table) if table else {}

            if sig_t == sig_b:
                if t is None:
                    continue
                if sig_o != sig_b:
                    if rows(t_conn, t) != rows(b_conn, b):
                        plan.conflicts.append(
                            f'table "{name}" (schema changed on one side, data on the other)'
                        )
                    continue
                _merge_rows(name, rows(b_conn, b), rows(o_conn, o), rows(t_conn, t), plan)
            elif sig_o == sig_b:
                if o is not None and rows(o_conn, o) != rows(b_conn, b):
                    plan.conflicts.append(
                        f'table "{name}" (schema changed on one side, data on the other)'
                    )
                    continue
                plan.replace_tables.append((name, t))
            elif sig_o == sig_t:
                _merge_rows(name, rows(b_conn, b), rows(o_conn, o), rows(t_conn, t), plan)
            else:
                plan.conflicts.append(f'table "{name}" (both sides changed its schema)')
    return plan


def _apply(plan: _Plan, scratch: Path, theirs_path: Path) -> int:
    changed = 0
    with closing(connect(scratch, writable=True)) as conn, closing(connect(theirs_path)) as src:
        theirs_tables = user_tables(src)
        conn.execute("BEGIN")
        try:
            for name, table in plan.replace_tables:
                conn.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")
                if table is None:
                    continue
                for (sql,) in src.execute(
                    "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL"
                    " ORDER BY type = 'index', name",
                    (name,),
                ):
                    conn.execute(sql)
                rows = load_rows(src, theirs_tables[name])
                _insert(conn, theirs_tables[name], list(rows.values()))
                changed += len(rows)
            current = user_tables(conn)
            for name, updates in plan.row_updates.items():
                table = current[name]
                keys = table.key_columns
                where = " AND ".join(f"{quote_ident(k)} IS ?" for k in keys)
                for key, row in updates:
                    conn.execute(
                        f"DELETE FROM {quote_ident(name)} WHERE {where}",  # noqa: S608
                        key,
                    )
                    if row is not None:
                        _insert(conn, table, [row])
                    changed += 1
        except sqlite3.Error as err:
            conn.execute("ROLLBACK")
            raise MergeConflict(
                f"merge failed: the merged data violates a constraint: {err}"
            ) from err
        conn.execute("COMMIT")
    return changed


def _insert(conn: sqlite3.Connection, table: Table, rows: list[Row]) -> None:
    if not rows:
        return
    names = table.column_names
    columns = ", ".join(quote_ident(n) for n in names)
    marks = ", ".join("?" for _ in names)
    conn.executemany(
        f"INSERT INTO {quote_ident(table.name)} ({columns}) VALUES ({marks})",  # noqa: S608
        [[row.get(n) for n in names] for row in rows],
    )


def merge_commits(
    store: Store, ours: str, theirs: str, *, message: str, committer: str, now: datetime
) -> MergeOutcome:
    """Merge commit ``theirs`` into ``ours``; raises :class:`MergeConflict` on conflicts.

    The returned commit is the new head for the branch that was at ``ours``."""
    if ours == theirs or store.is_ancestor(theirs, ours):
        return MergeOutcome("up_to_date", ours, 0)
    if store.is_ancestor(ours, theirs):
        return MergeOutcome("fast_forward", theirs, 0)
    base = store.merge_base(ours, theirs)
    if base is None:
        raise MergeConflict("merge failed: the branches have no common ancestor")
    ours_path, theirs_path = store.snapshot_path(ours), store.snapshot_path(theirs)
    plan = _plan(store.snapshot_path(base), ours_path, theirs_path)
    if plan.conflicts:
        raise MergeConflict("merge conflict: conflicts in " + "; ".join(plan.conflicts))
    scratch = store.scratch_copy(ours)
    try:
        changed = _apply(plan, scratch, theirs_path)
    except BaseException:
        store.discard(scratch)
        raise
    commit = store.commit_snapshot(
        scratch, parents=(ours, theirs), message=message, committer=committer, now=now
    )
    return MergeOutcome("merged", commit, changed)
