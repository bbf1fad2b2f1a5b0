"""Which wastelands board-sync polls: track, untrack, and re-track from the registry."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from wasteland_common.errors import NotFound, invalid

from .store import (
    TrackedWasteland,
    delete_cache,
    delete_reviews,
    get_wasteland,
    new_board_revision,
)

log = logging.getLogger(__name__)

# DoltHub owner and database names: letters, digits, '-', '_' and '.'.
_DOLTHUB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_WASTELAND_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
MAX_POLL_INTERVAL_SECONDS = 86_400


@dataclass(frozen=True)
class Upstream:
    """The commons database of a wasteland on DoltHub."""

    owner: str
    db: str

    def __str__(self) -> str:
        return f"{self.owner}/{self.db}"


def parse_wasteland_id(value: str, field: str = "wasteland_id") -> str:
    """A well-formed wasteland id, or INVALID_ARGUMENT naming ``field``."""
    if not value:
        raise invalid(field, "is required")
    if not _WASTELAND_ID.fullmatch(value):
        raise invalid(field, "is not a wasteland id")
    return value


def parse_upstream(value: str, field: str = "upstream") -> Upstream:
    """``owner/db`` as an :class:`Upstream`, or INVALID_ARGUMENT naming ``field``."""
    owner, sep, db = value.strip().partition("/")
    if not sep or not _DOLTHUB_NAME.fullmatch(owner) or not _DOLTHUB_NAME.fullmatch(db):
        raise invalid(field, "must be a DoltHub database as owner/db")
    return Upstream(owner, db)


def parse_poll_interval(value: int, field: str = "poll_interval_seconds") -> int | None:
    """The requested interval in seconds; None (0 in the request) means the default."""
    if value == 0:
        return None
    if value < 0 or value > MAX_POLL_INTERVAL_SECONDS:
        raise invalid(field, f"must be between 1 and {MAX_POLL_INTERVAL_SECONDS} (0: default)")
    return value


def track(
    session: Session,
    wasteland_id: str,
    upstream: Upstream,
    poll_interval_seconds: int | None,
    now: datetime,
) -> bool:
    """Start (or keep) polling ``wasteland_id``; returns True when it was new.

    Idempotent: tracking again with the same upstream changes nothing but the interval.
    A different upstream drops the cache and polls the new commons from scratch.
    """
    existing = get_wasteland(session, wasteland_id)
    if existing is None:
        session.add(
            TrackedWasteland(
                wasteland_id=wasteland_id,
                upstream_owner=upstream.owner,
                upstream_db=upstream.db,
                poll_interval_seconds=poll_interval_seconds,
                next_poll_at=now,
                failures=0,
                tracked_at=now,
            )
        )
        session.flush()
        return True
    existing.poll_interval_seconds = poll_interval_seconds
    if (existing.upstream_owner, existing.upstream_db) != (upstream.owner, upstream.db):
        log.info("wasteland %s moved to upstream %s; dropping its cache", wasteland_id, upstream)
        delete_cache(session, wasteland_id)
        delete_reviews(session, wasteland_id)
        existing.upstream_owner = upstream.owner
        existing.upstream_db = upstream.db
        existing.head_commit = None
        existing.synced_at = None
        existing.next_poll_at = now
        existing.failures = 0
        existing.board_revision = new_board_revision()
    session.flush()
    return False


def untrack(session: Session, wasteland_id: str) -> bool:
    """Stop polling ``wasteland_id`` and drop its cache; False when it was not tracked."""
    delete_cache(session, wasteland_id)
    delete_reviews(session, wasteland_id)
    result = session.execute(
        sa.delete(TrackedWasteland).where(TrackedWasteland.wasteland_id == wasteland_id)
    )
    return bool(getattr(result, "rowcount", 0))


def require_wasteland(session: Session, wasteland_id: str) -> TrackedWasteland:
    """The tracked wasteland, or NOT_FOUND."""
    found = get_wasteland(session, wasteland_id)
    if found is None:
        raise NotFound(f"wasteland {wasteland_id} is not tracked")
    return found


@dataclass(frozen=True)
class ActiveWasteland:
    """One active wasteland as the registry lists it."""

    wasteland_id: str
    upstream: str


def retrack_all(
    session: Session, active: list[ActiveWasteland], now: Callable[[], datetime]
) -> int:
    """Track every active wasteland the registry listed; returns how many were new.

    Entries that do not parse are logged and skipped; wastelands tracked here but absent
    from the list are left alone (the registry untracks deleted ones itself).
    """
    added = 0
    for entry in active:
        try:
            wasteland_id = parse_wasteland_id(entry.wasteland_id)
            upstream = parse_upstream(entry.upstream)
        except Exception as exc:
            log.warning("registry listed an unusable wasteland %.128r: %s", entry.wasteland_id, exc)
            continue
        existing = get_wasteland(session, wasteland_id)
        interval = existing.poll_interval_seconds if existing is not None else None
        if track(session, wasteland_id, upstream, interval, now()):
            added += 1
    return added


async def collect(pages: AsyncIterator[list[ActiveWasteland]]) -> list[ActiveWasteland]:
    """Every entry of a paged registry listing."""
    found: list[ActiveWasteland] = []
    async for page in pages:
        found.extend(page)
    return found
