"""Asynchronous operations: SQL writes, branch merges, forks and pull-request merges.

An operation is recorded when requested and becomes due at ``created + op_delay``. Due
operations of a database run, oldest first and under that database's lock, whenever a
request touches the database (:meth:`Operations.settle`) — so until an operation is
done nobody can observe its effect, exactly as with DoltHub's background jobs, and no
background thread is needed. Results are stored with the operation and survive restarts.

Write results (``result["outcome"]``): ``success`` (with commit ids), ``noop`` (nothing
changed: DoltHub's null ``toCommitId``) or ``error`` (with a message).
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from typing import Any

from . import dialect, sqlrun
from .config import SandboxConfig
from .errors import SqlError
from .merge import merge_commits
from .repo import Repo
from .snapshot import connect, same_content
from .storage import BranchRecord, OperationRecord, Store

Result = dict[str, Any]
log = logging.getLogger("dolthub_sandbox.operations")


def _error(message: str) -> Result:
    return {"outcome": "error", "message": message}


def _noop(head: str) -> Result:
    return {"outcome": "noop", "from_commit_id": head}


def _success(from_commit: str, to_commit: str, rows: int) -> Result:
    return {
        "outcome": "success",
        "from_commit_id": from_commit,
        "to_commit_id": to_commit,
        "rows": rows,
    }


class Operations:
    """Creates operations and runs them when they are due."""

    def __init__(self, store: Store, config: SandboxConfig) -> None:
        self.store = store
        self.config = config

    # ------------------------------------------------------------------ submit

    def _times(self) -> tuple[float, float]:
        created = self.config.clock().timestamp()
        return created, created + self.config.op_delay

    def submit(
        self,
        kind: str,
        target: tuple[str, str],
        user: str,
        params: dict[str, Any],
        name: str | None = None,
    ) -> str:
        """Record an operation against ``target`` and run it now if it is already due."""
        name = name or f"users/{user}/userOperations/{self.config.ids.uuid()}"
        created, ready = self._times()
        assert kind in ("write", "fork", "pull_merge")
        self.store.add_operation(name, kind, target, user, params, created, ready)  # type: ignore[arg-type]
        self.settle(*target)
        return name

    # ------------------------------------------------------------------ run

    def settle(self, owner: str, database: str) -> None:
        """Run every due operation targeting ``owner/database``, oldest first."""
        pending = self.store.pending_operations(owner, database)
        if not pending:
            return
        now = self.config.clock().timestamp()
        with self.store.database_lock(owner, database):
            for op in pending:
                if op.ready_at > now:
                    break
                current = self.store.get_operation(op.name)
                if current is None or current.done:
                    continue
                self.store.finish_operation(op.name, self._run(op))

    def settle_all(self) -> None:
        """Run every due operation of every database (at start-up)."""
        for owner, database in self.store.all_pending_targets():
            self.settle(owner, database)

    def get(self, name: str) -> OperationRecord | None:
        """The operation, after running it if it has become due."""
        op = self.store.get_operation(name)
        if op is None or op.done:
            return op
        self.settle(op.owner, op.database)
        return self.store.get_operation(name)

    def _run(self, op: OperationRecord) -> Result:
        try:
            if op.kind == "write":
                return self._write(op)
            if op.kind == "fork":
                return self._fork(op)
            return self._pull_merge(op)
        except SqlError as err:
            return _error(err.message)
        except Exception as err:
            # An operation must always finish: a pending one would block its database.
            log.exception("operation %s failed unexpectedly", op.name)
            return _error(f"internal error: {type(err).__name__}: {err}")

    # ------------------------------------------------------------------ writes

    def _write(self, op: OperationRecord) -> Result:
        repo = Repo(self.store, op.owner, op.database)
        from_branch, to_branch = str(op.params["from"]), str(op.params["to"])
        query = op.params.get("query")
        from_head = repo.head(from_branch)
        if from_head is None:
            return _error(f"branch not found: {from_branch}")
        to_head = repo.head(to_branch)
        if query is None:
            return self._merge_branch(op, repo, from_branch, to_branch, from_head, to_head)
        parsed = dialect.parse_statement(str(query))
        if parsed.call is not None:
            return self._procedure(op, repo, parsed.call, to_branch, to_head or from_head)
        return self._statement(op, repo, parsed, from_head, to_branch, to_head)

    def _statement(
        self,
        op: OperationRecord,
        repo: Repo,
        parsed: dialect.Parsed,
        from_head: str,
        to_branch: str,
        to_head: str | None,
    ) -> Result:
        """Copy from-branch content, run the statement, commit to the to-branch if it changed
        anything (the to-branch is created from the from-branch when missing)."""
        scratch = self.store.scratch_copy(from_head)
        try:
            with closing(connect(scratch, writable=True)) as conn:
                sqlrun.register_functions(conn, self.config.clock)
                hooks = sqlrun.DoltEmulation(conn, repo, to_branch, from_head)
                rows = sqlrun.run_write(conn, parsed, hooks)
            changed = (rows > 0 or parsed.kind == "ddl") and not same_content(
                self.store.snapshot_path(from_head), scratch
            )
            if not changed:
                self.store.discard(scratch)
                return _noop(to_head or from_head)
            parents: tuple[str, ...] = (to_head or from_head,)
            if to_head and to_head != from_head and not self.store.is_ancestor(from_head, to_head):
                parents = (to_head, from_head)
            commit = self.store.commit_snapshot(
                scratch,
                parents=parents,
                message=str(op.params.get("message") or parsed.text),
                committer=op.user,
                now=self.config.clock(),
            )
        except (SqlError, sqlite3.Error):
            self.store.discard(scratch)
            raise
        self.store.set_branch(repo.owner, repo.name, to_branch, commit)
        return _success(to_head or from_head, commit, rows)

    def _merge_branch(
        self,
        op: OperationRecord,
        repo: Repo,
        from_branch: str,
        to_branch: str,
        from_head: str,
        to_head: str | None,
    ) -> Result:
        """The empty-query write: merge from-branch into to-branch. DoltHub then reports the
        merge commit as ``from_commit_id`` and an empty ``to_commit_id``."""
        if to_head is None:
            self.store.set_branch(repo.owner, repo.name, to_branch, from_head)
            return _success(from_head, "", 0)
        outcome = merge_commits(
            self.store,
            to_head,
            from_head,
            message=f"Merge branch '{from_branch}' into {to_branch}",
            committer=op.user,
            now=self.config.clock(),
        )
        self.store.set_branch(repo.owner, repo.name, to_branch, outcome.commit_id)
        return _success(outcome.commit_id, "", outcome.rows_changed)

    # ------------------------------------------------------------------ procedures

    def _procedure(
        self,
        op: OperationRecord,
        repo: Repo,
        call: dialect.ProcedureCall,
        to_branch: str,
        head: str,
    ) -> Result:
        if call.name == "dolt_branch":
            self._dolt_branch(repo, call.args, to_branch, head)
            return _success(head, head, 0)
        if call.name == "dolt_merge":
            return self._dolt_merge(op, repo, call.args, to_branch, head)
        if call.name in ("dolt_add", "dolt_commit"):
            # Every write is committed automatically, so there is never anything to commit.
            return _noop(head)
        raise SqlError(f'stored procedure "{call.name}" is not supported by this API')

    def _dolt_branch(self, repo: Repo, args: list[str], current: str, head: str) -> None:
        flags = [a for a in args if a.startswith("-")]
        names = [a for a in args if not a.startswith("-")]
        if any(f in ("-d", "-D", "--delete") for f in flags):
            if not names:
                raise SqlError("error: branch name required for delete")
            for name in names:
                if name in (current, "main"):
                    raise SqlError(f"error: cannot delete the checked out branch '{name}'")
                if not self.store.delete_branch(repo.owner, repo.name, name):
                    raise SqlError(f"branch not found: {name}")
            return
        force = any(f in ("-f", "--force") for f in flags)
        if any(f in ("-c", "--copy", "-m", "--move") for f in flags):
            if len(names) != 2:
                raise SqlError("error: copy and move need a source and a destination branch")
            source, dest = names
            source_head = repo.head(source)
            if source_head is None:
                raise SqlError(f"branch not found: {source}")
            if repo.head(dest) is not None and not force:
                raise SqlError(f"fatal: A branch named '{dest}' already exists.")
            self.store.set_branch(repo.owner, repo.name, dest, source_head)
            if any(f in ("-m", "--move") for f in flags):
                self.store.delete_branch(repo.owner, repo.name, source)
            return
        if not names or len(names) > 2:
            raise SqlError("error: DOLT_BRANCH needs a branch name and optional start point")
        new = names[0]
        _check_branch_name(new)
        if repo.head(new) is not None and not force:
            raise SqlError(f"fatal: A branch named '{new}' already exists.")
        start = repo.resolve(names[1]) if len(names) == 2 else head
        self.store.set_branch(repo.owner, repo.name, new, start)

    def _dolt_merge(
        self, op: OperationRecord, repo: Repo, args: list[str], to_branch: str, head: str
    ) -> Result:
        names: list[str] = []
        message = None
        no_ff = False
        i = 0
        while i < len(args):
            arg = args[i]
            if arg in ("-m", "--message") and i + 1 < len(args):
                message = args[i + 1]
                i += 1
            elif arg == "--no-ff":
                no_ff = True
            elif arg in ("--squash", "--abort", "--ff-only") or arg.startswith("-"):
                raise SqlError(f"DOLT_MERGE option {arg} is not supported by this API")
            else:
                names.append(arg)
            i += 1
        if len(names) != 1:
            raise SqlError("DOLT_MERGE needs exactly one branch to merge")
        theirs = repo.resolve(names[0])
        message = message or f"Merge branch '{names[0]}' into {to_branch}"
        now = self.config.clock()
        outcome = merge_commits(
            self.store, head, theirs, message=message, committer=op.user, now=now
        )
        if outcome.kind == "up_to_date":
            return _noop(head)
        new_head = outcome.commit_id
        if outcome.kind == "fast_forward" and no_ff:
            new_head = self.store.commit_snapshot(
                self.store.scratch_copy(theirs),
                parents=(head, theirs),
                message=message,
                committer=op.user,
                now=now,
            )
        self.store.set_branch(repo.owner, repo.name, to_branch, new_head)
        return _success(head, new_head, outcome.rows_changed)

    # ------------------------------------------------------------------ forks

    def _fork(self, op: OperationRecord) -> Result:
        parent_owner, parent_name = str(op.params["parent_owner"]), str(op.params["parent_name"])
        parent = self.store.get_database(parent_owner, parent_name)
        if parent is None:
            return _error(f"no such repository: {parent_owner}/{parent_name}")
        if self.store.get_database(op.owner, op.database) is not None:
            return _error(f"database {op.owner}/{op.database} already exists")
        branches = [
            BranchRecord(b.name, b.commit_id)
            for b in self.store.branches(parent_owner, parent_name)
        ]
        self.store.create_database(
            op.owner,
            op.database,
            parent.visibility,
            parent.description,
            author=op.user,
            now=self.config.clock(),
            parent=(parent_owner, parent_name),
            branches=branches,
        )
        return {"outcome": "success", "owner_name": op.owner, "database_name": op.database}

    # ------------------------------------------------------------------ pull merges

    def _pull_merge(self, op: OperationRecord) -> Result:
        pull_id = int(op.params["pull_id"])
        pull = self.store.get_pull(op.owner, op.database, pull_id)
        if pull is None:
            return _error(f"pull request {pull_id} not found")
        if pull.state != "Open":
            return _error(f"pull request {pull_id} is {pull.state.lower()}, not open")
        source = Repo(self.store, pull.from_owner, pull.from_database)
        if self.store.get_database(pull.from_owner, pull.from_database) is None:
            return _error(f"no such repository: {pull.from_owner}/{pull.from_database}")
        theirs = source.head(pull.from_branch)
        if theirs is None:
            return _error(f"branch not found: {pull.from_branch}")
        dest = Repo(self.store, op.owner, op.database)
        ours = dest.head(pull.to_branch)
        if ours is None:
            return _error(f"branch not found: {pull.to_branch}")
        outcome = merge_commits(
            self.store,
            ours,
            theirs,
            message=f"Merge pull request #{pull_id} from "
            f"{pull.from_owner}/{pull.from_database}:{pull.from_branch}",
            committer=op.user,
            now=self.config.clock(),
        )
        self.store.set_branch(op.owner, op.database, pull.to_branch, outcome.commit_id)
        self.store.update_pull(
            op.owner, op.database, pull_id, now=self.config.clock(), state="Merged"
        )
        return {"outcome": "success", "commit_id": outcome.commit_id}


def _check_branch_name(name: str) -> None:
    """Refuse names Dolt refuses (a subset of git's ref-name rules)."""
    bad = (
        not name
        or name.startswith(("-", "/"))
        or name.endswith(("/", ".lock", "."))
        or ".." in name
        or "//" in name
        or "@{" in name
        or any(c in name for c in " ~^:?*[\\\x7f")
        or any(ord(c) < 32 for c in name)
    )
    if bad:
        raise SqlError(f"invalid branch name: {name!r}")


def check_branch_name(name: str) -> None:
    """Public form of the branch-name check, for the branches endpoint."""
    _check_branch_name(name)
