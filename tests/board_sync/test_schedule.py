"""Scheduling decisions with a fake clock: what is due, leases shared between replicas,
backoff after failures, forced refreshes, and the registry re-track. No sleeps."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker
from wl_board_sync import schedule
from wl_board_sync.schedule import ScheduleConfig, Scheduler
from wl_board_sync.store import TrackedWasteland
from wl_board_sync.sync import SyncResult, Target
from wl_board_sync.tracking import Upstream, track

from .conftest import T0, FakeClock

CONFIG = ScheduleConfig(
    default_interval=300, tick_seconds=5, lease_seconds=60, backoff_base_seconds=5
)


# ---------------------------------------------------------------------- pure decisions


def test_backoff_doubles_from_the_base_and_is_capped_at_the_interval() -> None:
    waits = [schedule.backoff_seconds(n, 300, 5) for n in range(1, 9)]
    assert waits == [5, 10, 20, 40, 80, 160, 300, 300]
    assert schedule.backoff_seconds(0, 300, 5) == 300
    assert schedule.backoff_seconds(1000, 300, 5) == 300


def test_next_poll_is_one_interval_after_success_and_jitter_only_shortens() -> None:
    assert schedule.next_poll_at(T0, 300, 0, 5) == T0 + timedelta(seconds=300)
    jittered = schedule.next_poll_at(T0, 300, 0, 5, jitter=0.999)
    assert T0 + timedelta(seconds=270) <= jittered < T0 + timedelta(seconds=300)
    assert schedule.next_poll_at(T0, 300, 2, 5) == T0 + timedelta(seconds=10)


@pytest.mark.parametrize(
    ("next_poll", "lease_until", "due"),
    [
        (T0, None, True),
        (T0 - timedelta(seconds=1), None, True),
        (T0 + timedelta(seconds=1), None, False),
        (T0, T0 + timedelta(seconds=30), False),
        (T0, T0 - timedelta(seconds=1), True),
        (T0, T0, False),
    ],
)
def test_due_means_time_has_come_and_the_lease_is_free(
    next_poll: datetime, lease_until: datetime | None, due: bool
) -> None:
    assert schedule.is_due(next_poll, lease_until, T0) is due


def test_stale_defaults_to_three_intervals() -> None:
    assert schedule.stale_after(300, None) == 900
    assert schedule.stale_after(300, 42) == 42
    assert schedule.is_stale(None, T0, 900)
    assert not schedule.is_stale(T0, T0 + timedelta(seconds=900), 900)
    assert schedule.is_stale(T0, T0 + timedelta(seconds=901), 900)


# ---------------------------------------------------------------------- leases in the DB


def tracked(sessions: sessionmaker[Session], *ids: str, interval: int | None = None) -> None:
    with sessions.begin() as session:
        for wasteland_id in ids:
            track(session, wasteland_id, Upstream("hop", wasteland_id), interval, T0)


def row(sessions: sessionmaker[Session], wasteland_id: str) -> TrackedWasteland:
    with sessions() as session:
        found = session.get(TrackedWasteland, wasteland_id)
        assert found is not None
        return found


def test_a_lease_goes_to_one_replica_until_it_expires(sessions: sessionmaker[Session]) -> None:
    tracked(sessions, "wl-a")
    with sessions.begin() as session:
        assert schedule.acquire_lease(session, "wl-a", "r1", T0, 60)
    with sessions.begin() as session:
        assert not schedule.acquire_lease(session, "wl-a", "r2", T0 + timedelta(seconds=59), 60)
        assert schedule.claim_due(session, T0 + timedelta(seconds=59), 10, "r2", 60) == []
    with sessions.begin() as session:
        assert schedule.acquire_lease(session, "wl-a", "r2", T0 + timedelta(seconds=61), 60)
    assert row(sessions, "wl-a").lease_owner == "r2"
    with sessions.begin() as session:
        schedule.release_lease(session, "wl-a", "r1")  # not r1's any more: no effect
    assert row(sessions, "wl-a").lease_owner == "r2"


def test_due_wastelands_are_claimed_most_overdue_first(sessions: sessionmaker[Session]) -> None:
    tracked(sessions, "wl-a", "wl-b", "wl-c")
    with sessions.begin() as session:
        for wasteland_id, offset in (("wl-a", 10), ("wl-b", -20), ("wl-c", -5)):
            session.get(TrackedWasteland, wasteland_id).next_poll_at = T0 + timedelta(  # type: ignore[union-attr]
                seconds=offset
            )
    with sessions.begin() as session:
        due = schedule.claim_due(session, T0, 10, "r1", 60)
    assert [d.target.wasteland_id for d in due] == ["wl-b", "wl-c"]
    assert row(sessions, "wl-b").lease_owner == "r1"
    assert row(sessions, "wl-a").lease_owner is None


# ---------------------------------------------------------------------- the loop


class FakeSync:
    """Records sync calls; fails for ids in ``failing``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.failing: set[str] = set()

    async def __call__(self, wasteland_id: str, force: bool) -> SyncResult:
        self.calls.append((wasteland_id, force))
        await asyncio.sleep(0)  # let a concurrent replica interleave
        if wasteland_id in self.failing:
            raise RuntimeError("DoltHub is down")
        return SyncResult(wasteland_id, T0, "head", changed=False, tables_read=False)


def scheduler(
    sessions: sessionmaker[Session], sync: FakeSync, clock: FakeClock, replica: str = "r1"
) -> Scheduler:
    return Scheduler(sessions, sync, replica_id=replica, clock=clock, config=CONFIG)


async def test_a_new_wasteland_is_polled_then_waits_one_interval(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    tracked(sessions, "wl-a")
    sync = FakeSync()
    loop = scheduler(sessions, sync, clock)
    assert await loop.tick() == ["wl-a"]
    assert sync.calls == [("wl-a", False)]
    state = row(sessions, "wl-a")
    assert state.lease_owner is None
    assert T0 + timedelta(seconds=270) <= state.next_poll_at <= T0 + timedelta(seconds=300)
    clock.advance(269)
    assert await loop.tick() == []
    clock.advance(31)
    assert await loop.tick() == ["wl-a"]


async def test_failures_back_off_exponentially_up_to_the_interval(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    tracked(sessions, "wl-a", interval=60)
    sync = FakeSync()
    sync.failing.add("wl-a")
    loop = scheduler(sessions, sync, clock)
    waits: list[float] = []
    for _ in range(6):
        assert await loop.tick() == ["wl-a"]
        state = row(sessions, "wl-a")
        waits.append((state.next_poll_at - clock()).total_seconds())
        clock.now = state.next_poll_at
    # Each wait is the backoff shortened by at most 10% jitter.
    for wait, full in zip(waits, [5, 10, 20, 40, 60, 60], strict=True):
        assert full * 0.9 <= wait <= full
    assert row(sessions, "wl-a").failures == 6
    sync.failing.clear()
    await loop.tick()
    assert row(sessions, "wl-a").failures == 0


async def test_two_replicas_never_poll_one_wasteland_twice_in_a_round(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    ids = [f"wl-{n}" for n in range(6)]
    tracked(sessions, *ids)
    sync = FakeSync()
    first, second = scheduler(sessions, sync, clock, "r1"), scheduler(sessions, sync, clock, "r2")
    polled = await asyncio.gather(first.tick(), second.tick())
    assert Counter(w for w, _ in sync.calls) == Counter(ids)
    assert sorted(polled[0] + polled[1]) == sorted(ids)


async def test_a_wasteland_leased_elsewhere_waits_for_the_lease_to_expire(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    tracked(sessions, "wl-a")
    with sessions.begin() as session:
        assert schedule.acquire_lease(session, "wl-a", "crashed-replica", T0, 60)
    sync = FakeSync()
    loop = scheduler(sessions, sync, clock)
    assert await loop.tick() == []
    clock.advance(61)
    assert await loop.tick() == ["wl-a"]


async def test_refresh_forces_a_sync_and_pushes_the_next_poll_out(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    tracked(sessions, "wl-a")
    sync = FakeSync()
    loop = scheduler(sessions, sync, clock)
    await loop.refresh("wl-a")
    assert sync.calls == [("wl-a", True)]
    state = row(sessions, "wl-a")
    assert state.next_poll_at > clock() + timedelta(seconds=250)
    assert state.lease_owner is None
    assert await loop.tick() == []


async def test_refresh_waits_for_a_held_lease_then_syncs_anyway(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    tracked(sessions, "wl-a")
    with sessions.begin() as session:
        schedule.acquire_lease(session, "wl-a", "other", T0, 60)
    sync = FakeSync()
    waited: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waited.append(seconds)
        clock.advance(seconds)

    loop = Scheduler(sessions, sync, replica_id="r1", clock=clock, config=CONFIG, sleep=fake_sleep)
    await loop.refresh("wl-a")
    assert sync.calls == [("wl-a", True)]
    assert sum(waited) >= CONFIG.refresh_lease_wait_seconds
    # The other replica's lease is untouched: it still owns its poll.
    assert row(sessions, "wl-a").lease_owner == "other"


async def test_a_failed_refresh_releases_the_lease(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    tracked(sessions, "wl-a")
    sync = FakeSync()
    sync.failing.add("wl-a")
    loop = scheduler(sessions, sync, clock)
    with pytest.raises(RuntimeError):
        await loop.refresh("wl-a")
    assert row(sessions, "wl-a").lease_owner is None


async def test_retrack_retries_with_backoff_until_the_registry_answers(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    attempts: list[datetime] = []

    async def retrack() -> int:
        attempts.append(clock())
        if len(attempts) < 3:
            raise ConnectionError("registry down")
        return 2

    loop = Scheduler(
        sessions, FakeSync(), replica_id="r1", clock=clock, config=CONFIG, retrack=retrack
    )
    await loop.tick()
    await loop.tick()  # too early to try again
    assert len(attempts) == 1
    clock.advance(5)
    await loop.tick()
    assert len(attempts) == 2
    clock.advance(5)
    await loop.tick()
    assert len(attempts) == 2  # the second failure doubled the wait
    clock.advance(5)
    await loop.tick()
    assert len(attempts) == 3
    assert loop.retracked
    clock.advance(3600)
    await loop.tick()
    assert len(attempts) == 3


# ---------------------------------------------------------------------- batched idle polls


class FakePoll:
    """A scheduled poll that finds the head unchanged (idle) unless told it moved."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.targets: list[Target] = []
        self.moved: set[str] = set()
        self.failing: set[str] = set()

    async def __call__(self, target: Target) -> SyncResult:
        self.targets.append(target)
        await asyncio.sleep(0)
        if target.wasteland_id in self.failing:
            raise RuntimeError("DoltHub is down")
        idle = target.wasteland_id not in self.moved
        head = target.head_commit if idle and target.head_commit else "head-2"
        return SyncResult(
            target.wasteland_id,
            self.clock(),
            head,
            changed=not idle,
            tables_read=not idle,
            idle=idle,
        )


def synced_once(sessions: sessionmaker[Session], *ids: str, head: str = "head-1") -> None:
    """As if each wasteland had its first sync at T0 (cached head ``head``)."""
    with sessions.begin() as session:
        for wasteland_id in ids:
            found = session.get(TrackedWasteland, wasteland_id)
            assert found is not None
            found.head_commit = head
            found.synced_at = T0
            found.last_error = "an old failure"


async def test_idle_polls_are_recorded_as_syncs_and_rescheduled_together(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    ids = [f"wl-{n}" for n in range(5)]
    tracked(sessions, *ids)
    synced_once(sessions, *ids)
    poll = FakePoll(clock)
    poll.failing.add("wl-4")
    loop = Scheduler(sessions, FakeSync(), replica_id="r1", clock=clock, config=CONFIG, poll=poll)
    clock.advance(10)
    assert sorted(await loop.tick()) == ids
    # Each poll got its target as the row had it, with no read of its own.
    assert sorted(t.wasteland_id for t in poll.targets) == ids
    assert {t.head_commit for t in poll.targets} == {"head-1"}
    for wasteland_id in ids[:4]:
        state = row(sessions, wasteland_id)
        assert state.synced_at == clock()
        assert state.last_error is None
        assert state.failures == 0
        assert state.lease_owner is None
        assert (
            clock() + timedelta(seconds=270)
            <= state.next_poll_at
            <= clock() + timedelta(seconds=300)
        )
    failed = row(sessions, "wl-4")
    assert failed.synced_at == T0  # a failed poll is not a sync
    assert failed.failures == 1
    assert failed.lease_owner is None
    assert failed.next_poll_at <= clock() + timedelta(seconds=5)


async def test_an_idle_poll_does_not_undo_a_sync_that_moved_the_head_meanwhile(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    tracked(sessions, "wl-a")
    synced_once(sessions, "wl-a")

    async def poll(target: Target) -> SyncResult:
        # A forced refresh stores a new head while this poll reads the old one.
        synced_once(sessions, "wl-a", head="head-2")
        return SyncResult(
            target.wasteland_id, clock(), "head-1", changed=False, tables_read=False, idle=True
        )

    loop = Scheduler(sessions, FakeSync(), replica_id="r1", clock=clock, config=CONFIG, poll=poll)
    clock.advance(10)
    assert await loop.tick() == ["wl-a"]
    state = row(sessions, "wl-a")
    assert state.head_commit == "head-2"
    assert state.synced_at == T0  # as the refresh left it, not marked by the stale poll
    assert state.lease_owner is None


async def test_a_poll_whose_lease_was_taken_over_leaves_the_schedule_to_the_new_holder(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    tracked(sessions, "wl-a")
    synced_once(sessions, "wl-a")

    async def poll(target: Target) -> SyncResult:
        # This replica stalled past its lease; another one took the wasteland over.
        with sessions.begin() as session:
            assert schedule.acquire_lease(
                session, "wl-a", "r2", clock() + timedelta(seconds=61), 60
            )
        return SyncResult(
            target.wasteland_id, clock(), "head-1", changed=False, tables_read=False, idle=True
        )

    loop = Scheduler(sessions, FakeSync(), replica_id="r1", clock=clock, config=CONFIG, poll=poll)
    clock.advance(10)
    before = row(sessions, "wl-a").next_poll_at
    await loop.tick()
    state = row(sessions, "wl-a")
    assert state.lease_owner == "r2"
    assert state.next_poll_at == before


async def test_a_full_batch_is_followed_at_once_by_the_next(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    ids = [f"wl-{n}" for n in range(7)]
    tracked(sessions, *ids)
    synced_once(sessions, *ids)
    poll = FakePoll(clock)
    config = ScheduleConfig(default_interval=300, tick_seconds=3600, batch=3, concurrency=2)
    loop = Scheduler(sessions, FakeSync(), replica_id="r1", clock=clock, config=config, poll=poll)
    clock.advance(10)
    running = asyncio.create_task(loop.run())
    try:
        for _ in range(200):
            if len(poll.targets) >= len(ids):
                break
            await asyncio.sleep(0.01)
        # Three batches within one wake-up, though a tick is an hour apart.
        assert sorted(t.wasteland_id for t in poll.targets) == ids
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running


async def test_two_replicas_claim_disjoint_batches(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    ids = [f"wl-{n}" for n in range(20)]
    tracked(sessions, *ids)
    synced_once(sessions, *ids)
    with sessions.begin() as session:
        first = schedule.claim_due(session, clock(), 8, "r1", 60)
    with sessions.begin() as session:
        second = schedule.claim_due(session, clock(), 100, "r2", 60)
    with sessions.begin() as session:
        third = schedule.claim_due(session, clock(), 100, "r3", 60)
    assert len(first) == 8
    assert len(second) == 12
    assert third == []
    assert sorted(c.target.wasteland_id for c in first + second) == sorted(ids)
    assert {row(sessions, c.target.wasteland_id).lease_owner for c in first} == {"r1"}
