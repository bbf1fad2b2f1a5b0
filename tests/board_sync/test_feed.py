"""The event feed: two replicas tailing one database each deliver every event, streams
resume after a cursor, a stream that falls behind is ended, and on PostgreSQL a NOTIFY
wakes a replica long before its next poll. Every wait is a condition with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import db
from wl_board_sync import events
from wl_board_sync.events import BoardChange, LoggedEvent, NewActivity
from wl_board_sync.feed import EventFeed, LogListener, Subscription
from wl_board_sync.server import MIGRATIONS

from tests.support.postgres import Cluster

from .conftest import T0

DEADLINE = 20.0


@dataclass
class Replica:
    sessions: sessionmaker[Session]
    feed: EventFeed


@pytest.fixture
async def replicas(db_url: str) -> AsyncIterator[tuple[Replica, Replica]]:
    """Two replicas (own engine, own feed) over one migrated database."""
    async with AsyncExitStack() as stack:
        found = []
        for _ in range(2):
            engine = db.make_engine(db_url)
            stack.callback(engine.dispose)
            db.migrate(engine, MIGRATIONS)
            sessions = db.session_factory(engine)
            feed = EventFeed(sessions, poll_seconds=0.05)
            task = asyncio.create_task(feed.run())
            stack.push_async_callback(_stopped, feed, task)
            found.append(Replica(sessions, feed))
        yield found[0], found[1]


async def _stopped(feed: EventFeed, task: asyncio.Task[None]) -> None:
    feed.close()
    await task


def record(replica: Replica, event_id: str, wasteland_id: str = "wl-1") -> LoggedEvent:
    with replica.sessions.begin() as session:
        stored, _ = events.record_activity(
            session,
            NewActivity(
                event_id=event_id,
                wasteland_id=wasteland_id,
                kind="claimed",
                actor="alice",
                wanted_id="w-1",
                pull_id=None,
                detail="claimed w-1",
                request_id="req",
                at=T0,
            ),
        )
    replica.feed.wake()
    return stored


def board(replica: Replica, wanted_id: str, wasteland_id: str = "wl-1") -> None:
    with replica.sessions.begin() as session:
        events.append_board_changes(session, [BoardChange(wasteland_id, wanted_id, "claimed", T0)])
    replica.feed.wake()


async def take(sub: Subscription, n: int) -> list[LoggedEvent]:
    got = []
    for _ in range(n):
        event = await asyncio.wait_for(sub.next(), DEADLINE)
        assert event is not None
        got.append(event)
    return got


async def test_every_replica_delivers_every_event(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    async with (
        a.feed.subscribe("wl-1") as on_a,
        b.feed.subscribe("wl-1") as on_b,
        b.feed.subscribe("wl-2") as elsewhere,
    ):
        record(a, "ev-1")
        board(b, "w-2")
        record(b, "ev-3", wasteland_id="wl-2")
        record(a, "ev-4")
        seen_a = await take(on_a, 3)
        seen_b = await take(on_b, 3)
        other = await take(elsewhere, 1)
    assert seen_a == seen_b
    shown = [(e.category, e.event_id if e.category == "activity" else e.wanted_id) for e in seen_a]
    assert shown == [("activity", "ev-1"), ("board", "w-2"), ("activity", "ev-4")]
    assert [e.event_id for e in other] == ["ev-3"]


async def test_a_stream_sees_what_came_after_it_or_after_its_cursor(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    first = record(a, "ev-1")
    record(a, "ev-2")
    async with b.feed.subscribe("wl-1") as live:
        async with b.feed.subscribe("wl-1", after=first.seq) as resumed:
            record(a, "ev-3")
            assert [e.event_id for e in await take(resumed, 2)] == ["ev-2", "ev-3"]
        assert [e.event_id for e in await take(live, 1)] == ["ev-3"]
    # A cursor beyond the log (a restored database) starts from its end, not never.
    async with b.feed.subscribe("wl-1", after=10**12) as ahead:
        record(a, "ev-4")
        assert [e.event_id for e in await take(ahead, 1)] == ["ev-4"]


async def test_a_board_only_stream_skips_activities(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    async with b.feed.subscribe("wl-1", categories={"board"}) as boards:
        record(a, "ev-1")
        board(a, "w-7")
        got = await take(boards, 1)
    assert [(e.category, e.wanted_id) for e in got] == [("board", "w-7")]


async def test_a_stream_that_falls_behind_is_ended_not_thinned(db_url: str) -> None:
    engine = db.make_engine(db_url)
    db.migrate(engine, MIGRATIONS)
    sessions = db.session_factory(engine)
    feed = EventFeed(sessions, max_queue=2)
    replica = Replica(sessions, feed)
    try:
        async with feed.subscribe("wl-1") as slow:
            for n in range(4):
                record(replica, f"ev-{n}")
            await feed.poll_once()
            got = [await asyncio.wait_for(slow.next(), DEADLINE) for _ in range(3)]
            assert slow.overflowed
        # The two it got, then the end: its client resumes after ev-1 and reads the rest.
        assert [e.event_id if e else None for e in got] == ["ev-0", "ev-1", None]
        async with feed.subscribe("wl-1", after=got[1].seq if got[1] else 0) as resumed:
            await feed.poll_once()
            assert [e.event_id for e in await take(resumed, 2)] == ["ev-2", "ev-3"]
    finally:
        feed.close()
        engine.dispose()


async def test_closing_the_feed_ends_every_stream(replicas: tuple[Replica, Replica]) -> None:
    a, _ = replicas
    async with a.feed.subscribe("wl-1") as sub:
        a.feed.close()
        assert await asyncio.wait_for(sub.next(), DEADLINE) is None
    async with a.feed.subscribe("wl-1") as late:
        assert await asyncio.wait_for(late.next(), DEADLINE) is None


@pytest.mark.postgres
async def test_a_notification_wakes_another_replica_at_once(postgres_cluster: Cluster) -> None:
    url = postgres_cluster.create_database()
    writer_engine, reader_engine = db.make_engine(url), db.make_engine(url)
    db.migrate(writer_engine, MIGRATIONS)
    writer_sessions = db.session_factory(writer_engine)
    writer = Replica(writer_sessions, EventFeed(writer_sessions))
    # The reader would poll only after an hour: only the NOTIFY can bring the event.
    reader = EventFeed(db.session_factory(reader_engine), poll_seconds=3600)
    listener = LogListener(url, reader.wake)
    tasks = [asyncio.create_task(reader.run()), asyncio.create_task(listener.run())]
    try:
        await asyncio.wait_for(listener.listening.wait(), DEADLINE)
        async with reader.subscribe("wl-1") as sub:
            record(writer, "ev-1")
            assert [e.event_id for e in await take(sub, 1)] == ["ev-1"]
            board(writer, "w-3")
            assert [e.wanted_id for e in await take(sub, 1)] == ["w-3"]
    finally:
        reader.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        writer_engine.dispose()
        reader_engine.dispose()
