"""The pending overlay: what open pull requests propose for wanted items.

`wl` in PR mode writes a mutation to a branch ``wl/<rig>/<wanted-id>`` of the rig's fork
and opens a pull request against the commons; the upstream row changes only when a
maintainer merges it. Like ``wl serve``, the board shows such an item in the state its
pull request would give it, right away. The rules (after ``ListPendingWantedIDs`` in the
protocol spec §4.8, stated in lifecycle terms):

* only open PRs from a ``wl/<rig>/<id>`` branch count (``wl/register/…`` registers a rig);
* the branch state must be reachable from the upstream state through lifecycle
  transitions, however many (a claim and a ``done`` on one branch propose ``in_review``);
  a branch that still shows the upstream state proposes nothing, and one that no longer
  fits (upstream moved on) is stale;
* a proposed ``open`` (an unclaim) is not shown, as in ``wl``;
* the item stays with its claimer: taking an open item, the branch's rig must be the
  claimer; on an item that is claimed or in review, the claimer must not change;
* when several PRs propose a change for one item, the oldest PR wins (first claim);
* an item only on a branch (a post not merged yet) is a *pending post*: the board shows
  it to the rig that posted it, nobody else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from wasteland.v1 import board_pb2
from wasteland_common import dolthub
from wasteland_common.dolthub import DoltHubClient, quote
from wasteland_common.dolthub.pulls import PullDetails
from wasteland_common.errors import invalid

from .commons import HANDLE_MAX, ID_MAX, STATUSES, WantedRow, parse_wanted

log = logging.getLogger(__name__)

# (from, to) status pairs a single lifecycle transition makes (protocol spec §2.1); a
# branch may hold several of them in a row.
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
    """The state one open pull request proposes for one wanted item (``row``: the whole
    row on the branch, when it was read)."""

    wanted_id: str
    status: str
    claimed_by: str | None
    rig: str
    pull_id: str
    row: WantedRow | None = None

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


def reachable(status: str) -> frozenset[str]:
    """Every status the lifecycle reaches from ``status`` in one or more transitions."""
    seen: set[str] = set()
    frontier = [status]
    while frontier:
        current = frontier.pop()
        for before, after in TRANSITIONS:
            if before == current and after not in seen:
                seen.add(after)
                frontier.append(after)
    return frozenset(seen)


@dataclass(frozen=True)
class Upstream:
    """An item's agreed state on upstream ``main``."""

    status: str
    claimed_by: str | None = None


def acceptable(upstream: Upstream, change: PendingChange) -> bool:
    """Whether ``change`` is a proposal the board shows over the upstream state."""
    if change.status in ("open", upstream.status):
        return False
    if change.status not in reachable(upstream.status):
        return False
    if change.status == "withdrawn":
        return True
    if upstream.status == "open":
        return change.claimed_by == change.rig  # a rig takes an open item for itself
    return bool(change.claimed_by) and change.claimed_by == upstream.claimed_by


def choose(upstream: Upstream, changes: Iterable[PendingChange]) -> PendingState | None:
    """The overlay for an item in the ``upstream`` state: the oldest acceptable
    proposal, or None."""
    for change in sorted(changes, key=lambda c: c.order):
        if acceptable(upstream, change):
            return PendingState(change.status, change.claimed_by, change.rig, change.pull_id)
    return None


_PULL_ID_MAX = 20


def parse_verified_change(message: board_pb2.VerifiedChange) -> PendingChange:
    """A RefreshWasteland request's change, checked; INVALID_ARGUMENT naming the field."""
    if not message.wanted_id or len(message.wanted_id) > ID_MAX:
        raise invalid("change.wanted_id", f"must be 1-{ID_MAX} characters")
    if not message.rig_handle or len(message.rig_handle) > HANDLE_MAX:
        raise invalid("change.rig_handle", f"must be 1-{HANDLE_MAX} characters")
    if message.pull_id and not (
        message.pull_id.isascii()
        and message.pull_id.isdigit()
        and len(message.pull_id) <= _PULL_ID_MAX
    ):
        raise invalid("change.pull_id", "must be a pull request number")
    if message.pull_id and message.status not in STATUSES:
        raise invalid("change.status", f"must be one of {', '.join(STATUSES)}")
    if len(message.claimed_by) > HANDLE_MAX:
        raise invalid("change.claimed_by", f"must be at most {HANDLE_MAX} characters")
    return PendingChange(
        wanted_id=message.wanted_id,
        status=message.status,
        claimed_by=message.claimed_by or None,
        rig=message.rig_handle,
        pull_id=message.pull_id,
    )


class Undecided:
    """:func:`overlay_with` cannot tell the new overlay from the cached one alone."""


UNDECIDED: Final = Undecided()


def overlay_with(
    upstream: Upstream, current: PendingState | None, change: PendingChange
) -> PendingState | Undecided | None:
    """The overlay of an item after one rig's verified ``change``, from the overlay the
    cache shows (``current``, the oldest acceptable proposal of all the open pull
    requests last read) and no other pull request.

    ``change.pull_id`` empty means the rig withdrew its proposal (its pull request is
    closed). The answer is UNDECIDED when the cached overlay's own proposal went away or
    stopped being acceptable: another proposal the cache does not keep may then show.
    Otherwise the proposals left are the cached one and the change, and the older
    acceptable one wins, as in :func:`choose`.
    """
    if current is not None and current.rig == change.rig:
        # A rig has one branch per item and DoltHub one open pull request per branch, so
        # a rig's new or withdrawn proposal replaces the cached one.
        if not change.pull_id or change.pull_id != current.pull_id:
            return UNDECIDED
        if not acceptable(upstream, change):
            return UNDECIDED
        return PendingState(change.status, change.claimed_by, change.rig, change.pull_id)
    if not change.pull_id:
        return current  # a proposal that was not shown went away
    proposals = [change]
    if current is not None:
        proposals.append(
            PendingChange(
                change.wanted_id, current.status, current.claimed_by, current.rig, current.pull_id
            )
        )
    return choose(upstream, proposals)


def by_item(changes: Iterable[PendingChange]) -> dict[str, list[PendingChange]]:
    """Proposals grouped by wanted id."""
    grouped: dict[str, list[PendingChange]] = {}
    for change in changes:
        grouped.setdefault(change.wanted_id, []).append(change)
    return grouped


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
    try:
        pull = await details.detail(client, owner, db, pull_id)
    except _SKIPPABLE as exc:
        log.info("pull %s/%s#%s unreadable, skipped: %s", owner, db, pull_id, exc)
        return None
    if pull.to_branch not in ("", "main"):
        return None
    branch = parse_item_branch(pull.from_branch)
    if branch is None:
        return None
    fork_owner = pull.from_owner or owner
    fork_db = pull.from_database or db
    # The whole row (a pending post is shown as it is on the branch); the id travels
    # only as a quote()d literal.
    sql = f"SELECT * FROM wanted WHERE id = {quote(branch.wanted_id)}"  # noqa: S608
    where = f"{fork_owner}/{fork_db}@{pull.from_branch}"
    try:
        result = await client.read(fork_owner, fork_db, sql, ref=pull.from_branch)
    except _SKIPPABLE as exc:
        log.info("branch %s of pull #%s unreadable, skipped: %s", where, pull_id, exc)
        return None
    items = parse_wanted(result.rows, where).rows
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
        row=item,
    )


def overlay_for(
    upstream: Mapping[str, Upstream], changes: Iterable[PendingChange]
) -> dict[str, PendingState]:
    """The overlay of every item in ``upstream`` that has an acceptable proposal."""
    overlay: dict[str, PendingState] = {}
    for wanted_id, proposals in by_item(changes).items():
        agreed = upstream.get(wanted_id)
        if agreed is None:
            continue  # a post not merged yet: see pending_posts
        chosen = choose(agreed, proposals)
        if chosen is not None:
            overlay[wanted_id] = chosen
    return overlay


@dataclass(frozen=True)
class PendingPost:
    """An item only on a rig's branch, shown to that rig alone until it is merged."""

    row: WantedRow
    rig: str
    pull_id: str


def pending_posts(
    upstream: Mapping[str, Upstream], changes: Iterable[PendingChange]
) -> list[PendingPost]:
    """Items no upstream row has, proposed open by the rig that posted them (the oldest
    pull request per item)."""
    posts: list[PendingPost] = []
    for wanted_id, proposals in by_item(changes).items():
        if wanted_id in upstream:
            continue
        for change in sorted(proposals, key=lambda c: c.order):
            row = change.row
            if row is not None and change.status == "open" and row.posted_by == change.rig:
                posts.append(PendingPost(row=row, rig=change.rig, pull_id=change.pull_id))
                break
    return posts
