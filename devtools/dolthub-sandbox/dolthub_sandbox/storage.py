"""Durable state: accounts, databases, a Dolt-like commit graph, operations and pulls.

Layout under the data directory:

* ``meta.sqlite3`` — one SQLite database with every piece of metadata (users, tokens,
  owners, databases, branches, commits, operations, pulls, comments, fault settings).
* ``objects/<xx>/<commit>.sqlite3`` — one immutable SQLite file per commit holding the
  database content at that commit. The store is shared by all databases, so a fork
  shares its parent's history by pointing its branches at the same commits.
* ``tmp/`` — scratch copies being written; moved into ``objects`` when committed.

All methods are thread-safe: metadata access is serialised by one lock, and
:meth:`Store.database_lock` serialises the writers of one database.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from .config import IdSource

Visibility = Literal["public", "private"]
PullState = Literal["Open", "Merged", "Closed"]
OperationKind = Literal["write", "fork", "pull_merge"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    user_name TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    token_sha256 TEXT PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES users(user_name)
);
CREATE TABLE IF NOT EXISTS owners (
    owner_name TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('user', 'org'))
);
CREATE TABLE IF NOT EXISTS owner_members (
    owner_name TEXT NOT NULL REFERENCES owners(owner_name),
    user_name TEXT NOT NULL REFERENCES users(user_name),
    PRIMARY KEY (owner_name, user_name)
);
CREATE TABLE IF NOT EXISTS databases (
    owner_name TEXT NOT NULL,
    database_name TEXT NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
    description TEXT NOT NULL DEFAULT '',
    parent_owner TEXT,
    parent_database TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (owner_name, database_name)
);
CREATE TABLE IF NOT EXISTS commits (
    commit_id TEXT PRIMARY KEY,
    parents TEXT NOT NULL,
    message TEXT NOT NULL,
    committer TEXT NOT NULL,
    email TEXT NOT NULL,
    committed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS branches (
    owner_name TEXT NOT NULL,
    database_name TEXT NOT NULL,
    branch_name TEXT NOT NULL,
    commit_id TEXT NOT NULL REFERENCES commits(commit_id),
    PRIMARY KEY (owner_name, database_name, branch_name)
);
CREATE TABLE IF NOT EXISTS operations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    operation_name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('write', 'fork', 'pull_merge')),
    owner_name TEXT NOT NULL,
    database_name TEXT NOT NULL,
    user_name TEXT NOT NULL,
    params TEXT NOT NULL,
    created_at REAL NOT NULL,
    ready_at REAL NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done')),
    result TEXT
);
CREATE INDEX IF NOT EXISTS operations_by_target
    ON operations (owner_name, database_name, state, seq);
CREATE TABLE IF NOT EXISTS pulls (
    owner_name TEXT NOT NULL,
    database_name TEXT NOT NULL,
    pull_id INTEGER NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('Open', 'Merged', 'Closed')),
    from_owner TEXT NOT NULL,
    from_database TEXT NOT NULL,
    from_branch TEXT NOT NULL,
    to_branch TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (owner_name, database_name, pull_id)
);
CREATE TABLE IF NOT EXISTS pull_comments (
    comment_id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_name TEXT NOT NULL,
    database_name TEXT NOT NULL,
    pull_id INTEGER NOT NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS faults (
    owner_name TEXT NOT NULL,
    database_name TEXT NOT NULL,
    settings TEXT NOT NULL,
    PRIMARY KEY (owner_name, database_name)
);
"""


def iso(moment: datetime) -> str:
    """A UTC instant as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (the shape DoltHub answers with)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def token_digest(token: str) -> str:
    """The stored form of an API token (tokens themselves are never written to disk)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class DatabaseRecord:
    owner: str
    name: str
    visibility: Visibility
    description: str
    parent_owner: str | None
    parent_name: str | None
    created_at: str


@dataclass(frozen=True)
class CommitRecord:
    commit_id: str
    parents: tuple[str, ...]
    message: str
    committer: str
    email: str
    committed_at: str  # 'YYYY-MM-DD HH:MM:SS' UTC, as Dolt's system tables show it


@dataclass(frozen=True)
class BranchRecord:
    name: str
    commit_id: str


@dataclass(frozen=True)
class OperationRecord:
    name: str
    kind: OperationKind
    owner: str
    database: str
    user: str
    params: dict[str, Any]
    created_at: float
    ready_at: float
    done: bool
    result: dict[str, Any] | None


@dataclass(frozen=True)
class PullRecord:
    owner: str
    database: str
    pull_id: int
    title: str
    description: str
    state: PullState
    from_owner: str
    from_database: str
    from_branch: str
    to_branch: str
    author: str
    created_at: str
    updated_at: str


class Store:
    """The sandbox's durable state under one data directory."""

    def __init__(self, data_dir: Path, ids: IdSource) -> None:
        self.data_dir = data_dir
        self.ids = ids
        self.objects_dir = data_dir / "objects"
        self.tmp_dir = data_dir / "tmp"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.objects_dir.mkdir(exist_ok=True)
        self.tmp_dir.mkdir(exist_ok=True)
        for leftover in self.tmp_dir.iterdir():
            # Scratch files of writes interrupted by a crash; never committed.
            leftover.unlink(missing_ok=True)
        self._lock = threading.RLock()
        self._db_locks: dict[tuple[str, str], threading.Lock] = {}
        self._commit_cache: dict[str, CommitRecord] = {}
        self._conn = sqlite3.connect(
            data_dir / "meta.sqlite3", check_same_thread=False, isolation_level=None
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(_SCHEMA)

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def is_empty(self) -> bool:
        """True when no account or database exists yet (a fresh data directory)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM databases)"
            ).fetchone()
        return int(row[0]) == 0

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def database_lock(self, owner: str, database: str) -> threading.Lock:
        """The lock every writer of ``owner/database`` holds while it changes branches."""
        with self._lock:
            return self._db_locks.setdefault((owner, database), threading.Lock())

    # ------------------------------------------------------------------ accounts

    def add_user(self, name: str, email: str, token: str, now: datetime) -> None:
        """Create a user with its personal namespace and one API token."""
        with self._tx() as conn:
            conn.execute("INSERT INTO users VALUES (?, ?, ?)", (name, email, iso(now)))
            conn.execute("INSERT INTO owners VALUES (?, 'user')", (name,))
            conn.execute("INSERT INTO owner_members VALUES (?, ?)", (name, name))
            conn.execute("INSERT INTO tokens VALUES (?, ?)", (token_digest(token), name))

    def add_org(self, name: str, members: list[str]) -> None:
        """Create an organisation (an owner namespace) whose members may write its databases."""
        with self._tx() as conn:
            conn.execute("INSERT OR IGNORE INTO owners VALUES (?, 'org')", (name,))
            for member in members:
                conn.execute("INSERT OR IGNORE INTO owner_members VALUES (?, ?)", (name, member))

    def user_for_token(self, token: str) -> str | None:
        rows = self._query(
            "SELECT user_name FROM tokens WHERE token_sha256 = ?", (token_digest(token),)
        )
        return str(rows[0][0]) if rows else None

    def user_email(self, user: str) -> str:
        rows = self._query("SELECT email FROM users WHERE user_name = ?", (user,))
        return str(rows[0][0]) if rows else f"{user}@users.noreply.dolthub.com"

    def is_member(self, owner: str, user: str) -> bool:
        """True when ``user`` may write databases owned by ``owner``."""
        rows = self._query(
            "SELECT 1 FROM owner_members WHERE owner_name = ? AND user_name = ?", (owner, user)
        )
        return bool(rows)

    def owner_exists(self, owner: str) -> bool:
        return bool(self._query("SELECT 1 FROM owners WHERE owner_name = ?", (owner,)))

    # ------------------------------------------------------------------ databases

    def get_database(self, owner: str, name: str) -> DatabaseRecord | None:
        rows = self._query(
            "SELECT owner_name, database_name, visibility, description, parent_owner,"
            " parent_database, created_at FROM databases"
            " WHERE owner_name = ? AND database_name = ?",
            (owner, name),
        )
        if not rows:
            return None
        r = rows[0]
        return DatabaseRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6])

    def create_database(
        self,
        owner: str,
        name: str,
        visibility: Visibility,
        description: str,
        *,
        author: str,
        now: datetime,
        parent: tuple[str, str] | None = None,
        branches: list[BranchRecord] | None = None,
    ) -> DatabaseRecord:
        """Create a database. Without ``branches`` it gets ``main`` at a new empty commit
        (as DoltHub initialises a repository); a fork passes its parent's branches."""
        if branches is None:
            initial = self.commit_snapshot(
                self.empty_snapshot(),
                parents=(),
                message="Initialize data repository",
                committer=author,
                now=now,
            )
            branches = [BranchRecord("main", initial)]
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO databases VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    owner,
                    name,
                    visibility,
                    description,
                    parent[0] if parent else None,
                    parent[1] if parent else None,
                    iso(now),
                ),
            )
            for branch in branches:
                conn.execute(
                    "INSERT INTO branches VALUES (?, ?, ?, ?)",
                    (owner, name, branch.name, branch.commit_id),
                )
        record = self.get_database(owner, name)
        assert record is not None
        return record

    def root_of(self, owner: str, name: str) -> tuple[str, str]:
        """The database at the top of the fork chain of ``owner/name``."""
        current = (owner, name)
        seen = {current}
        while (record := self.get_database(*current)) and record.parent_owner:
            parent = (record.parent_owner, record.parent_name or name)
            if parent in seen or self.get_database(*parent) is None:
                break
            seen.add(parent)
            current = parent
        return current

    # ------------------------------------------------------------------ branches

    def branches(self, owner: str, database: str) -> list[BranchRecord]:
        rows = self._query(
            "SELECT branch_name, commit_id FROM branches"
            " WHERE owner_name = ? AND database_name = ? ORDER BY branch_name",
            (owner, database),
        )
        return [BranchRecord(r[0], r[1]) for r in rows]

    def branch_head(self, owner: str, database: str, branch: str) -> str | None:
        rows = self._query(
            "SELECT commit_id FROM branches"
            " WHERE owner_name = ? AND database_name = ? AND branch_name = ?",
            (owner, database, branch),
        )
        return str(rows[0][0]) if rows else None

    def set_branch(self, owner: str, database: str, branch: str, commit_id: str) -> None:
        """Point ``branch`` at ``commit_id``, creating the branch when it is missing."""
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO branches VALUES (?, ?, ?, ?)"
                " ON CONFLICT (owner_name, database_name, branch_name)"
                " DO UPDATE SET commit_id = excluded.commit_id",
                (owner, database, branch, commit_id),
            )

    def delete_branch(self, owner: str, database: str, branch: str) -> bool:
        with self._tx() as conn:
            cur = conn.execute(
                "DELETE FROM branches"
                " WHERE owner_name = ? AND database_name = ? AND branch_name = ?",
                (owner, database, branch),
            )
            return cur.rowcount > 0

    # ------------------------------------------------------------------ commits

    def snapshot_path(self, commit_id: str) -> Path:
        return self.objects_dir / commit_id[:2] / f"{commit_id}.sqlite3"

    def empty_snapshot(self) -> Path:
        """A new scratch file holding an empty database."""
        path = self.tmp_dir / f"{self.ids.uuid()}.sqlite3"
        conn = sqlite3.connect(path)
        try:
            # Writes the header page, so the file is a valid database for read-only opens.
            conn.execute("PRAGMA user_version = 1")
            conn.commit()
        finally:
            conn.close()
        return path

    def scratch_copy(self, commit_id: str) -> Path:
        """A writable scratch copy of the content at ``commit_id``."""
        path = self.tmp_dir / f"{self.ids.uuid()}.sqlite3"
        shutil.copyfile(self.snapshot_path(commit_id), path)
        os.chmod(path, 0o644)
        return path

    def commit_snapshot(
        self,
        scratch: Path,
        *,
        parents: tuple[str, ...],
        message: str,
        committer: str,
        now: datetime,
    ) -> str:
        """Turn a scratch file into an immutable commit; returns the new commit id."""
        commit_id = self.ids.commit_id()
        target = self.snapshot_path(commit_id)
        target.parent.mkdir(exist_ok=True)
        with open(scratch, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(scratch, 0o444)
        os.replace(scratch, target)
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO commits VALUES (?, ?, ?, ?, ?, ?)",
                (
                    commit_id,
                    " ".join(parents),
                    message,
                    committer,
                    self.user_email(committer),
                    now.strftime("%Y-%m-%d %H:%M:%S"),
                ),
            )
        return commit_id

    def discard(self, scratch: Path) -> None:
        scratch.unlink(missing_ok=True)

    def get_commit(self, commit_id: str) -> CommitRecord | None:
        cached = self._commit_cache.get(commit_id)
        if cached is not None:
            return cached
        rows = self._query(
            "SELECT commit_id, parents, message, committer, email, committed_at"
            " FROM commits WHERE commit_id = ?",
            (commit_id,),
        )
        if not rows:
            return None
        r = rows[0]
        record = CommitRecord(
            r[0], tuple(p for p in str(r[1]).split() if p), r[2], r[3], r[4], r[5]
        )
        with self._lock:
            # Commits never change, so a cache can never be stale.
            self._commit_cache[commit_id] = record
        return record

    def ancestors(self, commit_id: str) -> list[CommitRecord]:
        """``commit_id`` and every ancestor, newest first (breadth-first, each once)."""
        seen: set[str] = set()
        out: list[CommitRecord] = []
        queue = deque([commit_id])
        while queue:
            current = queue.popleft()
            if current in seen:
                continue
            seen.add(current)
            record = self.get_commit(current)
            if record is None:
                continue
            out.append(record)
            queue.extend(record.parents)
        return out

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return any(c.commit_id == ancestor for c in self.ancestors(descendant))

    def merge_base(self, a: str, b: str) -> str | None:
        """The nearest common ancestor of two commits (None when histories are unrelated)."""
        a_side = {c.commit_id for c in self.ancestors(a)}
        for record in self.ancestors(b):
            if record.commit_id in a_side:
                return record.commit_id
        return None

    def reachable(self, owner: str, database: str, commit_id: str) -> bool:
        """True when ``commit_id`` is in the history of some branch of the database."""
        return any(
            self.is_ancestor(commit_id, branch.commit_id)
            for branch in self.branches(owner, database)
        )

    # ------------------------------------------------------------------ operations

    def add_operation(
        self,
        name: str,
        kind: OperationKind,
        target: tuple[str, str],
        user: str,
        params: dict[str, Any],
        created_at: float,
        ready_at: float,
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO operations (operation_name, kind, owner_name, database_name,"
                " user_name, params, created_at, ready_at, state)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
                (name, kind, target[0], target[1], user, json.dumps(params), created_at, ready_at),
            )

    @staticmethod
    def _operation(row: tuple[Any, ...]) -> OperationRecord:
        return OperationRecord(
            name=row[0],
            kind=row[1],
            owner=row[2],
            database=row[3],
            user=row[4],
            params=json.loads(row[5]),
            created_at=float(row[6]),
            ready_at=float(row[7]),
            done=row[8] == "done",
            result=json.loads(row[9]) if row[9] else None,
        )

    _OP_COLUMNS = (
        "operation_name, kind, owner_name, database_name, user_name, params,"
        " created_at, ready_at, state, result"
    )

    def get_operation(self, name: str) -> OperationRecord | None:
        rows = self._query(
            f"SELECT {self._OP_COLUMNS} FROM operations WHERE operation_name = ?",  # noqa: S608
            (name,),
        )
        return self._operation(rows[0]) if rows else None

    def pending_operations(self, owner: str, database: str) -> list[OperationRecord]:
        """Unfinished operations targeting the database, oldest first."""
        rows = self._query(
            f"SELECT {self._OP_COLUMNS} FROM operations"  # noqa: S608
            " WHERE owner_name = ? AND database_name = ? AND state = 'pending' ORDER BY seq",
            (owner, database),
        )
        return [self._operation(r) for r in rows]

    def all_pending_targets(self) -> list[tuple[str, str]]:
        rows = self._query(
            "SELECT DISTINCT owner_name, database_name FROM operations WHERE state = 'pending'"
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    def finish_operation(self, name: str, result: dict[str, Any]) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE operations SET state = 'done', result = ? WHERE operation_name = ?",
                (json.dumps(result), name),
            )

    # ------------------------------------------------------------------ pulls

    _PULL_COLUMNS = (
        "owner_name, database_name, pull_id, title, description, state, from_owner,"
        " from_database, from_branch, to_branch, author, created_at, updated_at"
    )

    def add_pull(
        self,
        owner: str,
        database: str,
        *,
        title: str,
        description: str,
        from_ref: tuple[str, str, str],
        to_branch: str,
        author: str,
        now: datetime,
    ) -> PullRecord:
        """Open a pull request with the database's next numeric id."""
        with self._tx() as conn:
            (next_id,) = conn.execute(
                "SELECT COALESCE(MAX(pull_id), 0) + 1 FROM pulls"
                " WHERE owner_name = ? AND database_name = ?",
                (owner, database),
            ).fetchone()
            stamp = iso(now)
            conn.execute(
                f"INSERT INTO pulls ({self._PULL_COLUMNS})"  # noqa: S608
                " VALUES (?,?,?,?,?,'Open',?,?,?,?,?,?,?)",
                (
                    owner,
                    database,
                    next_id,
                    title,
                    description,
                    *from_ref,
                    to_branch,
                    author,
                    stamp,
                    stamp,
                ),
            )
        pull = self.get_pull(owner, database, int(next_id))
        assert pull is not None
        return pull

    def get_pull(self, owner: str, database: str, pull_id: int) -> PullRecord | None:
        rows = self._query(
            f"SELECT {self._PULL_COLUMNS} FROM pulls"  # noqa: S608
            " WHERE owner_name = ? AND database_name = ? AND pull_id = ?",
            (owner, database, pull_id),
        )
        return PullRecord(*rows[0]) if rows else None

    def list_pulls(
        self, owner: str, database: str, *, before_id: int | None, limit: int
    ) -> list[PullRecord]:
        """Pulls of the database, newest first, with ids below ``before_id`` when given."""
        rows = self._query(
            f"SELECT {self._PULL_COLUMNS} FROM pulls"  # noqa: S608
            " WHERE owner_name = ? AND database_name = ? AND pull_id < ?"
            " ORDER BY pull_id DESC LIMIT ?",
            (owner, database, before_id if before_id is not None else 2**62, limit),
        )
        return [PullRecord(*r) for r in rows]

    def open_pull_from(
        self, owner: str, database: str, from_ref: tuple[str, str, str], to_branch: str
    ) -> PullRecord | None:
        rows = self._query(
            f"SELECT {self._PULL_COLUMNS} FROM pulls"  # noqa: S608
            " WHERE owner_name = ? AND database_name = ? AND state = 'Open'"
            " AND from_owner = ? AND from_database = ? AND from_branch = ? AND to_branch = ?",
            (owner, database, *from_ref, to_branch),
        )
        return PullRecord(*rows[0]) if rows else None

    def update_pull(
        self,
        owner: str,
        database: str,
        pull_id: int,
        *,
        now: datetime,
        title: str | None = None,
        description: str | None = None,
        state: PullState | None = None,
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE pulls SET title = COALESCE(?, title),"
                " description = COALESCE(?, description), state = COALESCE(?, state),"
                " updated_at = ? WHERE owner_name = ? AND database_name = ? AND pull_id = ?",
                (title, description, state, iso(now), owner, database, pull_id),
            )

    def add_comment(
        self, owner: str, database: str, pull_id: int, author: str, body: str, now: datetime
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO pull_comments (owner_name, database_name, pull_id, author, body,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (owner, database, pull_id, author, body, iso(now)),
            )

    def comments(self, owner: str, database: str, pull_id: int) -> list[tuple[str, str]]:
        """(author, body) of each comment on a pull, oldest first."""
        rows = self._query(
            "SELECT author, body FROM pull_comments"
            " WHERE owner_name = ? AND database_name = ? AND pull_id = ? ORDER BY comment_id",
            (owner, database, pull_id),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    # ------------------------------------------------------------------ faults

    def save_faults(self, owner: str, database: str, settings: dict[str, Any] | None) -> None:
        with self._tx() as conn:
            if settings is None:
                conn.execute(
                    "DELETE FROM faults WHERE owner_name = ? AND database_name = ?",
                    (owner, database),
                )
            else:
                conn.execute(
                    "INSERT INTO faults VALUES (?, ?, ?) ON CONFLICT (owner_name, database_name)"
                    " DO UPDATE SET settings = excluded.settings",
                    (owner, database, json.dumps(settings)),
                )

    def load_faults(self) -> dict[tuple[str, str], dict[str, Any]]:
        rows = self._query("SELECT owner_name, database_name, settings FROM faults")
        return {(str(r[0]), str(r[1])): json.loads(r[2]) for r in rows}
