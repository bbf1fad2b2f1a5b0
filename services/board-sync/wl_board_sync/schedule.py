"""The polling schedule: which wastelands are due, leases so replicas share the work,
and backoff after failures.

Every replica runs the same loop. Each tick picks wastelands whose ``next_poll_at`` has
passed and whose lease is free or expired, takes the lease with one conditional UPDATE
(so two replicas never poll one wasteland at once, on SQLite and PostgreSQL alike),
syncs, sets the next poll time and releases the lease. The decisions are plain functions
of the clock so tests drive them without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common.db import run_in_session

from . import metrics
from .store import TrackedWasteland
from .sync import SyncResult

log = logging.getLogger(__name__)

SyncFn = Callable[[str, bool], Awaitable[SyncResult]]
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
class DueWasteland:
    """A wasteland a tick may poll."""

    wasteland_id: str
    poll_interval_seconds: int | None
    failures: int


def due_wastelands(session: Session, now: datetime, limit: int) -> list[DueWasteland]:
    """Wastelands whose poll time has come and whose lease is free, most overdue first."""
    rows = session.execute(
        sa.select(
            TrackedWasteland.wasteland_id,
            TrackedWasteland.poll_interval_seconds,
            TrackedWasteland.failures,
        )
        .where(
            TrackedWasteland.next_poll_at <= now,
            sa.or_(TrackedWasteland.lease_until.is_(None), TrackedWasteland.lease_until < now),
        )
        .order_by(TrackedWasteland.next_poll_at, TrackedWasteland.wasteland_id)
        .limit(limit)
    ).all()
    return [DueWasteland(r.wasteland_id, r.poll_interval_seconds, r.failures) for r in rows]


def acquire_lease(
    session: Session,
    wasteland_id: str,
    owner: str,
    now: datetime,
    seconds: float,
    *,
    only_if_due: bool = False,
) -> bool:
    """Take the lease of ``wasteland_id`` for ``owner`` if it is free or expired (and,
    with ``only_if_due``, if its poll time has come).

    One conditional UPDATE: when two replicas race, the database lets exactly one match.
    Re-checking the poll time matters: a replica that listed the wasteland as due may
    reach it only after another replica polled it and released the lease.
    """
    conditions = [
        TrackedWasteland.wasteland_id == wasteland_id,
        sa.or_(TrackedWasteland.lease_until.is_(None), TrackedWasteland.lease_until < now),
    ]
    if only_if_due:
        conditions.append(TrackedWasteland.next_poll_at <= now)
    result = session.execute(
        sa.update(TrackedWasteland)
        .where(*conditions)
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
    batch: int = 50
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
        retrack: RetrackFn | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._sync = sync
        self._replica_id = replica_id
        self._clock = clock
        self._config = config
        self._retrack = retrack
        self._retrack_due: datetime | None = clock() if retrack is not None else None
        self._retrack_failures = 0
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._wake = asyncio.Event()

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
        """One round: re-track if still owed, then poll every due wasteland whose lease this
        replica gets. Returns the ids polled (successfully or not)."""
        await self.maybe_retrack()
        now = self._clock()
        due = await run_in_session(self._sessions, due_wastelands, now, self._config.batch)
        limit = asyncio.Semaphore(self._config.concurrency)

        async def poll(entry: DueWasteland) -> str | None:
            async with limit:
                return await self.poll_one(entry.wasteland_id)

        results = await asyncio.gather(*(poll(entry) for entry in due))
        await run_in_session(self._sessions, metrics.observe, self._clock())
        return [r for r in results if r is not None]

    async def poll_one(self, wasteland_id: str) -> str | None:
        """Poll one wasteland if it is still due and its lease can be taken; None when
        another replica holds it or has just polled it."""
        taken = await run_in_session(
            self._sessions,
            acquire_lease,
            wasteland_id,
            self._replica_id,
            self._clock(),
            self._config.lease_seconds,
            only_if_due=True,
        )
        if not taken:
            return None
        succeeded = False
        try:
            await self._sync(wasteland_id, False)
            succeeded = True
        except asyncio.CancelledError:
            await self._release(wasteland_id)
            raise
        except Exception as exc:
            # Already logged by the sync with its cause; the backoff is the handling.
            log.debug("scheduled sync of %s failed: %s", wasteland_id, exc)
        await self._finish(wasteland_id, succeeded)
        return wasteland_id

    async def refresh(self, wasteland_id: str) -> SyncResult:
        """Sync ``wasteland_id`` now (forced) and push its next poll one interval out.

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
            result = await self._sync(wasteland_id, True)
        except BaseException:
            if taken:
                await self._release(wasteland_id)
            raise
        if taken:
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._config.tick_seconds)
