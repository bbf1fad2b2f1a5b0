"""Keeping a rig's fork current, which `wl` never does (protocol spec §5.4).

DoltHub has no fork-sync endpoint, but its pull-request rules allow one: the author of a
pull request needs write access on the *from* database, merging needs write access on the
*to* database. So a pull request ``upstream:main → <rig org>/<db>:main``, opened with the
wasteland's upstream credential and merged with the rig owner's own token, brings the
fork up to date with real history.

Finished branches go too: `wl` cuts a new branch from the fork's ``main`` only when the
rig has no ``wl/<rig>/<id>`` branch for the item, and writes on an old branch otherwise,
so a branch whose pull request was merged or closed would make the next change of that
item a silent no-op (a re-submitted ``done`` after a reject, for one).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from wasteland.v1 import common_pb2
from wasteland_common import dolthub
from wasteland_common.dolthub import DoltHubClient
from wasteland_common.dolthub.pulls import PullDetails, pull_url, pulls_by_branch, pulls_from
from wasteland_common.forks import fork_currency

from .lifecycle import Refusal
from .rigs import Commons, Rig

log = logging.getLogger(__name__)

NEEDS_UPSTREAM_CREDENTIAL = (
    "your DoltHub fork is behind the upstream and the service cannot bring it up to date:"
    " an owner or maintainer must connect the wasteland's upstream credential"
    " (PUT /v1/wastelands/{id}/upstream-credential), then try again"
)
NO_FORK = "you have no DoltHub fork of this wasteland yet; join it first"
FINISHED_STATES = frozenset({"merged", "closed"})


class CurrentForks:
    """Forks seen current, each with the upstream head it was seen to hold.

    A fork's ``main`` only ever gains commits (`wl` writes branches, the service merges
    sync pull requests), so a fork that held the upstream head *H* still holds it while
    the upstream head is *H*: one read of the upstream head then settles the fork's
    currency instead of three. The memory lives as long as the workload.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._heads: dict[tuple[str, str], str] = {}

    def holds(self, fork_owner: str, db: str, upstream_head: str) -> bool:
        """Whether the fork was seen holding ``upstream_head``."""
        return bool(upstream_head) and self._heads.get((fork_owner, db)) == upstream_head

    def remember(self, fork_owner: str, db: str, upstream_head: str) -> None:
        """Record that the fork holds ``upstream_head``."""
        self._heads.pop((fork_owner, db), None)
        self._heads[(fork_owner, db)] = upstream_head
        while len(self._heads) > self._capacity:
            self._heads.pop(next(iter(self._heads)))

    def forget(self, fork_owner: str, db: str) -> None:
        """Drop what is known of the fork."""
        self._heads.pop((fork_owner, db), None)


class KnownBranches:
    """What this workload saw of its rigs' item branches: the open pull request that
    carried a branch when an action landed on it, or that the branch was gone after an
    action (`wl` removed it, or the clean-up did).

    A pull request remembered is a hint, read again before it is relied on; a branch seen
    gone is trusted, and so is dropped before `wl` runs on it (`wl` may create the branch
    and then fail). A branch made outside the service after it was seen gone is not cleaned
    up before the next action; that action's verification still refuses a change that
    did not happen.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        # (fork owner, db, branch) -> pull id, or "" for a branch seen gone.
        self._seen: dict[tuple[str, str, str], str] = {}

    def pull_of(self, fork_owner: str, db: str, branch: str) -> str | None:
        """The pull request seen open from the branch, if any."""
        return self._seen.get((fork_owner, db, branch)) or None

    def gone(self, fork_owner: str, db: str, branch: str) -> bool:
        """Whether the branch was seen gone."""
        return self._seen.get((fork_owner, db, branch)) == ""

    def landed(self, fork_owner: str, db: str, branch: str, pull_id: str) -> None:
        """Record the open pull request that carries the branch."""
        self._put((fork_owner, db, branch), pull_id)

    def removed(self, fork_owner: str, db: str, branch: str) -> None:
        """Record that the branch no longer exists."""
        self._put((fork_owner, db, branch), "")

    def forget(self, fork_owner: str, db: str, branch: str) -> None:
        """Drop what is known of the branch."""
        self._seen.pop((fork_owner, db, branch), None)

    def may_exist(self, fork_owner: str, db: str, branch: str) -> None:
        """The branch may exist from now on (`wl` is about to run on it)."""
        if self.gone(fork_owner, db, branch):
            self.forget(fork_owner, db, branch)

    def _put(self, key: tuple[str, str, str], value: str) -> None:
        self._seen.pop(key, None)
        self._seen[key] = value
        while len(self._seen) > self._capacity:
            self._seen.pop(next(iter(self._seen)))


@dataclass(frozen=True)
class SyncOutcome:
    """What bringing a fork up to date did."""

    behind_before: bool | None
    behind_after: bool | None
    pull_request_url: str = ""
    branches_removed: tuple[str, ...] = ()

    def to_proto(self) -> common_pb2.ForkSync:
        """The result's ``fork_sync`` message."""
        message = common_pb2.ForkSync(
            pull_request_url=self.pull_request_url, branches_removed=list(self.branches_removed)
        )
        if self.behind_before is not None:
            message.fork_behind_before = self.behind_before
        if self.behind_after is not None:
            message.fork_behind_after = self.behind_after
        return message

    @property
    def synced(self) -> bool:
        """Whether a sync pull request was merged."""
        return bool(self.pull_request_url)


async def bring_up_to_date(
    rig_client: DoltHubClient,
    upstream_client: DoltHubClient | None,
    commons: Commons,
    rig: Rig,
    *,
    details: PullDetails,
    known: CurrentForks | None = None,
    upstream_head: str = "",
) -> SyncOutcome | Refusal:
    """Merge the upstream ``main`` into the rig's fork ``main`` when the fork lags.

    With ``known``, a fork already seen holding the current upstream head costs one read
    (the upstream head; none when the caller has just read it: ``upstream_head``), and
    what is found is remembered there.
    Refuses with FAILED_PRECONDITION when the rig has no fork, or when the fork lags and
    there is no upstream credential; raises the DoltHub client's errors otherwise.
    """
    if known is not None:
        upstream_head = upstream_head or await rig_client.head_commit(commons.owner, commons.db)
        if known.holds(rig.org, commons.db, upstream_head):
            return SyncOutcome(behind_before=False, behind_after=False)
    before = await fork_currency(
        rig_client, commons.owner, commons.db, rig.org, upstream_head=upstream_head
    )
    if before.behind is None:
        if known is not None:
            known.forget(rig.org, commons.db)
        return Refusal("FAILED_PRECONDITION", NO_FORK)
    if not before.behind:
        if known is not None:
            known.remember(rig.org, commons.db, before.upstream_head)
        return SyncOutcome(behind_before=False, behind_after=False)
    if upstream_client is None:
        return Refusal("FAILED_PRECONDITION", NEEDS_UPSTREAM_CREDENTIAL)
    pull_id = await _sync_pull(upstream_client, rig_client, commons, rig, details=details)
    try:
        await rig_client.merge_pull(rig.org, commons.db, pull_id)
    except (dolthub.QueryError, dolthub.AlreadyExists) as exc:
        log.warning("merging the sync pull request into %s failed: %s", rig.org, exc)
        return Refusal(
            "FAILED_PRECONDITION",
            "your fork's main has changes that conflict with the upstream; resolve them on"
            " DoltHub, then try again",
        )
    after = await fork_currency(rig_client, commons.owner, commons.db, rig.org)
    if after.behind:
        return Refusal("UNAVAILABLE", "DoltHub has not finished updating your fork; try again")
    if known is not None and after.behind is False:
        known.remember(rig.org, commons.db, after.upstream_head)
    log.info(
        "fork %s/%s brought up to date with %s (pull %s)",
        rig.org, commons.db, commons.path, pull_id, extra={"event": "fork_synced"},
    )  # fmt: skip
    return SyncOutcome(
        behind_before=True,
        behind_after=after.behind,
        pull_request_url=pull_url(rig.org, commons.db, pull_id),
    )


async def _sync_pull(
    upstream_client: DoltHubClient,
    rig_client: DoltHubClient,
    commons: Commons,
    rig: Rig,
    *,
    details: PullDetails,
) -> str:
    """The open pull request upstream:main → fork:main (an earlier attempt's, or a new
    one opened with the upstream credential)."""

    async def existing() -> str | None:
        found = await pulls_from(
            rig_client, rig.org, commons.db, from_owner=commons.owner, from_branch="main",
            states=("open",), details=details,
        )  # fmt: skip
        return found[0].pull_id if found else None

    if (pull_id := await existing()) is not None:
        return pull_id
    try:
        return await upstream_client.create_pull(
            rig.org,
            commons.db,
            title=f"Sync with {commons.path}",
            description=(
                f"Brings the fork {rig.org}/{commons.db} up to date with the upstream"
                f" {commons.path} (opened by Hosted Wasteland for rig {rig.handle})."
            ),
            from_owner=commons.owner,
            from_db=commons.db,
            from_branch="main",
        )
    except dolthub.AlreadyExists:
        if (pull_id := await existing()) is not None:
            return pull_id
        raise


async def remove_finished_item_branch(
    rig_client: DoltHubClient,
    commons: Commons,
    rig: Rig,
    wanted_id: str,
    *,
    details: PullDetails,
    known: KnownBranches,
) -> tuple[str, ...]:
    """:func:`remove_finished_branches` for the branch of ``wanted_id``, using what
    ``known`` says: nothing to do for a branch seen gone, one read of the pull request
    seen carrying it (still open: the branch stays), else the whole look-up."""
    branch = rig.branch(wanted_id)
    if known.gone(rig.org, commons.db, branch):
        return ()
    if (pull_id := known.pull_of(rig.org, commons.db, branch)) is not None:
        try:
            pull = await rig_client.get_pull(commons.owner, commons.db, pull_id)
        except dolthub.NotFound:
            pull = None
        if (
            pull is not None
            and pull.state == "open"
            and (pull.from_owner or commons.owner, pull.from_branch) == (rig.org, branch)
        ):
            return ()
        known.forget(rig.org, commons.db, branch)
    removed = await remove_finished_branches(
        rig_client, commons, rig, details=details, wanted_id=wanted_id
    )
    if removed:
        known.removed(rig.org, commons.db, branch)
    return removed


def item_branches(rig: Rig, branches: list[str], wanted_id: str | None) -> list[str]:
    """The rig's branches that may be finished: its ``wl/<rig>/<id>`` branches (only the
    one of ``wanted_id`` when given) and, for a whole clean-up, its registration branch."""
    if wanted_id is not None:
        wanted = rig.branch(wanted_id)
        return [b for b in branches if b == wanted]
    prefix = f"wl/{rig.handle}/"
    return [b for b in branches if b.startswith(prefix) or b == rig.registration_branch]


async def remove_finished_branches(
    rig_client: DoltHubClient,
    commons: Commons,
    rig: Rig,
    *,
    details: PullDetails,
    wanted_id: str | None = None,
    known_branches: list[str] | None = None,
) -> tuple[str, ...]:
    """Delete the rig's branches whose upstream pull requests are all merged or closed
    (a branch with an open pull request, or none at all, stays); returns their names."""
    branches = known_branches
    if branches is None:
        try:
            branches = await rig_client.list_branches(rig.org, commons.db)
        except dolthub.NotFound:
            return ()
    candidates = item_branches(rig, branches, wanted_id)
    if not candidates:
        return ()
    by_branch = await pulls_by_branch(
        rig_client, commons.owner, commons.db, from_owner=rig.org, details=details
    )
    removed: list[str] = []
    for branch in candidates:
        states = {p.state for p in by_branch.get(branch, [])}
        if not states or not states <= FINISHED_STATES:
            continue
        try:
            await rig_client.delete_branch(rig.org, commons.db, branch)
        except dolthub.NotFound:
            continue
        removed.append(branch)
    if removed:
        log.info(
            "removed %d finished branch(es) of %s: %s", len(removed), rig.handle,
            ", ".join(removed), extra={"event": "branches_removed"},
        )  # fmt: skip
    return tuple(removed)
