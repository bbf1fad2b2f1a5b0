"""How long the event log keeps what: activities for ``ACTIVITY_RETENTION_DAYS`` (90 by
default), board changes for ``BOARD_EVENT_RETENTION_HOURS`` (24: they only serve streams
that resume after a disconnect; the board itself is the cache). A purge pass runs when
board-sync starts and then every ``EVENT_PURGE_INTERVAL_SECONDS``.

Every replica runs the schedule: a pass deletes only rows past retention, so passes on
several replicas delete each row once and otherwise change nothing. Purging never
disturbs a stream: streams read rows after their position, and ``seq`` values are never
reused (see ``store.WastelandEvent``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import db

from . import events

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Wait = Callable[[float], Awaitable[None]]
# A failed pass (database unreachable) is tried again this soon, not an interval later.
RETRY_SECONDS = 300.0


@dataclass(frozen=True)
class Retention:
    """How long each kind of row stays."""

    activity: timedelta = timedelta(days=90)
    board: timedelta = timedelta(hours=24)


async def purge_once(sessions: sessionmaker[Session], retention: Retention, now: datetime) -> int:
    """One pass at ``now``; how many rows were deleted."""
    purged = await db.run_in_session(
        sessions,
        events.purge,
        activity_before=now - retention.activity,
        board_before=now - retention.board,
    )
    if purged:
        log.info("purged %d event log rows past retention", purged)
    return purged


async def run_schedule(
    sessions: sessionmaker[Session],
    retention: Retention,
    *,
    interval_seconds: float,
    now: Clock,
    wait: Wait = asyncio.sleep,
    retry_seconds: float = RETRY_SECONDS,
) -> None:
    """Purge now, then every ``interval_seconds``, until cancelled; a failed pass is
    logged and tried again after ``retry_seconds`` (at most the interval)."""
    while True:
        try:
            await purge_once(sessions, retention, now())
            delay = interval_seconds
        except Exception:  # the schedule outlives any one failure
            log.exception("purging the event log failed")
            delay = min(interval_seconds, retry_seconds)
        await wait(delay)
