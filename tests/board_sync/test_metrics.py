"""board-sync's metrics: syncs by outcome, and the sync lag measured from the cache."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import errors
from wasteland_common.dolthub import DoltHubClient
from wl_board_sync import metrics
from wl_board_sync.schedule import ScheduleConfig, Scheduler
from wl_board_sync.store import TrackedWasteland
from wl_board_sync.sync import Syncer, SyncResult
from wl_board_sync.tracking import track

from .conftest import HOP_COMMONS, T0, FakeClock


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def tracked(sessions: sessionmaker[Session], *ids: str) -> None:
    with sessions.begin() as session:
        for wasteland_id in ids:
            track(session, wasteland_id, HOP_COMMONS, None, T0)


def set_row(sessions: sessionmaker[Session], wasteland_id: str, **values: object) -> None:
    with sessions.begin() as session:
        row = session.get(TrackedWasteland, wasteland_id)
        assert row is not None
        for key, value in values.items():
            setattr(row, key, value)


def test_nothing_tracked_means_no_lag(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        assert metrics.board_health(session, T0) == metrics.BoardHealth(0, 0, 0.0)


def test_the_lag_is_the_age_of_the_least_recently_synced_board(
    sessions: sessionmaker[Session],
) -> None:
    tracked(sessions, "wl-a", "wl-b", "wl-c")
    set_row(sessions, "wl-a", synced_at=T0 + timedelta(seconds=200))
    set_row(sessions, "wl-b", synced_at=T0 + timedelta(seconds=50), failures=2)
    # wl-c never synced: it counts from when it was tracked (T0).
    with sessions() as session:
        assert metrics.board_health(session, T0 + timedelta(seconds=300)) == metrics.BoardHealth(
            tracked=3, failing=1, lag_seconds=300.0
        )
    set_row(sessions, "wl-c", synced_at=T0 + timedelta(seconds=290))
    with sessions() as session:
        health = metrics.observe(session, T0 + timedelta(seconds=300))
    assert health.lag_seconds == 250.0
    assert sample("wasteland_board_sync_lag_seconds") == 250.0
    assert sample("wasteland_board_tracked_wastelands") == 3
    assert sample("wasteland_board_failing_wastelands") == 1


async def test_each_scheduler_tick_refreshes_the_gauges(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    tracked(sessions, "wl-a")

    async def sync(wasteland_id: str, force: bool) -> SyncResult:
        set_row(sessions, wasteland_id, synced_at=clock())
        return SyncResult(wasteland_id, clock(), "head", changed=False, tables_read=False)

    loop = Scheduler(
        sessions, sync, replica_id="r1", clock=clock, config=ScheduleConfig(default_interval=60)
    )
    clock.advance(30)
    assert await loop.tick() == ["wl-a"]
    assert sample("wasteland_board_sync_lag_seconds") == 0.0
    clock.advance(45)  # not due yet: nothing polled, the board ages
    assert await loop.tick() == []
    assert sample("wasteland_board_sync_lag_seconds") == 45.0


async def test_syncs_are_counted_by_outcome(sessions: sessionmaker[Session]) -> None:
    ok, failed = (
        sample("wasteland_board_syncs_total", outcome="ok"),
        sample("wasteland_board_syncs_total", outcome="failed"),
    )
    timed = sample("wasteland_board_sync_duration_seconds_count")
    with metrics.timed_sync():
        pass
    async with DoltHubClient("http://127.0.0.1:9/api/v1alpha1") as client:
        syncer = Syncer(sessions, client, clock=FakeClock())
        with pytest.raises(errors.NotFound):
            await syncer.sync("wl-untracked", force=False)
    assert sample("wasteland_board_syncs_total", outcome="ok") == ok + 1
    assert sample("wasteland_board_syncs_total", outcome="failed") == failed + 1
    assert sample("wasteland_board_sync_duration_seconds_count") == timed + 2
