"""board-sync's Prometheus metrics: syncs by outcome, their duration, and how far behind
the cached boards are (the sync lag).

The gauges describe the shared cache in the database, so every replica reports the
same values; alert on ``max`` over replicas.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.orm import Session

from .store import TrackedWasteland

SYNCS = Counter(
    "wasteland_board_syncs_total",
    "Syncs of one wasteland's board from DoltHub, by outcome (ok, failed).",
    ["outcome"],
)
SYNC_SECONDS = Histogram(
    "wasteland_board_sync_duration_seconds",
    "Time of one sync: DoltHub reads plus the cache update.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)
SYNC_LAG = Gauge(
    "wasteland_board_sync_lag_seconds",
    "Age of the least recently synced board: seconds since its last successful sync (since"
    " it was tracked, if it never synced). 0 when nothing is tracked.",
)
TRACKED = Gauge("wasteland_board_tracked_wastelands", "Wastelands whose boards are polled.")
FAILING = Gauge(
    "wasteland_board_failing_wastelands",
    "Tracked wastelands whose last sync failed (they are retried with backoff).",
)


@contextmanager
def timed_sync() -> Iterator[None]:
    """Count and time one sync; an exception escaping the block counts as ``failed``."""
    started = time.perf_counter()
    outcome = "failed"
    try:
        yield
        outcome = "ok"
    finally:
        SYNCS.labels(outcome).inc()
        SYNC_SECONDS.observe(time.perf_counter() - started)


@dataclass(frozen=True)
class BoardHealth:
    """The cache as the gauges report it."""

    tracked: int
    failing: int
    lag_seconds: float


def board_health(session: Session, now: datetime) -> BoardHealth:
    """Count the tracked and failing wastelands and measure the sync lag at ``now``."""
    row = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((TrackedWasteland.failures > 0, 1), else_=0)), 0),
            sa.func.min(sa.func.coalesce(TrackedWasteland.synced_at, TrackedWasteland.tracked_at)),
        )
    ).one()
    tracked, failing, oldest = int(row[0]), int(row[1]), row[2]
    lag = max(0.0, (now - oldest).total_seconds()) if isinstance(oldest, datetime) else 0.0
    return BoardHealth(tracked=tracked, failing=failing, lag_seconds=lag)


def observe(session: Session, now: datetime) -> BoardHealth:
    """Set the gauges from the database at ``now``; returns what they now say."""
    health = board_health(session, now)
    TRACKED.set(health.tracked)
    FAILING.set(health.failing)
    SYNC_LAG.set(health.lag_seconds)
    return health
