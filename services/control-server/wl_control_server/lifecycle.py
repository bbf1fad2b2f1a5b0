"""The wanted-item lifecycle checked against DoltHub: pre-checks before `wl` runs and the
verification after it.

`wl` prints success and exits 0 even when its guarded UPDATE matched no row (protocol
spec 5.5), so the truth comes from DoltHub: upstream ``main`` for what is agreed, and the
rig's fork branch ``wl/<rig>/<id>`` for what this rig has proposed. Every read is made with
the caller's own token. A check returns a :class:`Refusal` for an expected failure and
lets DoltHub client errors (outage, rate limit, rejected token) propagate.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from wasteland.v1 import common_pb2
from wasteland_common import dolthub
from wasteland_common.dolthub import bind
from wasteland_common.dolthub.pulls import PullDetails

from .rigs import Commons, Rig

log = logging.getLogger(__name__)

_SELECT_WANTED = (
    "SELECT id, title, description, project, type, priority, tags, posted_by, claimed_by,"
    " status, effort_level, sandbox_required, sandbox_scope, sandbox_min_tier, created_at,"
    " updated_at, evidence_url FROM wanted WHERE id = ?"
)
# The item and the head commit of upstream main in one read (one row even when the item
# is missing).
_SELECT_WANTED_AND_HEAD = (
    "SELECT HASHOF('main') AS upstream_head, w.id, w.title, w.description, w.project,"
    " w.type, w.priority, w.tags, w.posted_by, w.claimed_by, w.status, w.effort_level,"
    " w.sandbox_required, w.sandbox_scope, w.sandbox_min_tier, w.created_at, w.updated_at,"
    " w.evidence_url FROM (SELECT 1 AS one) AS o LEFT JOIN wanted AS w ON w.id = ?"
)
_PULL_DETAIL_CONCURRENCY = 10
# Statuses in which an item belongs to its claimer.
CLAIMED_STATUSES = frozenset({"claimed", "in_review"})
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S")
WANTED_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

ALREADY_CLAIMED = "already claimed"
NOT_CLAIMED_BY_YOU = "not claimed by you"


@dataclass(frozen=True)
class Refusal:
    """An expected failure: the gRPC code name and a message safe to show the user."""

    code: str
    message: str


@dataclass(frozen=True)
class WantedRow:
    """One row of the commons ``wanted`` table, parsed from a DoltHub answer."""

    wanted_id: str
    title: str = ""
    description: str = ""
    project: str = ""
    type: str = ""
    priority: int = 2
    tags: tuple[str, ...] = ()
    posted_by: str = ""
    claimed_by: str = ""
    status: str = ""
    effort_level: str = ""
    sandbox_required: bool = False
    sandbox_scope: str = ""
    sandbox_min_tier: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    evidence_url: str = ""

    @classmethod
    def from_row(cls, row: Mapping[str, str | None]) -> WantedRow:
        """Parse a row; unknown columns are ignored and malformed cells fall back to the
        column's default (the commons has no constraints on these values)."""

        def text(key: str) -> str:
            value = row.get(key)
            return value if isinstance(value, str) else ""

        return cls(
            wanted_id=text("id"),
            title=text("title"),
            description=text("description"),
            project=text("project"),
            type=text("type"),
            priority=_int(row.get("priority"), 2),
            tags=_tags(row.get("tags")),
            posted_by=text("posted_by"),
            claimed_by=text("claimed_by"),
            status=text("status"),
            effort_level=text("effort_level"),
            sandbox_required=text("sandbox_required").lower() in ("1", "true"),
            sandbox_scope=text("sandbox_scope"),
            sandbox_min_tier=text("sandbox_min_tier"),
            created_at=_time(row.get("created_at")),
            updated_at=_time(row.get("updated_at")),
            evidence_url=text("evidence_url"),
        )

    def to_proto(self) -> common_pb2.WantedItem:
        """The row as the shared ``WantedItem`` message."""
        item = common_pb2.WantedItem(
            wanted_id=self.wanted_id,
            title=self.title,
            description=self.description,
            project=self.project,
            type=self.type,
            priority=self.priority,
            tags=list(self.tags),
            posted_by=self.posted_by,
            claimed_by=self.claimed_by,
            status=self.status,
            effort_level=self.effort_level,
            sandbox_required=self.sandbox_required,
            sandbox_scope=self.sandbox_scope,
            sandbox_min_tier=self.sandbox_min_tier,
            evidence_url=self.evidence_url,
        )
        if self.created_at is not None:
            item.created_at.FromDatetime(self.created_at)
        if self.updated_at is not None:
            item.updated_at.FromDatetime(self.updated_at)
        return item


@dataclass(frozen=True)
class ItemState:
    """An item as one rig sees it: its fork branch when it has one, else upstream main.
    ``branch_missing``: the read found no such branch (not merely no row on it)."""

    row: WantedRow
    on_branch: bool
    branch_missing: bool = False


@dataclass
class UpstreamHead:
    """The upstream head a pre-check read along with the item ("" when it did not), for
    the fork-currency check that follows to use instead of reading it again."""

    head: str = ""


@dataclass(frozen=True)
class Verified:
    """A mutation DoltHub confirms; ``item`` is the row read back, and
    ``branch_missing`` says the read found the rig's branch gone (`wl` removed it)."""

    item: WantedRow | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    branch_missing: bool = False


# --------------------------------------------------------------------------- reads


async def read_item(
    client: dolthub.DoltHubClient,
    owner: str,
    db: str,
    wanted_id: str,
    *,
    ref: str = "main",
    own: bool = False,
) -> WantedRow | None:
    """The ``wanted`` row ``wanted_id`` of ``owner/db`` at ``ref``, or None if absent
    (``own``: the client's token writes ``owner/db``, see ``DoltHubClient.read``)."""
    result = await client.read(owner, db, bind(_SELECT_WANTED, wanted_id), ref=ref, own=own)
    for row in result.rows:
        if row.get("id") == wanted_id:
            return WantedRow.from_row(row)
    return None


async def read_branch_item(
    client: dolthub.DoltHubClient,
    owner: str,
    db: str,
    branch: str,
    wanted_id: str,
    *,
    own: bool = False,
) -> WantedRow | None:
    """The row on a fork branch; None when the row, the branch or the fork is missing."""
    row, _exists = await branch_row(client, owner, db, branch, wanted_id, own=own)
    return row


async def branch_row(
    client: dolthub.DoltHubClient,
    owner: str,
    db: str,
    branch: str,
    wanted_id: str,
    *,
    own: bool = False,
) -> tuple[WantedRow | None, bool]:
    """The row on a fork branch (None when missing) and whether the branch exists."""
    try:
        return await read_item(client, owner, db, wanted_id, ref=branch, own=own), True
    except dolthub.NotFound:
        return None, False
    except dolthub.QueryError:
        # A missing branch may come back as an SQL error; tell it apart from a real one.
        if not await branch_exists(client, owner, db, branch):
            return None, False
        raise


async def branch_exists(client: dolthub.DoltHubClient, owner: str, db: str, branch: str) -> bool:
    """Whether ``owner/db`` exists and has ``branch``."""
    try:
        return branch in await client.list_branches(owner, db)
    except dolthub.NotFound:
        return False


async def upstream_item(
    client: dolthub.DoltHubClient, commons: Commons, wanted_id: str
) -> WantedRow | None:
    """The agreed row on upstream main."""
    return await read_item(client, commons.owner, commons.db, wanted_id)


async def upstream_item_and_head(
    client: dolthub.DoltHubClient, commons: Commons, wanted_id: str
) -> tuple[WantedRow | None, str]:
    """The agreed row on upstream main and the head commit it was read at, in one read
    where DoltHub answers ``HASHOF`` (else the row alone, and "" for the head)."""
    try:
        result = await client.read(
            commons.owner, commons.db, bind(_SELECT_WANTED_AND_HEAD, wanted_id)
        )
    except dolthub.QueryError:
        log.debug("HASHOF with the item failed on %s; reading the item alone", commons.path)
        return await upstream_item(client, commons, wanted_id), ""
    for row in result.rows:
        head = row.get("upstream_head") or ""
        if row.get("id") == wanted_id:
            return WantedRow.from_row(row), head
        return None, head
    return None, ""


async def rig_item(
    client: dolthub.DoltHubClient, commons: Commons, rig: Rig, wanted_id: str
) -> WantedRow | None:
    """The row on the rig's fork branch ``wl/<rig>/<id>`` (None if it has no such branch)."""
    return await read_branch_item(
        client, rig.org, commons.db, rig.branch(wanted_id), wanted_id, own=True
    )


async def effective_item(
    client: dolthub.DoltHubClient, commons: Commons, rig: Rig, wanted_id: str
) -> ItemState | None:
    """The item as ``rig`` sees it: its branch row if it has one, else upstream main's."""
    row, exists = await branch_row(
        client, rig.org, commons.db, rig.branch(wanted_id), wanted_id, own=True
    )
    if row is not None:
        return ItemState(row, on_branch=True)
    upstream = await upstream_item(client, commons, wanted_id)
    if upstream is None:
        return None
    return ItemState(upstream, on_branch=False, branch_missing=not exists)


async def pending_claimers(
    client: dolthub.DoltHubClient,
    commons: Commons,
    wanted_id: str,
    *,
    exclude: str,
    details: PullDetails | None = None,
) -> list[str]:
    """Rigs other than ``exclude`` whose open upstream pull request claims ``wanted_id``.

    Looks at every pull request the fresh list shows open from a branch
    ``wl/<rig>/<wanted_id>`` (where a pull request comes from never changes, so its
    detail is read once into ``details``) and reads the item on that branch of the pull
    request's fork.
    """
    summaries = [s for s in await client.list_pulls(commons.owner, commons.db) if s.state == "open"]
    cache = details if details is not None else PullDetails(capacity=1000)
    limit = asyncio.Semaphore(_PULL_DETAIL_CONCURRENCY)

    async def claimer(pull_id: str) -> str | None:
        async with limit:
            pull = await cache.detail(client, commons.owner, commons.db, pull_id)
            parts = pull.from_branch.split("/", 2)
            if len(parts) != 3 or parts[0] != "wl" or parts[2] != wanted_id:
                return None
            other = parts[1]
            if other in (exclude, "register"):
                return None
            owner = pull.from_owner or commons.owner
            db = pull.from_database or commons.db
            row = await read_branch_item(client, owner, db, pull.from_branch, wanted_id)
        if row is None or row.status not in CLAIMED_STATUSES:
            return None
        if not row.claimed_by or row.claimed_by == exclude:
            return None
        return row.claimed_by

    found = await asyncio.gather(*(claimer(s.pull_id) for s in summaries))
    return sorted({handle for handle in found if handle})


async def fork_agrees(
    client: dolthub.DoltHubClient, commons: Commons, rig: Rig, wanted_id: str
) -> bool:
    """Whether the item looks the same on the rig's fork ``main`` as on the upstream (so
    a branch cut from a lagging fork still starts from the item's current state)."""
    upstream = await upstream_item(client, commons, wanted_id)
    try:
        fork = await read_item(client, rig.org, commons.db, wanted_id, own=True)
    except dolthub.NotFound:
        return False
    if upstream is None or fork is None:
        return upstream is None and fork is None
    return (upstream.status, upstream.claimed_by) == (fork.status, fork.claimed_by)


async def rig_on_upstream(client: dolthub.DoltHubClient, commons: Commons, rig: Rig) -> bool:
    """Whether the rig's registration row is on the upstream's ``main`` already."""
    sql = bind("SELECT handle FROM rigs WHERE handle = ?", rig.handle)
    result = await client.read(commons.owner, commons.db, sql)
    return any(row.get("handle") == rig.handle for row in result.rows)


# --------------------------------------------------------------------------- claim


async def precheck_claim(
    client: dolthub.DoltHubClient,
    commons: Commons,
    rig: Rig,
    wanted_id: str,
    *,
    details: PullDetails | None = None,
    seen: UpstreamHead | None = None,
) -> Refusal | None:
    """Refuse a claim of an item that is missing, not open upstream, or claimed by another
    rig's pending pull request. The upstream head read with the item goes into ``seen``."""
    upstream, head = await upstream_item_and_head(client, commons, wanted_id)
    if seen is not None:
        seen.head = head
    if upstream is None:
        return Refusal("NOT_FOUND", f"wanted item {wanted_id} not found")
    if upstream.status != "open":
        if upstream.status in CLAIMED_STATUSES and upstream.claimed_by == rig.handle:
            return Refusal("ABORTED", f"{ALREADY_CLAIMED} (by you)")
        return Refusal("ABORTED", f"{ALREADY_CLAIMED}: the item is {upstream.status}")
    others = await pending_claimers(client, commons, wanted_id, exclude=rig.handle, details=details)
    if others:
        return Refusal("ABORTED", f"{ALREADY_CLAIMED} (pending claim by {', '.join(others)})")
    return None


async def verify_claim(
    client: dolthub.DoltHubClient,
    commons: Commons,
    rig: Rig,
    wanted_id: str,
    printed_status: str | None,
) -> Verified | Refusal:
    """Confirm the claim is on the rig's branch while upstream still has the item open;
    ABORTED "already claimed" when upstream moved on meanwhile, else explain the no-op.

    ``printed_status`` is the status `wl` printed, or None when `wl` did not finish (then
    DoltHub alone decides).
    """
    upstream = await upstream_item(client, commons, wanted_id)
    if upstream is None:
        return Refusal("NOT_FOUND", f"wanted item {wanted_id} not found")
    if upstream.status != "open":
        # Someone else's claim landed between the pre-check and now: ours cannot merge.
        return Refusal("ABORTED", f"{ALREADY_CLAIMED}: the item is {upstream.status}")
    row = await rig_item(client, commons, rig, wanted_id)
    if (
        printed_status in (None, "claimed")
        and row is not None
        and row.status == "claimed"
        and row.claimed_by == rig.handle
    ):
        return Verified(item=row)
    # Nothing in wl v0.4.0 ever syncs a fork's main (protocol spec 5.4), so an item posted
    # upstream after the rig forked cannot be claimed through wl: a state of the caller's
    # fork, not a fault of ours.
    return Refusal(
        "FAILED_PRECONDITION",
        "the claim could not be recorded on your fork: it does not show the item open"
        " (your fork may be behind the upstream)",
    )


# --------------------------------------------------------------------------- unclaim


def is_maintainer(role: int) -> bool:
    """Owners and maintainers may act on other rigs' items."""
    return role in (common_pb2.MEMBER_ROLE_OWNER, common_pb2.MEMBER_ROLE_MAINTAINER)


async def precheck_unclaim(
    client: dolthub.DoltHubClient, commons: Commons, rig: Rig, wanted_id: str, role: int
) -> Refusal | None:
    """Only a claimed item, and only its claimer or a maintainer."""
    state = await effective_item(client, commons, rig, wanted_id)
    if state is None:
        return Refusal("NOT_FOUND", f"wanted item {wanted_id} not found")
    if state.row.status != "claimed":
        if state.row.status == "open" and state.on_branch:
            return None  # already unclaimed on this rig's branch: wl is idempotent here
        return Refusal("FAILED_PRECONDITION", f"the item is {state.row.status}, not claimed")
    if state.row.claimed_by != rig.handle and not is_maintainer(role):
        return Refusal("PERMISSION_DENIED", "only the claimer or a maintainer may unclaim")
    return None


# --------------------------------------------------------------------------- done


async def precheck_done(
    client: dolthub.DoltHubClient, commons: Commons, rig: Rig, wanted_id: str
) -> Refusal | None:
    """Only the claimer, on an item it has claimed (or already submitted), and only while
    upstream has not given the item to someone else or finished it (a claim that lost the
    race can never merge, so work submitted on it would be lost)."""
    upstream = await upstream_item(client, commons, wanted_id)
    if upstream is not None:
        if upstream.status in CLAIMED_STATUSES and upstream.claimed_by != rig.handle:
            return Refusal("FAILED_PRECONDITION", NOT_CLAIMED_BY_YOU)
        if upstream.status in ("completed", "withdrawn"):
            return Refusal("FAILED_PRECONDITION", f"the item is {upstream.status}")
    state = await effective_item(client, commons, rig, wanted_id)
    if state is None:
        return Refusal("NOT_FOUND", f"wanted item {wanted_id} not found")
    if state.row.claimed_by != rig.handle or state.row.status not in CLAIMED_STATUSES:
        return Refusal("FAILED_PRECONDITION", NOT_CLAIMED_BY_YOU)
    return None


# --------------------------------------------------------------------------- accept etc.


async def precheck_review(
    client: dolthub.DoltHubClient,
    commons: Commons,
    rig: Rig,
    wanted_id: str,
    *,
    action: str,
    role: int,
    poster_may: bool,
) -> Refusal | None:
    """accept/reject/close: the item must be in review upstream (where `wl` reads the
    completion); accept must not be the claimer's own; close may be the poster's."""
    upstream = await upstream_item(client, commons, wanted_id)
    if upstream is None:
        return Refusal("NOT_FOUND", f"wanted item {wanted_id} not found")
    allowed = is_maintainer(role) or (poster_may and upstream.posted_by == rig.handle)
    if not allowed:
        who = "the poster or a maintainer" if poster_may else "a maintainer"
        return Refusal("PERMISSION_DENIED", f"only {who} may {action}")
    if action == "accept" and upstream.claimed_by == rig.handle:
        return Refusal("PERMISSION_DENIED", "cannot accept your own completion")
    if upstream.status != "in_review":
        return Refusal("FAILED_PRECONDITION", f"the item is {upstream.status}, not in_review")
    return None


# --------------------------------------------------------------------------- generic


async def verify_status(
    client: dolthub.DoltHubClient,
    commons: Commons,
    rig: Rig,
    wanted_id: str,
    *,
    expected: str,
    printed_status: str | None,
    claimed_by: str | None = None,
    require_branch: bool = False,
) -> Verified | Refusal:
    """Confirm the item now has ``expected`` status as the rig sees it (its branch, or
    upstream main when `wl` cleaned the branch up), and ``claimed_by`` when given;
    ``printed_status`` None (`wl` did not finish) leaves the decision to DoltHub alone.

    With ``require_branch`` only the rig's branch counts: `wl` deletes its branch when the
    write changed nothing ("reverted"), so upstream already showing ``expected`` proves
    nothing about this call (someone else got there first).
    """
    state = await effective_item(client, commons, rig, wanted_id)
    if state is None:
        return Refusal("NOT_FOUND", f"wanted item {wanted_id} not found")
    row = state.row
    if require_branch and not state.on_branch:
        return Refusal(
            "FAILED_PRECONDITION",
            f"nothing was recorded: the item is already {row.status or 'without a status'}"
            " upstream",
        )
    if (
        printed_status in (None, expected)
        and row.status == expected
        and (claimed_by is None or row.claimed_by == claimed_by)
    ):
        return Verified(item=row, branch_missing=state.branch_missing)
    return Refusal(
        "FAILED_PRECONDITION",
        f"nothing changed: DoltHub shows the item {row.status or 'without a status'}"
        f" (expected {expected}); your fork may be behind the upstream",
    )


async def verify_stamp(
    client: dolthub.DoltHubClient, commons: Commons, rig: Rig, wanted_id: str
) -> Refusal | None:
    """An accept must leave a stamp by this rig for the item's completion on its branch."""
    sql = bind(
        "SELECT s.id FROM stamps s JOIN completions c ON s.context_id = c.id"
        " WHERE c.wanted_id = ? AND s.author = ?",
        wanted_id,
        rig.handle,
    )
    try:
        result = await client.read(rig.org, commons.db, sql, ref=rig.branch(wanted_id), own=True)
    except (dolthub.NotFound, dolthub.QueryError):
        result = None
    if result is None or not result.rows:
        return Refusal("FAILED_PRECONDITION", "wl issued no stamp for the completion")
    return None


async def verify_posted(
    client: dolthub.DoltHubClient, commons: Commons, rig: Rig, wanted_id: str, title: str
) -> Verified | Refusal:
    """Confirm the new item is on the rig's branch with the posted title."""
    row = await rig_item(client, commons, rig, wanted_id)
    if row is None or row.title != title:
        return Refusal("INTERNAL", f"wl reported posting {wanted_id} but DoltHub does not show it")
    return Verified(item=row)


async def verify_join(
    client: dolthub.DoltHubClient, commons: Commons, rig: Rig
) -> Verified | Refusal:
    """Confirm the rig's fork exists and its registration row is on the registration
    branch (or already on the fork's or upstream's main)."""
    if not await client.database_exists(rig.org, commons.db):
        return Refusal(
            "INTERNAL", f"wl join finished but the fork {rig.org}/{commons.db} is missing"
        )
    sql = bind("SELECT handle, dolthub_org FROM rigs WHERE handle = ?", rig.handle)
    places = [
        (rig.org, commons.db, rig.registration_branch),
        (rig.org, commons.db, "main"),
        (commons.owner, commons.db, "main"),
    ]
    for owner, db, ref in places:
        try:
            result = await client.read(owner, db, sql, ref=ref)
        except (dolthub.NotFound, dolthub.QueryError):
            continue
        if any(r.get("handle") == rig.handle for r in result.rows):
            return Verified()
    return Refusal("INTERNAL", f"wl join finished but rig {rig.handle} is not registered")


# --------------------------------------------------------------------------- parsing


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _tags(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    try:
        parsed = json.loads(value)
    except ValueError:
        return ()
    if not isinstance(parsed, list):
        return ()
    return tuple(str(tag) for tag in parsed if isinstance(tag, str | int | float))


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    text = value.strip().removesuffix("Z")
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
