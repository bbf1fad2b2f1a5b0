"""The retention schedule: the member data of a deleted wasteland (members, credentials,
towns) is erased 30 days after the delete, by a purge pass that runs when the registry
starts and then every ``PURGE_INTERVAL_SECONDS`` (daily by default).

Several registry replicas may run the schedule at once: a pass erases only rows of
wastelands past retention, in one transaction, so passes on different replicas (or a
pass repeated on one) erase each row once and otherwise change nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import db

from . import access_changes, wastelands

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Wait = Callable[[float], Awaitable[None]]
DEFAULT_INTERVAL_SECONDS = 86_400.0
# A failed pass (database unreachable) is tried again this soon, not a day later.
RETRY_SECONDS = 300.0


async def purge_once(sessions: sessionmaker[Session], now: datetime) -> int:
    """One purge pass at ``now``; how many deleted wastelands had data erased."""
    purged = await db.run_in_session(sessions, wastelands.purge_deleted, now)
    await db.run_in_session(sessions, access_changes.prune, now)
    if purged:
        log.info(
            "purged the member data of %d deleted wasteland(s)",
            purged,
            extra={"event": "wasteland.purged"},
        )
    return purged


async def run_schedule(
    sessions: sessionmaker[Session],
    *,
    interval_seconds: float,
    now: Clock,
    wait: Wait = asyncio.sleep,
    retry_seconds: float = RETRY_SECONDS,
) -> None:
    """Purge now, then every ``interval_seconds``, until cancelled.

    A pass that fails is logged and tried again after ``retry_seconds`` (at most the
    interval); it never ends the schedule. ``now`` and ``wait`` are injected so tests
    drive the schedule without sleeping.
    """
    while True:
        try:
            await purge_once(sessions, now())
            delay = interval_seconds
        except Exception:  # the schedule outlives any one failure; the next pass retries
            log.exception("purging deleted wastelands' member data failed")
            delay = min(interval_seconds, retry_seconds)
        await wait(delay)
