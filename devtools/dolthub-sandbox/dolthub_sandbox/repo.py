"""One database's view of the store: ref resolution, branches, history."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import SqlError
from .storage import BranchRecord, CommitRecord, Store

_COMMIT_ID = re.compile(r"^[0-9a-v]{32}$")
_ANCESTRY = re.compile(r"^(?P<base>.+?)(?P<steps>(?:~\d*|\^)+)$")


@dataclass(frozen=True)
class Repo:
    """``owner/name`` within ``store``."""

    store: Store
    owner: str
    name: str

    def branches(self) -> list[BranchRecord]:
        return self.store.branches(self.owner, self.name)

    def head(self, branch: str) -> str | None:
        return self.store.branch_head(self.owner, self.name, branch)

    def try_resolve(self, ref: str) -> str | None:
        """The commit a branch name, commit hash or ``ref~N``/``ref^`` names, or None."""
        head = self.head(ref)
        if head is not None:
            return head
        if _COMMIT_ID.match(ref):
            if self.store.reachable(self.owner, self.name, ref):
                return ref
            return None
        match = _ANCESTRY.match(ref)
        if match:
            commit = self.try_resolve(match.group("base"))
            for step in re.findall(r"~\d*|\^", match.group("steps")):
                count = int(step[1:]) if step.startswith("~") and len(step) > 1 else 1
                for _ in range(count):
                    record = self.store.get_commit(commit) if commit else None
                    commit = record.parents[0] if record and record.parents else None
            return commit
        return None

    def resolve(self, ref: str) -> str:
        """Like :meth:`try_resolve`, raising a Dolt-worded :class:`SqlError` when unknown."""
        commit = self.try_resolve(ref)
        if commit is None:
            raise SqlError(f"branch not found: {ref}")
        return commit

    def snapshot(self, commit_id: str) -> Path:
        return self.store.snapshot_path(commit_id)

    def commit(self, commit_id: str) -> CommitRecord:
        record = self.store.get_commit(commit_id)
        if record is None:
            raise SqlError(f"commit not found: {commit_id}")
        return record

    def log(self, commit_id: str) -> list[CommitRecord]:
        """History of a commit, newest first."""
        return self.store.ancestors(commit_id)

    def merge_base(self, a: str, b: str) -> str:
        base = self.store.merge_base(a, b)
        if base is None:
            raise SqlError("no common ancestor")
        return base
