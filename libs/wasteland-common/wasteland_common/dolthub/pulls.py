"""Finding pull requests by the branch they come from.

DoltHub's pull-request list carries no branch information, so every lookup by branch
lists the pull requests and reads the detail of each candidate. The branch a pull
request comes from never changes, so details are cached (:class:`PullDetails`); the
state always comes from the fresh list.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass

from .client import WEB_BASE_URL, DoltHubClient
from .diffs import DiffRange, branch_heads
from .errors import NotFound
from .models import PullRequest

_DETAIL_CONCURRENCY = 8


class PullDetails:
    """Pull-request details by (owner, db, pull id), least recently used evicted first."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._items: OrderedDict[tuple[str, str, str], PullRequest] = OrderedDict()

    def get(self, key: tuple[str, str, str]) -> PullRequest | None:
        """The cached detail, or None."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: tuple[str, str, str], value: PullRequest) -> None:
        """Remember a detail."""
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    async def detail(self, client: DoltHubClient, owner: str, db: str, pull_id: str) -> PullRequest:
        """The detail of ``owner/db#pull_id``, read once."""
        key = (owner, db, pull_id)
        found = self.get(key)
        if found is None:
            found = await client.get_pull(owner, db, pull_id)
            self.put(key, found)
        return found


@dataclass(frozen=True)
class BranchPull:
    """A pull request from a given branch, with its current state (lower case)."""

    pull: PullRequest
    state: str

    @property
    def pull_id(self) -> str:
        return self.pull.pull_id

    @property
    def is_open(self) -> bool:
        return self.state == "open"


def pull_url(owner: str, db: str, pull_id: str) -> str:
    """The web address of a pull request (what `wl` prints as ``PR:``)."""
    return f"{WEB_BASE_URL}/{owner}/{db}/pulls/{pull_id}"


async def pulls_by_branch(
    client: DoltHubClient,
    owner: str,
    db: str,
    *,
    from_owner: str,
    to_branch: str = "main",
    states: Collection[str] | None = None,
    details: PullDetails | None = None,
) -> dict[str, list[BranchPull]]:
    """Pull requests into ``owner/db:to_branch`` from any branch of ``from_owner`` (only
    those whose list state is in ``states``, when given), by source branch, oldest first."""
    cache = details if details is not None else PullDetails(capacity=1000)
    candidates = [
        s for s in await client.list_pulls(owner, db) if states is None or s.state in states
    ]
    limit = asyncio.Semaphore(_DETAIL_CONCURRENCY)

    async def one(pull_id: str, state: str) -> BranchPull | None:
        async with limit:
            pull = await cache.detail(client, owner, db, pull_id)
        if (pull.from_owner or owner) != from_owner or pull.to_branch not in ("", to_branch):
            return None
        return BranchPull(pull=pull, state=state or pull.state)

    found = await asyncio.gather(*(one(s.pull_id, s.state) for s in candidates if s.pull_id))
    grouped: dict[str, list[BranchPull]] = {}
    for match in sorted((f for f in found if f is not None), key=lambda m: _order(m.pull_id)):
        grouped.setdefault(match.pull.from_branch, []).append(match)
    return grouped


async def pulls_from(
    client: DoltHubClient,
    owner: str,
    db: str,
    *,
    from_owner: str,
    from_branch: str,
    to_branch: str = "main",
    states: Collection[str] | None = None,
    details: PullDetails | None = None,
) -> list[BranchPull]:
    """Pull requests into ``owner/db:to_branch`` from ``from_owner``'s ``from_branch``,
    oldest first."""
    grouped = await pulls_by_branch(
        client, owner, db, from_owner=from_owner, to_branch=to_branch, states=states,
        details=details,
    )  # fmt: skip
    return grouped.get(from_branch, [])


def source_of(pull: PullRequest, owner: str, db: str) -> tuple[str, str]:
    """The database a pull request of ``owner/db`` comes from (``owner/db`` itself when
    DoltHub leaves the source owner or database out)."""
    return (pull.from_owner or owner, pull.from_database or db)


async def pull_ranges(
    client: DoltHubClient, owner: str, db: str, pulls: Collection[PullRequest]
) -> dict[str, DiffRange | None]:
    """What each pull request of ``owner/db`` proposes, as the diff range of its source
    branch since it left its database's ``main`` (by pull id), read with one
    ``dolt_branches`` read per source database.

    None for a pull request whose source branch (or database) no longer exists, and for
    one whose source *is* a ``main`` (its proposal is that whole database, which no
    range inside it describes)."""
    wanted: dict[tuple[str, str], set[str]] = {}
    for pull in pulls:
        if pull.from_branch and pull.from_branch != "main":
            wanted.setdefault(source_of(pull, owner, db), {"main"}).add(pull.from_branch)

    limit = asyncio.Semaphore(_DETAIL_CONCURRENCY)

    async def heads_of(source: tuple[str, str], names: set[str]) -> dict[str, str]:
        try:
            async with limit:
                return await branch_heads(client, source[0], source[1], names)
        except NotFound:
            return {}

    sources = list(wanted)
    found = await asyncio.gather(*(heads_of(s, wanted[s]) for s in sources))
    heads = dict(zip(sources, found, strict=True))
    ranges: dict[str, DiffRange | None] = {}
    for pull in pulls:
        known = heads.get(source_of(pull, owner, db), {})
        base, head = known.get("main"), known.get(pull.from_branch)
        ranges[pull.pull_id] = DiffRange(base, head) if base and head else None
    return ranges


def pull_id_in(url: str) -> str | None:
    """The pull id at the end of a pull-request address (``…/pulls/<id>``), or None."""
    head, sep, tail = url.rstrip("/").rpartition("/pulls/")
    if not sep or not head or not tail.isdigit():
        return None
    return tail


def _order(pull_id: str) -> tuple[int, str]:
    # DoltHub numbers pull requests in creation order; non-numeric ids sort last.
    return (int(pull_id) if pull_id.isdigit() else 2**63, pull_id)
