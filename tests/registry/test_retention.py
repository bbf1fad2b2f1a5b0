"""The 30-day purge runs on a schedule, is safe to run on several replicas, and is driven
here by an injected clock and wait (no sleeping)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from wl_registry import retention, wastelands
from wl_registry.server import RegistrySettings, build_and_start
from wl_registry.store import MemberRow, WastelandRow

from .conftest import Clock, RecordingBoard, make_wasteland, user

ALICE = user("alice")
DAY = 86_400.0


def deleted_wasteland(sessions: sessionmaker[Session], clock: Clock) -> str:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", now=clock())
    with sessions.begin() as session:
        wastelands.soft_delete(session, ALICE, wid, clock())
    return wid


def members_of(sessions: sessionmaker[Session], wid: str) -> int:
    with sessions() as session:
        return int(
            session.scalar(
                sa.select(sa.func.count())
                .select_from(MemberRow)
                .where(MemberRow.wasteland_id == wid)
            )
            or 0
        )


class ScheduleDriver:
    """Stands in for the schedule's wait: reports each wait, resumes on request."""

    def __init__(self) -> None:
        self.waits: asyncio.Queue[float] = asyncio.Queue()
        self._resume: asyncio.Queue[None] = asyncio.Queue()

    async def wait(self, seconds: float) -> None:
        await self.waits.put(seconds)
        await self._resume.get()

    async def next_pass(self) -> float:
        """Let the schedule run its next pass; the wait it then asks for."""
        self._resume.put_nowait(None)
        return await self.waits.get()


async def test_a_pass_erases_member_data_only_after_30_days(
    sessions: sessionmaker[Session], clock: Clock
) -> None:
    wid = deleted_wasteland(sessions, clock)
    clock.advance(days=30, seconds=-1)
    assert await retention.purge_once(sessions, clock()) == 0
    assert members_of(sessions, wid) == 1
    clock.advance(seconds=2)
    assert await retention.purge_once(sessions, clock()) == 1
    assert members_of(sessions, wid) == 0
    assert await retention.purge_once(sessions, clock()) == 0  # nothing left to do
    with sessions() as session:
        assert session.get(WastelandRow, wid) is not None  # the tombstone stays


async def test_the_schedule_purges_at_start_and_then_every_interval(
    sessions: sessionmaker[Session], clock: Clock
) -> None:
    wid = deleted_wasteland(sessions, clock)
    driver = ScheduleDriver()
    schedule = asyncio.create_task(
        retention.run_schedule(sessions, interval_seconds=DAY, now=clock, wait=driver.wait)
    )
    try:
        assert await driver.waits.get() == DAY  # the pass at start ran
        assert members_of(sessions, wid) == 1  # deleted today: kept
        clock.advance(days=29)
        assert await driver.next_pass() == DAY
        assert members_of(sessions, wid) == 1
        clock.advance(days=1, seconds=1)
        assert await driver.next_pass() == DAY
        assert members_of(sessions, wid) == 0  # erased by a scheduled pass, not at start
    finally:
        schedule.cancel()
        with pytest.raises(asyncio.CancelledError):
            await schedule


async def test_a_failed_pass_is_retried_soon_and_the_schedule_goes_on(
    sessions: sessionmaker[Session], clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = retention.purge_once
    failures = [RuntimeError("database unreachable")]

    async def flaky(sessions: sessionmaker[Session], now: object) -> int:
        if failures:
            raise failures.pop()
        return await real(sessions, now)  # type: ignore[arg-type]

    monkeypatch.setattr(retention, "purge_once", flaky)
    driver = ScheduleDriver()
    schedule = asyncio.create_task(
        retention.run_schedule(
            sessions, interval_seconds=DAY, now=clock, wait=driver.wait, retry_seconds=300
        )
    )
    try:
        assert await driver.waits.get() == 300
        assert await driver.next_pass() == DAY
    finally:
        schedule.cancel()
        with pytest.raises(asyncio.CancelledError):
            await schedule


async def test_replicas_may_purge_at_the_same_time(
    sessions: sessionmaker[Session], clock: Clock
) -> None:
    wid = deleted_wasteland(sessions, clock)
    clock.advance(days=31)
    passes: list[Callable[[], Awaitable[int]]] = [
        lambda: retention.purge_once(sessions, clock()) for _ in range(3)
    ]
    results = await asyncio.gather(*(p() for p in passes))
    assert all(r in (0, 1) for r in results)
    assert members_of(sessions, wid) == 0
    assert await retention.purge_once(sessions, clock()) == 0


async def test_the_registry_runs_the_schedule_while_it_serves(tmp_path: Path) -> None:
    settings = RegistrySettings(
        DATABASE_URL=f"sqlite+pysqlite:///{tmp_path / 'registry.db'}",
        GRPC_PORT=0,
        PURGE_INTERVAL_SECONDS=3600,
    )
    assert settings.purge_interval_seconds == 3600
    assert RegistrySettings().purge_interval_seconds == DAY  # daily by default
    running, cleanup = await build_and_start(settings, board=RecordingBoard())
    try:
        schedules = [t for t in asyncio.all_tasks() if t.get_name() == "registry-purge"]
        assert len(schedules) == 1
        assert not schedules[0].done()
    finally:
        await running.stop(0)
        await cleanup()
    assert schedules[0].cancelled()
