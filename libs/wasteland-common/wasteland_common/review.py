"""Reviewing an upstream pull request: what it does to the commons, whose it is, what a
maintainer should know before merging it, and whether it merges cleanly.

Everything here reads a pull request's row changes (``dolthub.diffs``: what its branch
changed since it left ``main``) and, where noted, the upstream's current rows. board-sync
uses it to list the review inbox; the control server uses it again, on fresh reads, right
before it merges.

**Kinds** (protocol spec §2, and what the service itself writes):

* ``post``: one ``wanted`` row added (nothing else but that item);
* ``claim`` open→claimed, ``unclaim`` claimed→open, ``done`` →in_review from open or
  claimed (a claim and a ``done`` on one branch), ``accept`` in_review→completed with a
  stamp added, ``close`` the same without a stamp, ``reject`` in_review→claimed: one
  ``wanted`` row modified, with the completion and stamp rows that step writes;
* ``registration``: one ``rigs`` row added or updated (``wl join`` writes
  ``INSERT … ON DUPLICATE KEY UPDATE``), nothing else; ``town``: an agent rig
  (``rig_type='agent'``) with its ``rig_links`` row from its parent rig;
* ``fork_sync``: the upstream's own ``main`` proposed to a fork (the service opens these
  on forks, so an upstream's list never holds one);
* ``other``: anything else, and a pull request whose changes cannot be read.

**Mergeable** (:func:`conflicts`): Dolt merges cell by cell from the merge base, so a pull
request conflicts when a row it changes was changed differently on the upstream since its
branch was cut: some column where the branch, the upstream and the base all differ; a row
both added with different values; a row the branch changes and the upstream deleted (or
the reverse). It is checked against the upstream's rows as they are now, and ignores what
rows cannot show (schema changes, constraint violations such as ``CHECK (author <>
subject)`` or a unique key across rows).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, get_args

from .dolthub import DoltHubClient
from .dolthub.diffs import RowChange, by_table, read_rows

PullKind = Literal[
    "registration",
    "post",
    "claim",
    "unclaim",
    "done",
    "accept",
    "reject",
    "close",
    "town",
    "fork_sync",
    "other",
]
PULL_KINDS: Final[tuple[PullKind, ...]] = get_args(PullKind)
Row = Mapping[str, str | None]
RowRef = tuple[str, str]  # (table, primary key)

AGENT: Final = "agent"
BRANCH_PREFIX: Final = "wl/"
REGISTER: Final = "register"
# Tables a lifecycle step may touch besides `wanted`.
_ITEM_TABLES: Final = frozenset({"wanted", "completions", "stamps"})
_RIG_TABLES: Final = frozenset({"rigs", "rig_links"})

DONE_NOT_BY_CLAIMER: Final = "done_not_by_claimer"
CLAIM_FOR_ANOTHER_RIG: Final = "claim_for_another_rig"


@dataclass(frozen=True)
class PullSource:
    """Where a pull request comes from and goes to (``owner/db:branch``)."""

    from_owner: str
    from_db: str
    from_branch: str
    to_owner: str
    to_db: str
    to_branch: str = "main"


@dataclass(frozen=True)
class Branch:
    """What a `wl` branch name says: ``wl/<rig>/<wanted id>`` or ``wl/register/<rig>``."""

    rig: str
    wanted_id: str | None


@dataclass(frozen=True)
class Classification:
    """A pull request's kind, the wanted item it is about and the rig it comes from
    (None when unknown)."""

    kind: PullKind
    wanted_id: str | None = None
    author_rig: str | None = None


@dataclass(frozen=True)
class PullWarning:
    """Something a maintainer should see before merging (``code`` is stable)."""

    code: str
    message: str


def parse_branch(name: str) -> Branch | None:
    """The rig (and item) of a `wl` branch name; None for any other branch."""
    parts = name.split("/")
    if len(parts) != 3 or not name.startswith(BRANCH_PREFIX) or not parts[1] or not parts[2]:
        return None
    if parts[1] == REGISTER:
        return Branch(rig=parts[2], wanted_id=None)
    return Branch(rig=parts[1], wanted_id=parts[2])


def is_fork_sync(source: PullSource, upstream_owner: str, upstream_db: str) -> bool:
    """Whether the pull request proposes the upstream's own ``main`` to another database
    (a fork sync, as ``wl_control_server.forks`` opens them)."""
    return (source.from_owner, source.from_db, source.from_branch) == (
        upstream_owner,
        upstream_db,
        "main",
    ) and (source.to_owner, source.to_db) != (upstream_owner, upstream_db)


def classify(
    source: PullSource,
    changes: Sequence[RowChange] | None,
    *,
    upstream_owner: str,
    upstream_db: str,
    rig_of_org: Mapping[str, str] | None = None,
) -> Classification:
    """What the pull request does, read from its row changes (None: unreadable).

    The author's rig comes from a `wl` branch name (``wl/<rig>/…``), from the registered
    rig itself (its parent for a town), else from ``rig_of_org`` (the DoltHub org that
    owns the source fork → the rig registered with it)."""
    if is_fork_sync(source, upstream_owner, upstream_db):
        return Classification("fork_sync")
    branch = parse_branch(source.from_branch)
    fallback_author = branch.rig if branch is not None and branch.wanted_id else None
    if fallback_author is None and rig_of_org:
        fallback_author = rig_of_org.get(source.from_owner)
    branch_item = branch.wanted_id if branch is not None else None
    if changes is None:
        return Classification("other", branch_item, fallback_author)
    tables = by_table(changes)
    if set(tables) <= _ITEM_TABLES and "wanted" in tables:
        kind, wanted_id = _item_kind(tables)
        return Classification(kind, wanted_id or branch_item, fallback_author)
    if set(tables) <= _RIG_TABLES and "rigs" in tables:
        kind, rig = _rig_kind(tables)
        if kind != "other":
            return Classification(kind, None, rig or fallback_author)
    return Classification("other", branch_item, fallback_author)


def _status(row: Row) -> str:
    return (row.get("status") or "").strip()


def _item_kind(tables: Mapping[str, list[RowChange]]) -> tuple[PullKind, str | None]:
    wanted = tables["wanted"]
    if len(wanted) != 1:
        return "other", None
    item = wanted[0]
    wanted_id = item.key or None
    completions = tables.get("completions", [])
    stamps = tables.get("stamps", [])
    if any(_about(c) not in (None, item.key) for c in completions):
        return "other", wanted_id
    if any(s.kind != "added" for s in stamps):
        return "other", wanted_id
    if item.kind == "added":
        return ("post" if not completions and not stamps else "other"), wanted_id
    if item.kind != "modified":
        return "other", wanted_id
    before, after = _status(item.before), _status(item.after)
    added = {c.kind for c in completions} <= {"added"}
    if (before, after) == ("open", "claimed") and not completions and not stamps:
        return "claim", wanted_id
    if (before, after) == ("claimed", "open") and not completions and not stamps:
        return "unclaim", wanted_id
    if after == "in_review" and before in ("open", "claimed") and added and not stamps:
        return "done", wanted_id
    if (before, after) == ("in_review", "completed"):
        if all(c.kind == "modified" for c in completions):
            return ("accept" if stamps else "close"), wanted_id
        return "other", wanted_id
    rejected = all(c.kind == "removed" for c in completions)
    if (before, after) == ("in_review", "claimed") and not stamps and rejected:
        return "reject", wanted_id
    return "other", wanted_id


def _about(completion: RowChange) -> str | None:
    """The wanted id a completion row belongs to."""
    return completion.after.get("wanted_id") or completion.before.get("wanted_id")


def _rig_kind(tables: Mapping[str, list[RowChange]]) -> tuple[PullKind, str | None]:
    rigs = tables["rigs"]
    links = tables.get("rig_links", [])
    if len(rigs) != 1 or rigs[0].kind == "removed":
        return "other", None
    rig = rigs[0].after
    handle = rigs[0].key or None
    if not links:
        return "registration", handle
    parent = rig.get("parent_rig")
    if (
        (rig.get("rig_type") or "") == AGENT
        and parent
        and len(links) == 1
        and links[0].kind == "added"
        and {links[0].after.get("rig_a"), links[0].after.get("rig_b")} == {parent, handle}
    ):
        return "town", parent
    return "other", None


# --------------------------------------------------------------------------- warnings


def warnings(
    classification: Classification,
    changes: Sequence[RowChange] | None,
    upstream: Mapping[RowRef, Row],
) -> list[PullWarning]:
    """What a maintainer should know before merging, given the upstream's current rows of
    the changed keys (``upstream``; a key without a row is absent upstream).

    * ``done_not_by_claimer``: a ``done`` whose completion (or branch) is not the item's
      claimer's (the upstream's claimer, else the claim on the same branch);
    * ``claim_for_another_rig``: a ``claim`` that gives the item to a rig other than the
      one whose branch it is.
    """
    if changes is None or classification.wanted_id is None:
        return []
    tables = by_table(changes)
    items = [c for c in tables.get("wanted", []) if c.key == classification.wanted_id]
    if not items:
        return []
    item = items[0]
    author = classification.author_rig
    if classification.kind == "claim":
        given_to = item.after.get("claimed_by")
        if author and given_to != author:
            return [
                PullWarning(
                    CLAIM_FOR_ANOTHER_RIG,
                    f"the claim comes from rig {author} but gives the item to"
                    f" {given_to or 'nobody'}",
                )
            ]
        return []
    if classification.kind != "done":
        return []
    current = upstream.get(("wanted", item.key))
    claimer: str | None = None
    if current is not None and _status(current) in ("claimed", "in_review"):
        claimer = current.get("claimed_by")
    elif _status(item.before) == "open":
        claimer = item.after.get("claimed_by")  # claimed on this very branch
    completers = {
        c.after.get("completed_by") for c in tables.get("completions", []) if c.kind == "added"
    }
    doers = {d for d in completers | {author, item.after.get("claimed_by")} if d}
    if claimer and doers <= {claimer}:
        return []
    who = ", ".join(sorted(doers)) or "an unknown rig"
    if not claimer:
        message = f"the done comes from {who}, but nobody has claimed the item upstream"
    else:
        message = f"the done comes from {who}, but the item is claimed by {claimer}"
    return [PullWarning(DONE_NOT_BY_CLAIMER, message)]


# --------------------------------------------------------------------------- merging


def changed_keys(changes: Iterable[RowChange]) -> dict[str, set[str]]:
    """The primary keys each table's changes touch."""
    keys: dict[str, set[str]] = {}
    for change in changes:
        if change.key:
            keys.setdefault(change.table, set()).add(change.key)
    return keys


async def read_upstream(
    client: DoltHubClient,
    owner: str,
    db: str,
    changes: Iterable[RowChange],
    *,
    ref: str = "main",
) -> dict[RowRef, Row]:
    """The upstream's rows at ``ref`` of every key ``changes`` touch (one read per table)."""
    rows: dict[RowRef, Row] = {}
    for table, keys in sorted(changed_keys(changes).items()):
        for key, row in (await read_rows(client, owner, db, table, keys, ref=ref)).items():
            rows[(table, key)] = row
    return rows


def conflicts(changes: Sequence[RowChange], upstream: Mapping[RowRef, Row]) -> list[RowRef]:
    """The rows whose change does not merge into the upstream's current rows (see the
    module docstring); an empty list means the pull request merges cleanly."""
    return [(c.table, c.key) for c in changes if _conflicting(c, upstream.get((c.table, c.key)))]


def _conflicting(change: RowChange, current: Row | None) -> bool:
    base = change.before if change.kind != "added" else None
    theirs = change.after if change.kind != "removed" else None
    if current is None:
        # Absent upstream: fine when the branch adds it or removes it too.
        return base is not None and theirs is not None
    if base is None:
        # Both sides have the key: the same row, or a conflict.
        return theirs is not None and _differs(theirs, current)
    if theirs is None:
        # The branch removes a row: a conflict when the upstream changed it meanwhile.
        return _differs(base, current)
    for column in set(base) | set(theirs):
        if column not in current:
            continue
        was, want, now = base.get(column), theirs.get(column), current[column]
        if want != was and now != was and now != want:
            return True
    return False


def _differs(row: Row, current: Row) -> bool:
    return any(current[c] != v for c, v in row.items() if c in current)


# --------------------------------------------------------------------------- stamps


def stamp_subjects(changes: Iterable[RowChange]) -> list[str]:
    """The subjects of the stamps a pull request adds or rewrites."""
    return sorted(
        {
            subject
            for c in changes
            if c.table == "stamps" and c.kind != "removed"
            if (subject := c.after.get("subject"))
        }
    )


@dataclass(frozen=True)
class Subject:
    """What the upstream's ``rigs`` table says about a stamp's subject."""

    parent_rig: str | None = None
    dolthub_org: str | None = None


def stamps_own_work(
    subjects: Collection[str],
    rig: str | None,
    known: Mapping[str, Subject],
    *,
    org: str | None = None,
) -> bool:
    """Whether merging stamps the work of the maintainer whose rig is ``rig`` and whose
    DoltHub org is ``org`` (either may be unknown): a stamp whose subject is ``rig``, an
    agent rig (a town) whose parent is ``rig``, or a rig registered with the maintainer's
    own DoltHub org (their fork, so their rig or one of their towns, even one the service
    never recorded). ``known``: subject → its ``rigs`` row."""
    for subject in subjects:
        found = known.get(subject, Subject())
        if rig and rig in (subject, found.parent_rig):
            return True
        if org and found.dolthub_org == org:
            return True
    return False


async def read_subjects(
    client: DoltHubClient, owner: str, db: str, handles: Collection[str], *, ref: str = "main"
) -> dict[str, Subject]:
    """The registered rigs among ``handles`` (one read)."""
    if not handles:
        return {}
    rows = await read_rows(client, owner, db, "rigs", handles, ref=ref)
    return {
        handle: Subject(parent_rig=row.get("parent_rig"), dolthub_org=row.get("dolthub_org"))
        for handle, row in rows.items()
    }
