"""Fixtures of the board-sync tests: a migrated database on both backends, a fake clock,
and a way to put a board into the cache without DoltHub (the sync's own store step)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import db
from wl_board_sync.commons import CompletionRow, RigRow, StampRow, WantedRow
from wl_board_sync.pending import PendingChange
from wl_board_sync.server import MIGRATIONS
from wl_board_sync.sync import Snapshot, Target, apply_sync
from wl_board_sync.tracking import Upstream, track

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
HOP_COMMONS = Upstream("hop", "wl-commons")


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """A migrated, empty board-sync database (SQLite and PostgreSQL)."""
    engine = db.make_engine(db_url)
    db.migrate(engine, MIGRATIONS)
    yield db.session_factory(engine)
    engine.dispose()


def wanted(wanted_id: str, **overrides: object) -> WantedRow:
    """A valid wanted row with sensible defaults."""
    row = WantedRow(
        wanted_id=wanted_id,
        title=f"Item {wanted_id}",
        description=None,
        project=None,
        type="feature",
        priority=2,
        tags=(),
        posted_by="hop",
        claimed_by=None,
        status="open",
        effort_level="medium",
        evidence_url=None,
        sandbox_required=False,
        sandbox_scope=None,
        sandbox_min_tier=None,
        created_at=T0,
        updated_at=T0,
    )
    return replace(row, **overrides)  # type: ignore[arg-type]


def fill(
    sessions: sessionmaker[Session],
    wasteland_id: str,
    items: Sequence[WantedRow],
    *,
    completions: Sequence[CompletionRow] = (),
    stamps: Sequence[StampRow] = (),
    rigs: Sequence[RigRow] = (),
    pending: Sequence[PendingChange] = (),
    now: datetime = T0,
    head: str = "head-1",
    upstream: Upstream = HOP_COMMONS,
) -> None:
    """Track ``wasteland_id`` (if needed) and store a synced board for it."""
    with sessions.begin() as session:
        track(session, wasteland_id, upstream, None, now)
    snapshot = Snapshot(list(items), list(completions), list(stamps), list(rigs))
    with sessions.begin() as session:
        stored = apply_sync(
            session,
            Target(wasteland_id, upstream.owner, upstream.db, None),
            head,
            snapshot,
            list(pending),
            now,
        )
        assert stored is not None
