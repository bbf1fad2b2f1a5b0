"""One sync of one wasteland: read the upstream head; the tables and the pending overlay
when the head moved; the pending overlay when the sync is forced (the refresh after an
action); and store what was read in one transaction.

An idle poll (the head did not move) costs one head read; the scheduler records every
idle poll of a tick with one statement (:func:`mark_idle_polls`). Pull requests open and
close without moving the head, so the overlay is re-read by the refresh every action
through the service triggers; a pull request opened or closed outside the service shows
at the next head move or refresh.

Every change of an item's shown status is appended to the wasteland's durable event log
in the same transaction that changes the cache (so no replica's stream can miss it, and
none can see it before the board shows it); a sync that starts failing appends
``sync_failed`` once, not on every retry of the outage.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import dolthub, logs
from wasteland_common.db import run_in_session
from wasteland_common.dolthub import DoltHubClient
from wasteland_common.dolthub.pulls import PullDetails
from wasteland_common.errors import FailedPrecondition, NotFound

from . import commons, events, metrics, pending
from .commons import CompletionRow, RigRow, StampRow, WantedRow
from .events import BoardChange
from .pending import PendingChange, PendingPost, PendingState, Upstream
from .store import (
    CachedCompletion,
    CachedRig,
    CachedStamp,
    CachedWanted,
    CachedWantedTag,
    TrackedWasteland,
    delete_cache,
    new_board_revision,
)

log = logging.getLogger(__name__)

# Total orders, so read_all's LIMIT/OFFSET pages are stable. SELECT * keeps the read
# working on every schema version; the parsers pick the columns they know.
TABLE_SQL = {
    "wanted": "SELECT * FROM wanted ORDER BY id",
    "completions": "SELECT * FROM completions ORDER BY id",
    "stamps": "SELECT * FROM stamps ORDER BY id",
    "rigs": "SELECT * FROM rigs ORDER BY handle",
}
_ERROR_MAX = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Target:
    """What a sync needs to know about the wasteland before reading DoltHub."""

    wasteland_id: str
    owner: str
    db: str
    head_commit: str | None


@dataclass(frozen=True)
class Snapshot:
    """The commons tables at one head, parsed."""

    wanted: list[WantedRow]
    completions: list[CompletionRow]
    stamps: list[StampRow]
    rigs: list[RigRow]
    skipped: int = 0


@dataclass(frozen=True)
class SyncResult:
    """What one sync did."""

    wasteland_id: str
    synced_at: datetime
    head_commit: str
    # The head moved, or some item's shown status changed.
    changed: bool
    tables_read: bool
    changes: tuple[BoardChange, ...] = field(default_factory=tuple)
    # A scheduled poll that found the head where the cache has it and stored nothing:
    # the scheduler records it with the other idle polls of its tick (mark_idle_polls).
    idle: bool = False


def epoch_seconds(value: datetime | None) -> int:
    """Sort key of a timestamp: whole seconds since 1970, 0 when absent."""
    return int((value - _EPOCH).total_seconds()) if value is not None else 0


# ---------------------------------------------------------------------- DoltHub reads


async def read_snapshot(client: DoltHubClient, owner: str, db: str, head: str) -> Snapshot:
    """The four board tables of ``owner/db``, read at commit ``head`` so they agree with
    each other (falling back to ``main`` where a commit cannot be used as a ref)."""
    ref = head
    try:
        wanted_raw = await client.read_all(owner, db, TABLE_SQL["wanted"], ref=ref)
    except (dolthub.NotFound, dolthub.QueryError) as exc:
        log.debug("reading %s/%s at commit failed (%s); reading main", owner, db, exc)
        ref = "main"
        wanted_raw = await client.read_all(owner, db, TABLE_SQL["wanted"], ref=ref)
    completions_raw, stamps_raw, rigs_raw = await asyncio.gather(
        client.read_all(owner, db, TABLE_SQL["completions"], ref=ref),
        client.read_all(owner, db, TABLE_SQL["stamps"], ref=ref),
        client.read_all(owner, db, TABLE_SQL["rigs"], ref=ref),
    )
    where = f"{owner}/{db}@{head[:12]}"
    wanted = commons.parse_wanted(wanted_raw, where)
    completions = commons.parse_completions(completions_raw, where)
    stamps = commons.parse_stamps(stamps_raw, where)
    rigs = commons.parse_rigs(rigs_raw, where)
    return Snapshot(
        wanted=wanted.rows,
        completions=completions.rows,
        stamps=stamps.rows,
        rigs=rigs.rows,
        skipped=wanted.skipped + completions.skipped + stamps.skipped + rigs.skipped,
    )


# ---------------------------------------------------------------------- cache writes


def load_target(session: Session, wasteland_id: str) -> Target:
    """The wasteland's upstream and cached head, or NOT_FOUND."""
    row = session.get(TrackedWasteland, wasteland_id)
    if row is None:
        raise NotFound(f"wasteland {wasteland_id} is not tracked")
    return Target(wasteland_id, row.upstream_owner, row.upstream_db, row.head_commit)


def record_error(session: Session, wasteland_id: str, message: str, now: datetime) -> bool:
    """Remember why the last sync failed; the cached board stays as it was. The first
    failure after a success also goes into the activity log as ``sync_failed``; returns
    whether it did."""
    tracked = session.get(TrackedWasteland, wasteland_id, with_for_update=True)
    if tracked is None:
        return False
    first = tracked.last_error is None
    tracked.last_error = message[:_ERROR_MAX]
    tracked.last_error_at = now
    if first:
        events.record_sync_failure(session, wasteland_id, tracked.upstream, message, now)
    return first


def _wanted_values(
    wasteland_id: str, row: WantedRow, overlay: PendingState | None, *, post_of: str | None = None
) -> dict[str, Any]:
    return {
        "pending_post_rig": post_of,
        "wasteland_id": wasteland_id,
        "wanted_id": row.wanted_id,
        "title": row.title,
        "description": row.description,
        "project": row.project,
        "type": row.type,
        "priority": row.priority,
        "tags_json": json.dumps(list(row.tags), ensure_ascii=False),
        "posted_by": row.posted_by,
        "claimed_by": row.claimed_by,
        "status": row.status,
        "effort_level": row.effort_level,
        "evidence_url": row.evidence_url,
        "sandbox_required": row.sandbox_required,
        "sandbox_scope": row.sandbox_scope,
        "sandbox_min_tier": row.sandbox_min_tier,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "created_ts": epoch_seconds(row.created_at),
        "updated_ts": epoch_seconds(row.updated_at),
        **_overlay_values(row.status, row.claimed_by, overlay),
    }


def _overlay_values(
    status: str, claimed_by: str | None, overlay: PendingState | None
) -> dict[str, Any]:
    if overlay is None:
        return {
            "pending_status": None,
            "pending_claimed_by": None,
            "pending_rig": None,
            "pending_pull_id": None,
            "effective_status": status,
            "effective_claimed_by": claimed_by,
        }
    return {
        "pending_status": overlay.status,
        "pending_claimed_by": overlay.claimed_by,
        "pending_rig": overlay.rig,
        "pending_pull_id": overlay.pull_id,
        "effective_status": overlay.status,
        "effective_claimed_by": overlay.claimed_by,
    }


def _insert(session: Session, model: type[Any], rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(sa.insert(model), list(rows))


def _replace_tables(
    session: Session, wasteland_id: str, snapshot: Snapshot, overlay: dict[str, PendingState]
) -> None:
    delete_cache(session, wasteland_id)
    _insert(
        session,
        CachedWanted,
        [_wanted_values(wasteland_id, w, overlay.get(w.wanted_id)) for w in snapshot.wanted],
    )
    _insert(
        session,
        CachedWantedTag,
        [
            {"wasteland_id": wasteland_id, "wanted_id": w.wanted_id, "tag": tag}
            for w in snapshot.wanted
            for tag in dict.fromkeys(w.tags)
        ],
    )
    _insert(
        session,
        CachedCompletion,
        [
            {
                "wasteland_id": wasteland_id,
                "completion_id": c.completion_id,
                "wanted_id": c.wanted_id,
                "completed_by": c.completed_by,
                "evidence": c.evidence,
                "validated_by": c.validated_by,
                "stamp_id": c.stamp_id,
                "completed_at": c.completed_at,
                "validated_at": c.validated_at,
                "completed_ts": epoch_seconds(c.completed_at),
            }
            for c in snapshot.completions
        ],
    )
    _insert(
        session,
        CachedStamp,
        [
            {
                "wasteland_id": wasteland_id,
                "stamp_id": s.stamp_id,
                "author": s.author,
                "subject": s.subject,
                "quality": s.quality,
                "reliability": s.reliability,
                "severity": s.severity,
                "context_id": s.context_id,
                "context_type": s.context_type,
                "skill_tags_json": json.dumps(list(s.skill_tags), ensure_ascii=False),
                "message": s.message,
                "created_at": s.created_at,
            }
            for s in snapshot.stamps
        ],
    )
    _insert(
        session,
        CachedRig,
        [
            {
                "wasteland_id": wasteland_id,
                "handle": r.handle,
                "display_name": r.display_name,
                "rig_type": r.rig_type,
                "parent_rig": r.parent_rig,
                "trust_level": r.trust_level,
                "registered_at": r.registered_at,
                "dolthub_org": r.dolthub_org,
            }
            for r in snapshot.rigs
        ],
    )


def _store_posts(session: Session, wasteland_id: str, posts: Sequence[PendingPost]) -> None:
    """Replace the cached pending posts (items only on a rig's open pull request)."""
    session.execute(
        sa.delete(CachedWanted).where(
            CachedWanted.wasteland_id == wasteland_id, CachedWanted.pending_post_rig.is_not(None)
        )
    )
    _insert(
        session,
        CachedWanted,
        [
            _wanted_values(
                wasteland_id,
                p.row,
                PendingState(p.row.status, p.row.claimed_by, p.rig, p.pull_id),
                post_of=p.rig,
            )
            for p in posts
        ],
    )


def _cached_posts(session: Session, wasteland_id: str) -> list[dict[str, Any]]:
    """The cached pending posts as column values (kept when pull requests are unreadable)."""
    columns = [c.key for c in sa.inspect(CachedWanted).columns]
    rows = session.scalars(
        sa.select(CachedWanted).where(
            CachedWanted.wasteland_id == wasteland_id, CachedWanted.pending_post_rig.is_not(None)
        )
    ).all()
    return [{c: getattr(r, c) for c in columns} for r in rows]


def _apply_overlay(
    session: Session, wasteland_id: str, changes: Sequence[PendingChange], *, posts: bool
) -> None:
    rows = session.execute(
        sa.select(
            CachedWanted.wanted_id,
            CachedWanted.status,
            CachedWanted.claimed_by,
            CachedWanted.pending_status,
            CachedWanted.pending_claimed_by,
            CachedWanted.pending_rig,
            CachedWanted.pending_pull_id,
        ).where(CachedWanted.wasteland_id == wasteland_id, CachedWanted.pending_post_rig.is_(None))
    ).all()
    upstream = {r.wanted_id: Upstream(r.status, r.claimed_by) for r in rows}
    overlay = pending.overlay_for(upstream, changes)
    if posts:
        _store_posts(session, wasteland_id, pending.pending_posts(upstream, changes))
    for r in rows:
        new = overlay.get(r.wanted_id)
        old = (
            PendingState(
                r.pending_status, r.pending_claimed_by, r.pending_rig or "", r.pending_pull_id or ""
            )
            if r.pending_status is not None
            else None
        )
        if new == old:
            continue
        session.execute(
            sa.update(CachedWanted)
            .where(CachedWanted.wasteland_id == wasteland_id, CachedWanted.wanted_id == r.wanted_id)
            .values(**_overlay_values(r.status, r.claimed_by, new))
        )


def _shown_statuses(session: Session, wasteland_id: str) -> dict[str, str]:
    return {
        wanted_id: status
        for wanted_id, status in session.execute(
            sa.select(CachedWanted.wanted_id, CachedWanted.effective_status).where(
                CachedWanted.wasteland_id == wasteland_id,
                CachedWanted.pending_post_rig.is_(None),
            )
        ).all()
    }


def _current_pending(session: Session, wasteland_id: str) -> list[PendingChange]:
    rows = session.execute(
        sa.select(
            CachedWanted.wanted_id,
            CachedWanted.pending_status,
            CachedWanted.pending_claimed_by,
            CachedWanted.pending_rig,
            CachedWanted.pending_pull_id,
        ).where(
            CachedWanted.wasteland_id == wasteland_id,
            CachedWanted.pending_status.is_not(None),
            CachedWanted.pending_post_rig.is_(None),
        )
    ).all()
    return [
        PendingChange(
            r.wanted_id,
            r.pending_status,
            r.pending_claimed_by,
            r.pending_rig or "",
            r.pending_pull_id or "",
        )
        for r in rows
    ]


def apply_sync(
    session: Session,
    target: Target,
    head: str,
    snapshot: Snapshot | None,
    changes: Sequence[PendingChange] | None,
    now: datetime,
) -> tuple[list[BoardChange], bool] | None:
    """Store what one sync read; returns the board changes and whether the head moved.

    With ``snapshot`` the wasteland's cache is replaced; without it only the pending
    overlay is refreshed. ``changes`` None means the pull requests could not be read:
    the overlay already cached is kept (and re-checked against the new upstream rows).
    Returns None (storing nothing) when the wasteland was untracked or moved to another
    upstream while DoltHub was being read.
    """
    tracked = session.get(TrackedWasteland, target.wasteland_id, with_for_update=True)
    if tracked is None or (tracked.upstream_owner, tracked.upstream_db) != (
        target.owner,
        target.db,
    ):
        return None
    pulls_read = changes is not None
    kept_posts: list[dict[str, Any]] = []
    if changes is None:
        changes = _current_pending(session, target.wasteland_id)
        kept_posts = _cached_posts(session, target.wasteland_id)
    before = _shown_statuses(session, target.wasteland_id)
    if snapshot is not None:
        upstream = {w.wanted_id: Upstream(w.status, w.claimed_by) for w in snapshot.wanted}
        overlay = pending.overlay_for(upstream, changes)
        _replace_tables(session, target.wasteland_id, snapshot, overlay)
        if pulls_read:
            _store_posts(session, target.wasteland_id, pending.pending_posts(upstream, changes))
        else:
            _insert(
                session, CachedWanted, [p for p in kept_posts if p["wanted_id"] not in upstream]
            )
    else:
        _apply_overlay(session, target.wasteland_id, changes, posts=pulls_read)
    after = _shown_statuses(session, target.wasteland_id)
    board_changes = [
        BoardChange(target.wasteland_id, wanted_id, status, now)
        for wanted_id, status in sorted(after.items())
        if before.get(wanted_id) != status
    ]
    events.append_board_changes(session, board_changes, request_id=logs.request_id_var.get())
    head_moved = tracked.head_commit != head
    tracked.head_commit = head
    tracked.synced_at = now
    tracked.last_error = None
    tracked.last_error_at = None
    # The cache was rewritten (tables or overlay): cached reads of it are out of date.
    tracked.board_revision = new_board_revision()
    return board_changes, head_moved


def record_change(
    session: Session, wasteland_id: str, change: PendingChange, now: datetime, head: str
) -> tuple[list[BoardChange], str, datetime] | None:
    """Record one rig's verified proposal (or its withdrawal) in the pending overlay of
    the cached item, without reading its tables or pull requests; ``head`` is the
    upstream's head read just now. Returns the board changes, the cached head and when
    it was synced. None (storing nothing) when the cache cannot decide: the upstream
    moved since the cache was read (a merge outside the service also closes pull
    requests the overlay shows), the item is not cached, or :func:`pending.overlay_with`
    is undecided. Raises NotFound when not tracked."""
    tracked = session.get(TrackedWasteland, wasteland_id, with_for_update=True)
    if tracked is None:
        raise NotFound(f"wasteland {wasteland_id} is not tracked")
    if tracked.head_commit is None or tracked.synced_at is None:
        return None  # never synced: nothing to overlay yet
    if tracked.head_commit != head:
        return None
    row = session.execute(
        sa.select(CachedWanted).where(
            CachedWanted.wasteland_id == wasteland_id,
            CachedWanted.wanted_id == change.wanted_id,
            CachedWanted.pending_post_rig.is_(None),
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    current = (
        PendingState(
            row.pending_status,
            row.pending_claimed_by,
            row.pending_rig or "",
            row.pending_pull_id or "",
        )
        if row.pending_status is not None
        else None
    )
    new = pending.overlay_with(Upstream(row.status, row.claimed_by), current, change)
    if isinstance(new, pending.Undecided):
        return None
    board_changes: list[BoardChange] = []
    if new != current:
        shown = row.effective_status
        for key, value in _overlay_values(row.status, row.claimed_by, new).items():
            setattr(row, key, value)
        # The overlay changed: reads cached under the old revision are out of date.
        tracked.board_revision = new_board_revision()
        if row.effective_status != shown:
            board_changes.append(
                BoardChange(wasteland_id, change.wanted_id, row.effective_status, now)
            )
        events.append_board_changes(session, board_changes, request_id=logs.request_id_var.get())
    return board_changes, tracked.head_commit, tracked.synced_at


def mark_synced(
    session: Session, target: Target, head: str, now: datetime
) -> tuple[list[BoardChange], bool] | None:
    """An idle poll: the head did not move and nothing else was read."""
    tracked = session.get(TrackedWasteland, target.wasteland_id, with_for_update=True)
    if tracked is None or (tracked.upstream_owner, tracked.upstream_db) != (
        target.owner,
        target.db,
    ):
        return None
    tracked.head_commit = head
    tracked.synced_at = now
    tracked.last_error = None
    tracked.last_error_at = None
    return [], False


def mark_idle_polls(session: Session, polls: Sequence[Target], now: datetime) -> None:
    """Record idle polls (each found the head of its target unchanged) as syncs at
    ``now``, with one statement for all of them.

    A wasteland untracked, moved to another upstream or synced to another head since its
    target was read is left alone: whatever changed it recorded its own sync.
    """
    if not polls:
        return
    table = cast(sa.Table, TrackedWasteland.__table__)
    session.execute(
        sa.update(table)
        .where(
            table.c.wasteland_id == sa.bindparam("b_wasteland_id"),
            table.c.upstream_owner == sa.bindparam("b_owner"),
            table.c.upstream_db == sa.bindparam("b_db"),
            table.c.head_commit == sa.bindparam("b_head"),
        )
        .values(synced_at=now, last_error=None, last_error_at=None),
        [
            {
                "b_wasteland_id": t.wasteland_id,
                "b_owner": t.owner,
                "b_db": t.db,
                "b_head": t.head_commit,
            }
            for t in polls
            if t.head_commit is not None
        ],
    )


# ---------------------------------------------------------------------- the sync


class Syncer:
    """Runs syncs: one at a time per wasteland in this process. ``on_logged`` is called
    after a sync committed rows to the event log (this replica's feed reads them at
    once; other replicas are woken by the database)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        client: DoltHubClient,
        *,
        clock: Callable[[], datetime],
        on_logged: Callable[[], None] = lambda: None,
        pulls: PullDetails | None = None,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._on_logged = on_logged
        self._clock = clock
        self._pulls = pulls if pulls is not None else PullDetails()
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def pulls(self) -> PullDetails:
        """The pull-request details this syncer has read (shared with the review inbox)."""
        return self._pulls

    def _lock(self, wasteland_id: str) -> asyncio.Lock:
        lock = self._locks.get(wasteland_id)
        if lock is None:
            lock = self._locks[wasteland_id] = asyncio.Lock()
        return lock

    async def sync(self, wasteland_id: str, *, force: bool) -> SyncResult:
        """Sync ``wasteland_id`` once.

        Raises NotFound when it is not tracked. When DoltHub fails, records the error on
        the wasteland, keeps the cached board, and raises the DoltHub client's error
        (a missing commons becomes FAILED_PRECONDITION).
        """
        async with self._lock(wasteland_id):
            with metrics.timed_sync():
                return await self._sync(wasteland_id, force=force)

    async def record(self, wasteland_id: str, change: PendingChange) -> SyncResult | None:
        """Record an action's verified change in the overlay after one head read
        (:func:`record_change`); None when only a sync can tell the overlay."""
        async with self._lock(wasteland_id):
            target = await run_in_session(self._sessions, load_target, wasteland_id)
            try:
                head = await self._client.head_commit(target.owner, target.db)
            except dolthub.DoltHubError:
                return None  # the sync that follows reports it
            now = self._clock()
            stored = await run_in_session(
                self._sessions, record_change, wasteland_id, change, now, head
            )
            if stored is None:
                return None
            board_changes, head, synced_at = stored
            if board_changes:
                self._on_logged()
            log.info(
                "recorded %s's change of %s in %s without a sync (%d changes)",
                change.rig,
                change.wanted_id,
                wasteland_id,
                len(board_changes),
            )
            return SyncResult(
                wasteland_id=wasteland_id,
                synced_at=synced_at,
                head_commit=head,
                changed=bool(board_changes),
                tables_read=False,
                changes=tuple(board_changes),
            )

    async def poll(self, target: Target) -> SyncResult:
        """A scheduled sync of ``target`` as the scheduler just read it from its row.

        The same as ``sync(force=False)`` except when the head has not moved: then
        nothing is stored and the result is ``idle``, for the caller to record with
        :func:`mark_idle_polls` (one statement for a whole tick's idle polls).
        """
        async with self._lock(target.wasteland_id):
            with metrics.timed_sync():
                return await self._sync(target.wasteland_id, force=False, known=target)

    async def _sync(
        self, wasteland_id: str, *, force: bool, known: Target | None = None
    ) -> SyncResult:
        if known is None:
            target = await run_in_session(self._sessions, load_target, wasteland_id)
        else:
            target = known
        now = self._clock()
        try:
            head = await self._client.head_commit(target.owner, target.db)
            moved = head != target.head_commit
            snapshot = None
            if moved:
                snapshot = await read_snapshot(self._client, target.owner, target.db, head)
            changes: list[PendingChange] | None = None
            try:
                # Pull requests open and close without moving the head, but reading them
                # costs a request per open one: only after a change of ours (a refresh)
                # or when the head moved. An idle poll is one head read.
                if force or moved:
                    changes = await pending.read_pending(
                        self._client, target.owner, target.db, self._pulls
                    )
            except (dolthub.Unavailable, dolthub.RateLimited):
                raise
            except dolthub.DoltHubError as exc:
                # The pull requests cannot be listed (not DoltHub being down): the board
                # still syncs, keeping the overlay it had.
                log.warning(
                    "pull requests of %s/%s unreadable, keeping the pending overlay: %s",
                    target.owner,
                    target.db,
                    exc,
                )
                changes = None
        except dolthub.DoltHubError as exc:
            log.warning(
                "sync of %s from %s/%s failed: %s", wasteland_id, target.owner, target.db, exc
            )
            if await run_in_session(
                self._sessions, record_error, wasteland_id, str(exc), self._clock()
            ):
                self._on_logged()
            if isinstance(exc, dolthub.NotFound):
                raise FailedPrecondition(
                    f"the commons {target.owner}/{target.db} is not readable on DoltHub"
                ) from exc
            raise
        if snapshot is None and changes is None:
            if known is not None:
                return SyncResult(
                    wasteland_id, now, head, changed=False, tables_read=False, idle=True
                )
            stored = await run_in_session(self._sessions, mark_synced, target, head, now)
        else:
            stored = await run_in_session(
                self._sessions, apply_sync, target, head, snapshot, changes, now
            )
        if stored is None:
            raise NotFound(f"wasteland {wasteland_id} is not tracked")
        board_changes, head_moved = stored
        if board_changes:
            self._on_logged()
        if snapshot is not None:
            log.info(
                "synced %s at %s: %d items, %d skipped rows, %d changes",
                wasteland_id,
                head[:12],
                len(snapshot.wanted),
                snapshot.skipped,
                len(board_changes),
            )
        return SyncResult(
            wasteland_id=wasteland_id,
            synced_at=now,
            head_commit=head,
            changed=head_moved or bool(board_changes),
            tables_read=snapshot is not None,
            changes=tuple(board_changes),
        )
