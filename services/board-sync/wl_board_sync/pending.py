"""The pending overlay: what open pull requests propose for wanted items.

`wl` in PR mode writes a mutation to a branch ``wl/<rig>/<wanted-id>`` of the rig's fork
and opens a pull request against the commons; the upstream row changes only when a
maintainer merges it. Like ``wl serve``, the board shows such an item in its proposed
state right away (so a claim is visible before its merge). The rules (after
``ListPendingWantedIDs`` in the protocol spec §4.8, stated in lifecycle terms):

* only open PRs from a ``wl/<rig>/<id>`` branch count (``wl/register/…`` registers a rig);
* the branch state must be one lifecycle transition away from the upstream state
  (claim, done, accept/close, reject, withdraw); a branch that still shows the upstream
  state proposes nothing, and one that no longer fits (upstream moved on) is stale;
* a proposed ``open`` (an unclaim) is not shown, as in ``wl``;
* a proposed ``claimed`` counts only when the branch's rig is the claimer;
* when several PRs propose a change for one item, the oldest PR wins (first claim).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from wasteland_common import dolthub
from wasteland_common.dolthub import DoltHubClient, PullRequest, quote

from .commons import HANDLE_MAX, ID_MAX, parse_branch_items

log = logging.getLogger(__name__)

# (from, to) status pairs a single lifecycle transition makes (protocol spec §2.1).
TRANSITIONS: Final[frozenset[tuple[str, str]]] = frozenset(
    {
        ("open", "claimed"),  # claim
        ("claimed", "open"),  # unclaim
        ("claimed", "in_review"),  # done
        ("in_review", "completed"),  # accept, close
        ("in_review", "claimed"),  # reject
        ("open", "withdrawn"),  # delete
    }
)
BRANCH_PREFIX: Final = "wl/"
REGISTER_SEGMENT: Final = "register"
# Errors that make one PR unreadable (deleted fork or branch, no permission) without
# saying anything about DoltHub as a whole; that PR is skipped.
_SKIPPABLE = (dolthub.NotFound, dolthub.QueryError, dolthub.Forbidden, dolthub.Unauthorized)


@dataclass(frozen=True)
class ItemBranch:
    """What a ``wl/<rig>/<id>`` branch name says."""

    rig: str
    wanted_id: str


@dataclass(frozen=True)
class PendingChange:
    """The state one open pull request proposes for one wanted item."""

    wanted_id: str
    status: str
    claimed_by: str | None
    rig: str
    pull_id: str

    @property
    def order(self) -> tuple[int, str]:
        # DoltHub numbers pull requests in creation order; non-numeric ids sort last.
        return (int(self.pull_id) if self.pull_id.isdigit() else 2**63, self.pull_id)


@dataclass(frozen=True)
class PendingState:
    """The overlay stored on a cached item."""

    status: str
    claimed_by: str | None
    rig: str
    pull_id: str


def parse_item_branch(branch: str) -> ItemBranch | None:
    """The rig and wanted id of a ``wl/<rig>/<wanted-id>`` branch, None for any other."""
    if not branch.startswith(BRANCH_PREFIX):
        return None
    parts = branch.split("/")
    if len(parts) != 3:
        return None
    _, rig, wanted_id = parts
    if not rig or not wanted_id or rig == REGISTER_SEGMENT:
        return None
    if len(rig) > HANDLE_MAX or len(wanted_id) > ID_MAX:
        return None
    return ItemBranch(rig=rig, wanted_id=wanted_id)


def acceptable(upstream_status: str, change: PendingChange) -> bool:
    """Whether ``change`` is a proposal the board shows over ``upstream_status``."""
    if change.status == "open":
        return False
    if (upstream_status, change.status) not in TRANSITIONS:
        return False
    return not (change.status == "claimed" and change.claimed_by != change.rig)


def choose(upstream_status: str, changes: Iterable[PendingChange]) -> PendingState | None:
    """The overlay for an item whose upstream status is ``upstream_status``: the oldest
    acceptable proposal, or None."""
    for change in sorted(changes, key=lambda c: c.order):
        if acceptable(upstream_status, change):
            return PendingState(change.status, change.claimed_by, change.rig, change.pull_id)
    return None


def by_item(changes: Iterable[PendingChange]) -> dict[str, list[PendingChange]]:
    """Proposals grouped by wanted id."""
    grouped: dict[str, list[PendingChange]] = {}
    for change in changes:
        grouped.setdefault(change.wanted_id, []).append(change)
    return grouped


class PullDetails:
    """Pull-request details by (owner, db, pull id).

    The branch a PR comes from never changes, so one ``get_pull`` per PR is enough; the
    PR's state comes from the list on every sync.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._items: OrderedDict[tuple[str, str, str], PullRequest] = OrderedDict()

    def get(self, key: tuple[str, str, str]) -> PullRequest | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: tuple[str, str, str], value: PullRequest) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)


async def read_pending(
    client: DoltHubClient,
    owner: str,
    db: str,
    details: PullDetails,
    *,
    concurrency: int = 8,
) -> list[PendingChange]:
    """Every change an open ``wl/<rig>/<id>`` pull request on ``owner/db`` proposes.

    Raises the client's error when DoltHub as a whole fails (unreachable, rate limited);
    a PR whose fork or branch cannot be read is logged and skipped.
    """
    summaries = [s for s in await client.list_pulls(owner, db) if s.state == "open"]
    limit = asyncio.Semaphore(concurrency)

    async def one(pull_id: str) -> PendingChange | None:
        async with limit:
            return await _read_one(client, owner, db, pull_id, details)

    results = await asyncio.gather(*(one(s.pull_id) for s in summaries if s.pull_id))
    return [r for r in results if r is not None]


async def _read_one(
    client: DoltHubClient, owner: str, db: str, pull_id: str, details: PullDetails
) -> PendingChange | None:
    key = (owner, db, pull_id)
    pull = details.get(key)
    if pull is None:
        try:
            pull = await client.get_pull(owner, db, pull_id)
        except _SKIPPABLE as exc:
            log.info("pull %s/%s#%s unreadable, skipped: %s", owner, db, pull_id, exc)
            return None
        details.put(key, pull)
    if pull.to_branch not in ("", "main"):
        return None
    branch = parse_item_branch(pull.from_branch)
    if branch is None:
        return None
    fork_owner = pull.from_owner or owner
    fork_db = pull.from_database or db
    # The id travels only as a quote()d literal.
    sql = f"SELECT id, status, claimed_by FROM wanted WHERE id = {quote(branch.wanted_id)}"  # noqa: S608
    where = f"{fork_owner}/{fork_db}@{pull.from_branch}"
    try:
        result = await client.read(fork_owner, fork_db, sql, ref=pull.from_branch)
    except _SKIPPABLE as exc:
        log.info("branch %s of pull #%s unreadable, skipped: %s", where, pull_id, exc)
        return None
    items = parse_branch_items(result.rows, where).rows
    match = [i for i in items if i.wanted_id == branch.wanted_id]
    if not match:
        return None
    item = match[0]
    return PendingChange(
        wanted_id=item.wanted_id,
        status=item.status,
        claimed_by=item.claimed_by,
        rig=branch.rig,
        pull_id=pull_id,
    )


def overlay_for(
    upstream_statuses: Mapping[str, str], changes: Iterable[PendingChange]
) -> dict[str, PendingState]:
    """The overlay of every item in ``upstream_statuses`` that has an acceptable proposal."""
    overlay: dict[str, PendingState] = {}
    for wanted_id, proposals in by_item(changes).items():
        upstream = upstream_statuses.get(wanted_id)
        if upstream is None:
            continue  # e.g. a post not yet merged: the board shows upstream items only
        chosen = choose(upstream, proposals)
        if chosen is not None:
            overlay[wanted_id] = chosen
    return overlay
