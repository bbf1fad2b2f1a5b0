"""Each wasteland's durable event log: board changes and activities, in commit order.

Writers: a sync appends one ``board`` row per wanted item whose shown status changed, in
the transaction that changes the cache; ``RecordActivity`` appends an activity; a sync
that starts failing appends ``sync_failed``. Readers: ``ListActivity`` pages through the
activities, and every replica's feed (``feed.py``) tails the log for its streams.

Order: every append takes the log lock first (PostgreSQL: a transaction-scoped advisory
lock; SQLite serialises writers itself), so ``seq`` values are assigned and committed
one transaction after the other: once a reader has seen ``seq`` n, no row with a smaller
``seq`` can still appear. That is what lets a stream resume after a cursor and lets a
replica tail the log with ``seq > cursor`` without missing a row. On PostgreSQL an
append also NOTIFYs :data:`NOTIFY_CHANNEL` (delivered at commit) so every replica's feed
wakes at once instead of at its next poll.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from wasteland_common import logs
from wasteland_common.activity import ActivityKindName, clean_detail, service_actor
from wasteland_common.errors import AlreadyExists, invalid

from .store import WastelandEvent

Category = Literal["board", "activity"]
NOTIFY_CHANNEL: Final = "wasteland_events"
# pg_advisory_xact_lock key of the log ("wlev"): one writer at a time, until commit.
LOG_LOCK_KEY: Final = 0x776C6576
ACTOR: Final = service_actor("board-sync")


@dataclass(frozen=True)
class BoardChange:
    """A wanted item now shows ``status`` on the board of ``wasteland_id``."""

    wasteland_id: str
    wanted_id: str
    status: str
    observed_at: datetime


@dataclass(frozen=True)
class NewActivity:
    """An activity to record, checked (see :func:`parse_activity`)."""

    event_id: str
    wasteland_id: str
    kind: ActivityKindName
    actor: str
    wanted_id: str | None
    pull_id: str | None
    detail: str
    request_id: str
    at: datetime


@dataclass(frozen=True)
class LoggedEvent:
    """One row of the log as streams and pages see it."""

    seq: int
    event_id: str
    wasteland_id: str
    category: Category
    kind: ActivityKindName | None
    status: str | None
    actor: str
    wanted_id: str | None
    pull_id: str | None
    detail: str
    request_id: str
    at: datetime

    @property
    def cursor(self) -> str:
        """Where a stream resumes after this event."""
        return str(self.seq)


def logged(row: WastelandEvent) -> LoggedEvent:
    """The read model of a log row."""
    return LoggedEvent(
        seq=row.seq,
        event_id=row.event_id,
        wasteland_id=row.wasteland_id,
        category=cast(Category, row.category),
        kind=cast(ActivityKindName | None, row.kind),
        status=row.status,
        actor=row.actor,
        wanted_id=row.wanted_id,
        pull_id=row.pull_id,
        detail=row.detail,
        request_id=row.request_id,
        at=row.at,
    )


# ---------------------------------------------------------------------- validation


def parse_cursor(value: str, field: str = "after") -> int | None:
    """A stream cursor (None when empty), or INVALID_ARGUMENT naming ``field``."""
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        raise invalid(field, "is not an event cursor")
    return int(value)


# ---------------------------------------------------------------------- writes


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def lock_log(session: Session) -> None:
    """Become the log's only writer until this transaction ends (PostgreSQL; SQLite has
    one writer at a time anyway)."""
    if _postgres(session):
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(LOG_LOCK_KEY)))


def _notify(session: Session, wasteland_id: str) -> None:
    if _postgres(session):
        session.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, wasteland_id)))


def append_board_changes(
    session: Session, changes: Sequence[BoardChange], *, request_id: str = ""
) -> int:
    """Append one ``board`` row per change (call inside the transaction that changed the
    cache); returns how many."""
    if not changes:
        return 0
    lock_log(session)
    session.execute(
        sa.insert(WastelandEvent),
        [
            {
                "event_id": "bc_" + uuid.uuid4().hex,
                "wasteland_id": c.wasteland_id,
                "category": "board",
                "kind": None,
                "status": c.status,
                "actor": ACTOR,
                "wanted_id": c.wanted_id,
                "pull_id": None,
                "detail": f"{c.wanted_id} now shows {c.status}",
                "request_id": request_id,
                "at": c.observed_at,
            }
            for c in changes
        ],
    )
    for wasteland_id in dict.fromkeys(c.wasteland_id for c in changes):
        _notify(session, wasteland_id)
    return len(changes)


def _by_event_id(session: Session, event_id: str) -> WastelandEvent | None:
    return session.scalars(
        sa.select(WastelandEvent).where(WastelandEvent.event_id == event_id)
    ).one_or_none()


def _same_event(row: WastelandEvent, activity: NewActivity) -> LoggedEvent:
    if row.category != "activity" or row.wasteland_id != activity.wasteland_id:
        raise AlreadyExists("activity.event_id: already used by another event")
    return logged(row)


def record_activity(session: Session, activity: NewActivity) -> tuple[LoggedEvent, bool]:
    """Append ``activity`` unless its ``event_id`` is already in the log; returns the
    stored event and whether this call recorded it."""
    lock_log(session)
    existing = _by_event_id(session, activity.event_id)
    if existing is not None:
        return _same_event(existing, activity), False
    row = WastelandEvent(
        event_id=activity.event_id,
        wasteland_id=activity.wasteland_id,
        category="activity",
        kind=activity.kind,
        status=None,
        actor=activity.actor,
        wanted_id=activity.wanted_id,
        pull_id=activity.pull_id,
        detail=activity.detail,
        request_id=activity.request_id,
        at=activity.at,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Only when a writer bypassed the lock (it cannot happen through this module).
        raced = _by_event_id(session, activity.event_id)
        if raced is None:
            raise
        return _same_event(raced, activity), False
    _notify(session, activity.wasteland_id)
    return logged(row), True


def record_sync_failure(
    session: Session, wasteland_id: str, upstream: str, message: str, now: datetime
) -> LoggedEvent:
    """Append ``sync_failed`` (board-sync's own activity)."""
    event, _ = record_activity(
        session,
        NewActivity(
            event_id="sf_" + uuid.uuid4().hex,
            wasteland_id=wasteland_id,
            kind="sync_failed",
            actor=ACTOR,
            wanted_id=None,
            pull_id=None,
            detail=clean_detail(f"reading the commons {upstream} failed: {message}"),
            request_id=logs.request_id_var.get(),
            at=now,
        ),
    )
    return event


def purge(session: Session, *, activity_before: datetime, board_before: datetime) -> int:
    """Delete activities older than ``activity_before`` and board changes older than
    ``board_before``; returns how many rows went."""
    deleted = 0
    for category, before in (("activity", activity_before), ("board", board_before)):
        result = session.execute(
            sa.delete(WastelandEvent).where(
                WastelandEvent.category == category, WastelandEvent.at < before
            )
        )
        deleted += int(getattr(result, "rowcount", 0) or 0)
    return deleted


# ---------------------------------------------------------------------- reads


def latest_seq(session: Session) -> int:
    """The newest ``seq`` committed so far (0 for an empty log)."""
    latest = session.scalar(sa.select(sa.func.max(WastelandEvent.seq)))
    return int(latest) if latest is not None else 0


def read_after(
    session: Session, after: int, wasteland_ids: Collection[str], limit: int
) -> list[LoggedEvent]:
    """The events of ``wasteland_ids`` after ``seq`` ``after``, oldest first, at most
    ``limit``."""
    if not wasteland_ids:
        return []
    rows = session.scalars(
        sa.select(WastelandEvent)
        .where(WastelandEvent.seq > after, WastelandEvent.wasteland_id.in_(list(wasteland_ids)))
        .order_by(WastelandEvent.seq)
        .limit(limit)
    ).all()
    return [logged(r) for r in rows]
