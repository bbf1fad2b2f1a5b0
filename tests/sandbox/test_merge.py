"""Three-way merge on the commit graph (no HTTP)."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dolthub_sandbox.config import IdSource
from dolthub_sandbox.errors import MergeConflict
from dolthub_sandbox.merge import merge_commits
from dolthub_sandbox.snapshot import connect
from dolthub_sandbox.storage import Store
from hypothesis import given, settings
from hypothesis import strategies as st

NOW = datetime(2026, 3, 10, tzinfo=UTC)
Rows = dict[int, tuple[str, int]]


def commit(store: Store, parent: str | None, change: Callable[[sqlite3.Connection], None]) -> str:
    scratch = store.scratch_copy(parent) if parent else store.empty_snapshot()
    with closing(connect(scratch, writable=True)) as conn:
        conn.execute("BEGIN")
        change(conn)
        conn.execute("COMMIT")
    return store.commit_snapshot(
        scratch, parents=(parent,) if parent else (), message="c", committer="t", now=NOW
    )


def rows_at(store: Store, commit_id: str) -> Rows:
    with closing(connect(store.snapshot_path(commit_id))) as conn:
        return {k: (a, b) for k, a, b in conn.execute("SELECT k, a, b FROM t")}


def base_commit(store: Store, rows: Rows) -> str:
    def create(conn: sqlite3.Connection) -> None:
        conn.execute('CREATE TABLE t ("k" INT NOT NULL PRIMARY KEY, "a" TEXT, "b" INT)')
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(k, *v) for k, v in rows.items()])

    return commit(store, None, create)


def apply(rows_change: dict[int, tuple[str, int] | None]) -> Callable[[sqlite3.Connection], None]:
    def change(conn: sqlite3.Connection) -> None:
        for key, value in rows_change.items():
            conn.execute("DELETE FROM t WHERE k = ?", (key,))
            if value is not None:
                conn.execute("INSERT INTO t VALUES (?, ?, ?)", (key, *value))

    return change


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path, IdSource())


def test_fast_forward_and_up_to_date(store: Store) -> None:
    base = base_commit(store, {1: ("x", 1)})
    ahead = commit(store, base, apply({1: ("y", 2)}))
    assert (
        merge_commits(store, base, ahead, message="m", committer="t", now=NOW).kind
        == "fast_forward"
    )
    outcome = merge_commits(store, ahead, base, message="m", committer="t", now=NOW)
    assert (outcome.kind, outcome.commit_id) == ("up_to_date", ahead)


def test_disjoint_rows_merge_and_cellwise_same_row(store: Store) -> None:
    base = base_commit(store, {1: ("x", 1), 2: ("y", 2), 3: ("z", 3)})
    ours = commit(store, base, apply({1: ("x2", 1), 4: ("new", 4)}))
    theirs = commit(store, base, apply({2: None, 3: ("z", 30)}))
    outcome = merge_commits(store, ours, theirs, message="m", committer="t", now=NOW)
    assert outcome.kind == "merged"
    assert rows_at(store, outcome.commit_id) == {1: ("x2", 1), 3: ("z", 30), 4: ("new", 4)}
    record = store.get_commit(outcome.commit_id)
    assert record is not None
    assert record.parents == (ours, theirs)
    # Same row, different columns: merged cell by cell (as Dolt does).
    left = commit(store, base, apply({1: ("left", 1)}))
    right = commit(store, base, apply({1: ("x", 100)}))
    cellwise = merge_commits(store, left, right, message="m", committer="t", now=NOW)
    assert rows_at(store, cellwise.commit_id)[1] == ("left", 100)


@pytest.mark.parametrize(
    ("ours_change", "theirs_change"),
    [
        ({1: ("a", 1)}, {1: ("b", 1)}),  # same cell, different values
        ({1: None}, {1: ("b", 1)}),  # delete vs modify
        ({9: ("a", 1)}, {9: ("b", 2)}),  # both insert the same key differently
    ],
)
def test_conflicts_fail_the_merge(
    store: Store,
    ours_change: dict[int, tuple[str, int] | None],
    theirs_change: dict[int, tuple[str, int] | None],
) -> None:
    base = base_commit(store, {1: ("x", 1)})
    ours = commit(store, base, apply(ours_change))
    theirs = commit(store, base, apply(theirs_change))
    with pytest.raises(MergeConflict, match="conflict"):
        merge_commits(store, ours, theirs, message="m", committer="t", now=NOW)


def test_identical_changes_on_both_sides_do_not_conflict(store: Store) -> None:
    base = base_commit(store, {1: ("x", 1)})
    ours = commit(store, base, apply({1: ("same", 5), 2: ("n", 2)}))
    theirs = commit(store, base, apply({1: ("same", 5), 2: ("n", 2)}))
    outcome = merge_commits(store, ours, theirs, message="m", committer="t", now=NOW)
    assert rows_at(store, outcome.commit_id) == {1: ("same", 5), 2: ("n", 2)}


def test_table_added_on_one_side_is_taken(store: Store) -> None:
    base = base_commit(store, {1: ("x", 1)})
    ours = commit(store, base, apply({1: ("y", 1)}))

    def add_table(conn: sqlite3.Connection) -> None:
        conn.execute('CREATE TABLE extra ("id" TEXT NOT NULL PRIMARY KEY)')
        conn.execute("INSERT INTO extra VALUES ('e')")

    theirs = commit(store, base, add_table)
    outcome = merge_commits(store, ours, theirs, message="m", committer="t", now=NOW)
    with closing(connect(store.snapshot_path(outcome.commit_id))) as conn:
        assert conn.execute("SELECT id FROM extra").fetchall() == [("e",)]
    assert rows_at(store, outcome.commit_id) == {1: ("y", 1)}


values = st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 3))
change_values = st.one_of(st.none(), values)


@settings(max_examples=30, deadline=None)
@given(
    base=st.dictionaries(st.integers(0, 15), values, max_size=10),
    ours=st.dictionaries(st.integers(0, 23), change_values, max_size=8),
    theirs=st.dictionaries(st.integers(0, 23), change_values, max_size=8),
)
def test_merging_disjoint_changes_applies_both(
    base: Rows,
    ours: dict[int, tuple[str, int] | None],
    theirs: dict[int, tuple[str, int] | None],
) -> None:
    """Changes to disjoint keys always merge, into base + ours' changes + theirs' changes."""
    theirs = {k: v for k, v in theirs.items() if k not in ours}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp), IdSource())
        try:
            start = base_commit(store, base)
            ours_c = commit(store, start, apply(ours))
            theirs_c = commit(store, start, apply(theirs))
            outcome = merge_commits(store, ours_c, theirs_c, message="m", committer="t", now=NOW)
            expected = dict(base)
            for key, value in {**ours, **theirs}.items():
                if value is None:
                    expected.pop(key, None)
                else:
                    expected[key] = value
            assert rows_at(store, outcome.commit_id) == expected
            # Merging is symmetric in content.
            other = merge_commits(store, theirs_c, ours_c, message="m", committer="t", now=NOW)
            assert rows_at(store, other.commit_id) == expected
        finally:
            store.close()
