"""The polling schedule: which wastelands are due, leases so replicas share the work,
and backoff after failures.

Every replica runs the same loop. Each tick takes the leases of up to ``batch``
wastelands whose ``next_poll_at`` has passed and whose lease is free or expired, with
one conditional UPDATE (so two replicas never poll one wasteland at once, on SQLite and
PostgreSQL alike), polls them ``concurrency`` at a time, then records every outcome
(next poll time, failures, the idle polls' sync time) and releases the leases in one
transaction. A tick that found a full batch is followed at once by the next one, so a
replica keeps up with however many wastelands are due. The decisions are plain
functions of the clock so tests drive them without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common.db import run_in_session

from . import metrics
from .pending import PendingChange
from .store import TrackedWasteland
from .sync import SyncResult, Target, mark_idle_polls

log = logging.getLogger(__name__)

SyncFn = Callable[[str, bool], Awaitable[SyncResult]]
# A scheduled poll of a leased wasteland as its row was read (Syncer.poll).
PollFn = Callable[[Target], Awaitable[SyncResult]]
# Records an action's verified change without a sync; None when only a sync can tell.
RecordFn = Callable[[str, PendingChange], Awaitable[SyncResult | None]]
RetrackFn = Callable[[], Awaitable[int]]


# ---------------------------------------------------------------------- decisions


def interval_of(tracked_interval: int | None, default_interval: int) -> int:
    """The poll interval of a wasteland: its own, else the service default."""
    return tracked_interval if tracked_interval is not None else default_interval


def stale_after(interval: int, configured: int | None) -> int:
    """Seconds after which a cached board counts as stale (default three intervals)."""
    return configured if configured is not None else 3 * interval


def is_stale(synced_at: datetime | None, now: datetime, stale_seconds: int) -> bool:
    """Whether a board last synced at ``synced_at`` is stale at ``now``."""
    return synced_at is None or now - synced_at > timedelta(seconds=stale_seconds)


def lease_is_free(lease_until: datetime | None, now: datetime) -> bool:
    """Whether a lease that runs until ``lease_until`` may be taken at ``now``."""
    return lease_until is None or lease_until < now


def is_due(next_poll_at: datetime, lease_until: datetime | None, now: datetime) -> bool:
    """Whether a wasteland should be polled now."""
    return next_poll_at <= now and lease_is_free(lease_until, now)


def backoff_seconds(failures: int, interval: int, base: float) -> float:
    """The wait after ``failures`` consecutive failures: ``base`` doubling per failure,
    never longer than the poll interval."""
    if failures <= 0:
        return float(interval)
    return min(float(interval), base * float(2 ** min(failures - 1, 30)))


def next_poll_at(
    now: datetime, interval: int, failures: int, base: float, jitter: float = 0.0
) -> datetime:
    """When to poll next: ``interval`` after a success, the backoff after a failure.

    ``jitter`` in [0, 1) shortens the wait by up to 10% so replicas restarted together
    do not poll in lockstep.
    """
    wait = backoff_seconds(failures, interval, base)
    return now + timedelta(seconds=wait * (1.0 - 0.1 * jitter))


# ---------------------------------------------------------------------- storage


@dataclass(frozen=True)
class ClaimedPoll:
    """A due wasteland whose lease a tick took, with what its poll needs."""

    target: Target
    poll_interval_seconds: int | None
    failures: int


def claim_due(
    session: Session, now: datetime, limit: int, owner: str, seconds: float
) -> list[ClaimedPoll]:
    """Take the leases of up to ``limit`` due wastelands (most overdue first) for
    ``owner`` and return them, most overdue first.

    One conditional UPDATE … RETURNING, so it is a write from its first step (SQLite
    waits for the write lock instead of failing a read snapshot that went stale): the
    lease and due conditions are checked again on every row it updates, so each lease
    goes to exactly one replica. PostgreSQL replicas skip rows another one is claiming.
    """
    table = cast(sa.Table, TrackedWasteland.__table__)
    free = sa.or_(table.c.lease_until.is_(None), table.c.lease_until < now)
    due = (
        sa.select(table.c.wasteland_id)
        .where(table.c.next_poll_at <= now, free)
        .order_by(table.c.next_poll_at, table.c.wasteland_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = session.execute(
        sa.update(table)
        .where(table.c.wasteland_id.in_(due.scalar_subquery()), table.c.next_poll_at <= now, free)
        .values(lease_owner=owner, lease_until=now + timedelta(seconds=seconds))
        .returning(
            table.c.wasteland_id,
            table.c.upstream_owner,
            table.c.upstream_db,
            table.c.head_commit,
            table.c.poll_interval_seconds,
            table.c.next_poll_at,
            table.c.failures,
        )
    ).all()
    return [
        ClaimedPoll(
            Target(r.wasteland_id, r.upstream_owner, r.upstream_db, r.head_commit),
            r.poll_interval_seconds,
            r.failures,
        )
        for r in sorted(rows, key=lambda r: (r.next_poll_at, r.wasteland_id))
    ]


@dataclass(frozen=True)
class PollOutcome:
    """How one claimed poll ended."""

    claimed: ClaimedPoll
    succeeded: bool
    # The head had not moved and nothing was stored (SyncResult.idle).
    idle: bool
    jitter: float


def finish_polls(
    session: Session,
    outcomes: list[PollOutcome],
    owner: str,
    *,
    now: datetime,
    default_interval: int,
    backoff_base: float,
) -> None:
    """Record a tick's polls in one transaction: the idle ones as syncs at ``now``, the
    next poll time and failure count of each, and release ``owner``'s leases.

    A wasteland whose lease ``owner`` no longer holds (it expired and another replica
    took it) is left to that replica.
    """
    if not outcomes:
        return
    mark_idle_polls(session, [o.claimed.target for o in outcomes if o.idle], now)
    table = cast(sa.Table, TrackedWasteland.__table__)
    params = []
    for outcome in outcomes:
        failures = 0 if outcome.succeeded else outcome.claimed.failures + 1
        interval = interval_of(outcome.claimed.poll_interval_seconds, default_interval)
        params.append(
            {
                "b_wasteland_id": outcome.claimed.target.wasteland_id,
                "b_failures": failures,
                "b_next_poll_at": next_poll_at(
                    now, interval, failures, backoff_base, outcome.jitter
                ),
            }
        )
    session.execute(
        sa.update(table)
        .where(
            table.c.wasteland_id == sa.bindparam("b_wasteland_id"),
            table.c.lease_owner == owner,
        )
        .values(
            failures=sa.bindparam("b_failures"),
            next_poll_at=sa.bindparam("b_next_poll_at"),
            lease_owner=None,
            lease_until=None,
        ),
        params,
    )


def acquire_lease(
    session: Session,
    wasteland_id: str,
    owner: str,
    now: datetime,
    seconds: float,
) -> bool:
    """Take the lease of ``wasteland_id`` for ``owner`` if it is free or expired (a
    forced refresh; scheduled polls take theirs with :func:`claim_due`).

    One conditional UPDATE: when two replicas race, the database lets exactly one match.
    """
    result = session.execute(
        sa.update(TrackedWasteland)
        .where(
            TrackedWasteland.wasteland_id == wasteland_id,
            sa.or_(TrackedWasteland.lease_until.is_(None), TrackedWasteland.lease_until < now),
        )
        .values(lease_owner=owner, lease_until=now + timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def finish(
    session: Session,
    wasteland_id: str,
    owner: str,
    *,
    succeeded: bool,
    now: datetime,
    default_interval: int,
    backoff_base: float,
    jitter: float,
) -> datetime | None:
    """Record a poll's outcome (next poll time, failure count) and release ``owner``'s
    lease; returns the next poll time, None when the wasteland is gone."""
    tracked = session.get(TrackedWasteland, wasteland_id)
    if tracked is None:
        return None
    failures = 0 if succeeded else tracked.failures + 1
    interval = interval_of(tracked.poll_interval_seconds, default_interval)
    tracked.failures = failures
    tracked.next_poll_at = next_poll_at(now, interval, failures, backoff_base, jitter)
    if tracked.lease_owner == owner:
        tracked.lease_owner = None
        tracked.lease_until = None
    return tracked.next_poll_at


def release_lease(session: Session, wasteland_id: str, owner: str) -> None:
    """Give the lease back if ``owner`` still holds it."""
    session.execute(
        sa.update(TrackedWasteland)
        .where(TrackedWasteland.wasteland_id == wasteland_id, TrackedWasteland.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )


def release_leases(session: Session, wasteland_ids: list[str], owner: str) -> None:
    """Give back every lease of ``wasteland_ids`` that ``owner`` still holds."""
    session.execute(
        sa.update(TrackedWasteland)
        .where(
            TrackedWasteland.wasteland_id.in_(wasteland_ids), TrackedWasteland.lease_owner == owner
        )
        .values(lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )


def poll_soon(session: Session, wasteland_id: str, now: datetime) -> None:
    """Make ``wasteland_id`` due at ``now`` (after it was tracked or moved)."""
    session.execute(
        sa.update(TrackedWasteland)
        .where(TrackedWasteland.wasteland_id == wasteland_id)
        .values(next_poll_at=now)
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------------- the loop


@dataclass(frozen=True)
class ScheduleConfig:
    """Knobs of the loop (from the service settings)."""

    default_interval: int = 300
    tick_seconds: float = 5.0
    lease_seconds: float = 60.0
    backoff_base_seconds: float = 5.0
    # Leases taken per tick; a tick that takes a full batch is followed by another at once.
    batch: int = 200
    concurrency: int = 8
    # How long a forced refresh waits for another poll of the same wasteland to finish.
    refresh_lease_wait_seconds: float = 15.0
    retrack_max_backoff_seconds: float = 60.0


class Scheduler:
    """Polls due wastelands on a tick; forced refreshes go through it too, so both
    respect the same lease."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        sync: SyncFn,
        *,
        replica_id: str,
        clock: Callable[[], datetime],
        config: ScheduleConfig = ScheduleConfig(),
        poll: PollFn | None = None,
        record: RecordFn | None = None,
        retrack: RetrackFn | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._sync = sync
        self._poll = poll if poll is not None else self._sync_target
        self._record = record
        self._replica_id = replica_id
        self._clock = clock
        self._config = config
        self._retrack = retrack
        self._retrack_due: datetime | None = clock() if retrack is not None else None
        self._retrack_failures = 0
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._wake = asyncio.Event()
        self._last_tick_full = False

    @property
    def replica_id(self) -> str:
        return self._replica_id

    @property
    def retracked(self) -> bool:
        """Whether the start-up re-track from the registry has succeeded (or is not needed)."""
        return self._retrack_due is None

    def wake(self) -> None:
        """End the current wait early (a wasteland became due)."""
        self._wake.set()

    async def tick(self) -> list[str]:
        """One round: re-track if still owed, then poll the due wastelands whose leases
        this replica gets (up to one batch). Returns the ids polled (successfully or not)."""
        await self.maybe_retrack()
        now = self._clock()
        claimed = await run_in_session(
            self._sessions,
            claim_due,
            now,
            self._config.batch,
            self._replica_id,
            self._config.lease_seconds,
        )
        self._last_tick_full = len(claimed) >= self._config.batch
        if claimed:
            limit = asyncio.Semaphore(self._config.concurrency)

            async def bounded(entry: ClaimedPoll) -> PollOutcome:
                async with limit:
                    return await self._poll_claimed(entry)

            try:
                outcomes = await asyncio.gather(*(bounded(entry) for entry in claimed))
            except asyncio.CancelledError:
                await asyncio.shield(
                    run_in_session(
                        self._sessions,
                        release_leases,
                        [c.target.wasteland_id for c in claimed],
                        self._replica_id,
                    )
                )
                raise
            await run_in_session(
                self._sessions,
                finish_polls,
                list(outcomes),
                self._replica_id,
                now=self._clock(),
                default_interval=self._config.default_interval,
                backoff_base=self._config.backoff_base_seconds,
            )
        await run_in_session(self._sessions, metrics.observe, self._clock())
        return [c.target.wasteland_id for c in claimed]

    async def _poll_claimed(self, entry: ClaimedPoll) -> PollOutcome:
        try:
            result = await self._poll(entry.target)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Already logged by the sync with its cause; the backoff is the handling.
            log.debug("scheduled sync of %s failed: %s", entry.target.wasteland_id, exc)
            return PollOutcome(entry, succeeded=False, idle=False, jitter=self._rng.random())
        return PollOutcome(entry, succeeded=True, idle=result.idle, jitter=self._rng.random())

    async def _sync_target(self, target: Target) -> SyncResult:
        return await self._sync(target.wasteland_id, False)

    async def refresh(self, wasteland_id: str, change: PendingChange | None = None) -> SyncResult:
        """Sync ``wasteland_id`` now (forced) and push its next poll one interval out;
        with an action's verified ``change`` that the cache can place, record it instead
        (no DoltHub read, the poll schedule left as it is).

        Waits a bounded time for a poll of the same wasteland on another replica to
        finish, so this read is not overtaken by an older one; then syncs regardless.
        """
        deadline = self._clock() + timedelta(seconds=self._config.refresh_lease_wait_seconds)
        taken = False
        delay = 0.05
        while True:
            taken = await run_in_session(
                self._sessions,
                acquire_lease,
                wasteland_id,
                self._replica_id,
                self._clock(),
                self._config.lease_seconds,
            )
            if taken or self._clock() >= deadline:
                break
            await self._sleep(delay)
            delay = min(delay * 2, 1.0)
        if not taken:
            log.info("refreshing %s without its lease (another poll holds it)", wasteland_id)
        try:
            recorded = None
            if change is not None and self._record is not None:
                recorded = await self._record(wasteland_id, change)
            result = recorded or await self._sync(wasteland_id, True)
        except BaseException:
            if taken:
                await self._release(wasteland_id)
            raise
        if taken:
            if recorded is not None:
                await self._release(wasteland_id)
            else:
                await self._finish(wasteland_id, True)
        return result

    async def _finish(self, wasteland_id: str, succeeded: bool) -> None:
        await run_in_session(
            self._sessions,
            finish,
            wasteland_id,
            self._replica_id,
            succeeded=succeeded,
            now=self._clock(),
            default_interval=self._config.default_interval,
            backoff_base=self._config.backoff_base_seconds,
            jitter=self._rng.random(),
        )

    async def _release(self, wasteland_id: str) -> None:
        await asyncio.shield(
            run_in_session(self._sessions, release_lease, wasteland_id, self._replica_id)
        )

    async def maybe_retrack(self) -> None:
        """Re-track every active wasteland from the registry once; on failure try again
        after a growing delay (the registry may start after board-sync)."""
        if self._retrack is None or self._retrack_due is None:
            return
        now = self._clock()
        if now < self._retrack_due:
            return
        try:
            added = await self._retrack()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._retrack_failures += 1
            wait = backoff_seconds(
                self._retrack_failures,
                int(self._config.retrack_max_backoff_seconds),
                self._config.tick_seconds,
            )
            self._retrack_due = now + timedelta(seconds=wait)
            log.warning(
                "re-tracking from the registry failed (%d in a row), next try in %.0fs: %s",
                self._retrack_failures,
                wait,
                exc,
            )
            return
        log.info("re-tracked wastelands from the registry: %d new", added)
        self._retrack_due = None

    async def run(self) -> None:
        """Tick forever (until cancelled); a failing tick is logged and the loop goes on."""
        while True:
            # Cleared before the tick, so a wake-up during the tick starts the next one.
            self._wake.clear()
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler tick failed")
                self._last_tick_full = False
            if self._last_tick_full:
                # More may be due: the next batch now, letting other tasks run first.
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._config.tick_seconds)
