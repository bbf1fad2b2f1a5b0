"""Syncs against the real DoltHub sandbox (a subprocess on loopback).

One sandbox per module; every test picks the items it changes from what upstream holds
when it runs, so the tests do not depend on each other's order. Requests to DoltHub are
counted with an httpx event hook on the client board-sync uses.
"""

# Test SQL is built with f-strings, but every value in it goes through quote().
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import grpc
import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker
from wasteland.v1 import board_pb2, board_pb2_grpc
from wasteland_common import db
from wasteland_common.dolthub import DoltHubClient, PollPolicy, RetryPolicy, quote
from wasteland_common.grpc_client import ServiceCredentials
from wl_board_sync import board
from wl_board_sync.board import BrowseQuery, Freshness
from wl_board_sync.feed import EventFeed
from wl_board_sync.pending import PendingChange
from wl_board_sync.schedule import ScheduleConfig, Scheduler
from wl_board_sync.server import MIGRATIONS, BoardSettings, build_app, start_app
from wl_board_sync.store import CachedWanted, TrackedWasteland
from wl_board_sync.sync import Syncer
from wl_board_sync.tracking import Upstream, track

from tests.support.http import RecordingTransport
from tests.support.procs import Proc
from tests.support.sandbox import ALICE_TOKEN, HOP_TOKEN, api_url, start_sandbox

from .conftest import FakeClock

UPSTREAM = Upstream("hop", "wl-commons")
FAST_POLL = PollPolicy(initial=0.02, maximum=0.2, timeout=30.0)
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.1, budget_seconds=5.0)
TIMEOUT = 15.0
SERVICE_SECRET = "board-sync-test-service-secret-0123456789ab"
TABLES = ("wanted", "completions", "stamps", "rigs")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    with start_sandbox(tmp_path_factory.mktemp("dolthub-sandbox")) as proc:
        yield proc


@dataclass
class Recorder:
    """Every DoltHub request the board-sync client sent: (method, path, SQL or "")."""

    requests: list[tuple[str, str, str]] = field(default_factory=list)
    transport: RecordingTransport = field(init=False)

    def __post_init__(self) -> None:
        self.transport = RecordingTransport(self.hook)

    def hook(self, request: httpx.Request) -> None:
        url = urlsplit(str(request.url))
        sql = parse_qs(url.query).get("q", [""])[0]
        self.requests.append((request.method, unquote(url.path), sql))

    def table_reads(self) -> list[str]:
        return [sql for _, _, sql in self.requests if any(f"FROM {t} " in sql for t in TABLES)]

    def head_reads(self) -> list[str]:
        return [sql for _, _, sql in self.requests if "HASHOF" in sql.upper()]


@dataclass
class Env:
    sessions: sessionmaker[Session]
    client: DoltHubClient
    hop: DoltHubClient
    alice: DoltHubClient
    syncer: Syncer
    feed: EventFeed
    recorder: Recorder
    clock: FakeClock
    wasteland_id: str


@pytest.fixture
async def env(sandbox: Proc, tmp_path: Path) -> AsyncIterator[Env]:
    engine = db.make_engine(f"sqlite+pysqlite:///{tmp_path / 'board.db'}")
    db.migrate(engine, MIGRATIONS)
    sessions = db.session_factory(engine)
    recorder = Recorder()
    client = DoltHubClient(
        api_url(sandbox), transport=recorder.transport, retry=FAST_RETRY, poll=FAST_POLL
    )
    writer = DoltHubClient(api_url(sandbox), retry=FAST_RETRY, poll=FAST_POLL)
    feed = EventFeed(sessions)
    feeding = asyncio.create_task(feed.run())
    clock = FakeClock()
    syncer = Syncer(sessions, client, clock=clock, on_logged=feed.wake)
    wasteland_id = f"wl-{uuid.uuid4().hex[:8]}"
    with sessions.begin() as session:
        track(session, wasteland_id, UPSTREAM, None, clock())
    try:
        yield Env(
            sessions,
            client,
            writer.with_token(HOP_TOKEN),
            writer.with_token(ALICE_TOKEN),
            syncer,
            feed,
            recorder,
            clock,
            wasteland_id,
        )
    finally:
        feed.close()
        await feeding
        await recorder.transport.aclose()
        await writer.aclose()
        engine.dispose()


async def upstream_ids(client: DoltHubClient, status: str) -> list[str]:
    rows = await client.read_all(
        "hop", "wl-commons", f"SELECT id FROM wanted WHERE status = {quote(status)} ORDER BY id"
    )
    return [str(r["id"]) for r in rows]


def cached(env: Env, wanted_id: str) -> CachedWanted:
    with env.sessions() as session:
        item = session.get(CachedWanted, (env.wasteland_id, wanted_id))
        assert item is not None
        return item


def browse_ids(env: Env, **filters: Any) -> list[str]:
    with env.sessions() as session:
        page = board.browse(
            session,
            BrowseQuery(env.wasteland_id, page_size=200, **filters),
            now=env.clock(),
            freshness=Freshness(300),
        )
    return [i.wanted_id for i in page.items]


async def test_first_sync_fills_the_cache_and_an_unchanged_head_reads_only_the_head(
    env: Env,
) -> None:
    first = await env.syncer.sync(env.wasteland_id, force=False)
    assert first.tables_read
    assert first.changed
    everything = await env.client.read_all("hop", "wl-commons", "SELECT id FROM wanted ORDER BY id")
    assert sorted(browse_ids(env)) == sorted(str(r["id"]) for r in everything)
    open_now = await upstream_ids(env.client, "open")
    assert len(open_now) >= 5
    assert sorted(browse_ids(env, status="open")) == open_now
    assert len(first.changes) == len(everything)  # every item appeared

    env.recorder.requests.clear()
    env.clock.advance(60)
    second = await env.syncer.sync(env.wasteland_id, force=False)
    assert not second.tables_read
    assert not second.changed
    assert second.head_commit == first.head_commit
    assert second.changes == ()
    assert env.recorder.table_reads() == []
    assert len(env.recorder.head_reads()) == 1
    assert len(env.recorder.requests) == 1  # an idle poll is one head read, nothing else
    with env.sessions() as session:
        page = board.browse(
            session, BrowseQuery(env.wasteland_id), now=env.clock(), freshness=Freshness(300)
        )
    assert page.synced_at == env.clock()


async def test_an_upstream_write_shows_after_a_refresh_with_an_event(env: Env) -> None:
    await env.syncer.sync(env.wasteland_id, force=False)
    target = (await upstream_ids(env.client, "open"))[0]
    async with env.feed.subscribe(env.wasteland_id) as subscription:
        result = await env.hop.write(
            "hop",
            "wl-commons",
            "main",
            "main",
            "UPDATE wanted SET claimed_by='bob', status='claimed', updated_at=NOW() "
            f"WHERE id={quote(target)} AND status='open'",
        )
        assert result.committed
        env.recorder.requests.clear()
        refreshed = await env.syncer.sync(env.wasteland_id, force=True)
        assert refreshed.tables_read
        assert refreshed.changed
        event = await asyncio.wait_for(subscription.next(), TIMEOUT)
    assert event is not None
    assert (event.wanted_id, event.status) == (target, "claimed")
    assert [c.wanted_id for c in refreshed.changes] == [target]
    item = cached(env, target)
    assert (item.status, item.claimed_by, item.effective_status) == ("claimed", "bob", "claimed")
    assert env.recorder.table_reads()


async def test_a_moved_head_is_noticed_by_a_scheduled_sync(env: Env) -> None:
    first = await env.syncer.sync(env.wasteland_id, force=False)
    target = (await upstream_ids(env.client, "open"))[-1]
    await env.hop.write(
        "hop",
        "wl-commons",
        "main",
        "main",
        f"UPDATE wanted SET title='Retitled by the test' WHERE id={quote(target)}",
    )
    second = await env.syncer.sync(env.wasteland_id, force=False)
    assert second.head_commit != first.head_commit
    assert second.tables_read
    assert second.changed
    assert second.changes == ()  # no status changed
    assert cached(env, target).title == "Retitled by the test"


async def test_a_claim_in_an_open_pull_request_shows_as_claimed(env: Env) -> None:
    await env.syncer.sync(env.wasteland_id, force=False)
    target = (await upstream_ids(env.client, "open"))[-1]
    await env.alice.fork("hop", "wl-commons", "alice")
    branch = f"wl/alice/{target}"
    await env.alice.write(
        "alice",
        "wl-commons",
        "main",
        branch,
        "UPDATE wanted SET claimed_by='alice', status='claimed', updated_at=NOW() "
        f"WHERE id={quote(target)} AND status='open'",
    )
    pull_id = await env.alice.create_pull(
        "hop",
        "wl-commons",
        title=f"wl claim: {target}",
        description="claim",
        from_owner="alice",
        from_db="wl-commons",
        from_branch=branch,
    )
    try:
        # The refresh after an action (forced): pull requests are read.
        async with env.feed.subscribe(env.wasteland_id) as subscription:
            result = await env.syncer.sync(env.wasteland_id, force=True)
            event = await asyncio.wait_for(subscription.next(), TIMEOUT)
        assert not result.tables_read  # the head did not move; only the overlay did
        assert result.changed
        assert event is not None
        assert (event.wanted_id, event.status) == (target, "claimed")
        item = cached(env, target)
        assert (item.status, item.effective_status, item.effective_claimed_by) == (
            "open",
            "claimed",
            "alice",
        )
        assert item.pending_pull_id == pull_id
        assert item.pending_rig == "alice"
        assert target in browse_ids(env, status="claimed")
        assert target in browse_ids(env, rig_handle="alice")
    finally:
        await env.alice.close_pull("hop", "wl-commons", pull_id)
    async with env.feed.subscribe(env.wasteland_id) as subscription:
        await env.syncer.sync(env.wasteland_id, force=True)
        event = await asyncio.wait_for(subscription.next(), TIMEOUT)
    assert event is not None
    assert (event.wanted_id, event.status) == (target, "open")
    assert cached(env, target).effective_status == "open"


async def test_an_actions_verified_claim_is_recorded_after_one_head_read(env: Env) -> None:
    await env.syncer.sync(env.wasteland_id, force=False)
    target = (await upstream_ids(env.client, "open"))[0]
    env.recorder.requests.clear()
    claim = PendingChange(target, "claimed", "bob", "bob", "41")

    async with env.feed.subscribe(env.wasteland_id) as subscription:
        result = await env.syncer.record(env.wasteland_id, claim)
        event = await asyncio.wait_for(subscription.next(), TIMEOUT)

    # The upstream's head, to know the cache still shows it; no table or pull request.
    assert len(env.recorder.head_reads()) == len(env.recorder.requests) == 1
    assert result is not None
    assert result.changed
    assert event is not None
    assert (event.wanted_id, event.status) == (target, "claimed")
    item = cached(env, target)
    assert (item.status, item.effective_status, item.effective_claimed_by) == (
        "open",
        "claimed",
        "bob",
    )
    assert (item.pending_rig, item.pending_pull_id) == ("bob", "41")
    # An older claim stays shown over a newer one, still without a read.
    newer = PendingChange(target, "claimed", "carol", "carol", "42")
    again = await env.syncer.record(env.wasteland_id, newer)
    assert again is not None
    assert not again.changed
    assert cached(env, target).pending_rig == "bob"
    # Withdrawing the shown claim: only the pull requests can say what shows next.
    withdrawn = PendingChange(target, "open", None, "bob", "")
    assert await env.syncer.record(env.wasteland_id, withdrawn) is None
    assert cached(env, target).pending_rig == "bob"  # nothing stored
    assert len(env.recorder.head_reads()) == len(env.recorder.requests) == 3


async def test_a_verified_change_is_not_recorded_once_the_upstream_moved(env: Env) -> None:
    await env.syncer.sync(env.wasteland_id, force=False)
    target = (await upstream_ids(env.client, "open"))[0]
    # A merge made outside the service moves the head (and may close shown proposals).
    await env.hop.write(
        "hop",
        "wl-commons",
        "main",
        "main",
        f"UPDATE wanted SET title='Merged outside' WHERE id={quote(target)}",
    )
    claim = PendingChange(target, "claimed", "bob", "bob", "41")
    assert await env.syncer.record(env.wasteland_id, claim) is None
    assert cached(env, target).pending_rig is None  # nothing stored: a sync must read it


async def test_scheduled_polls_of_idle_wastelands_read_one_head_each_until_it_moves(
    env: Env,
) -> None:
    ids = [env.wasteland_id, *(f"{env.wasteland_id}-{n}" for n in range(4))]
    with env.sessions.begin() as session:
        for wasteland_id in ids[1:]:
            track(session, wasteland_id, UPSTREAM, None, env.clock())
    loop = Scheduler(
        env.sessions,
        lambda wasteland_id, force: env.syncer.sync(wasteland_id, force=force),
        replica_id="r1",
        clock=env.clock,
        config=ScheduleConfig(default_interval=300, batch=2),
        poll=env.syncer.poll,
    )

    async def cycle() -> list[str]:
        env.clock.advance(301)
        polled: list[str] = []
        while batch := await loop.tick():
            polled += batch
        return polled

    assert sorted(await cycle()) == sorted(ids)  # first syncs: tables read
    for _ in range(3):
        env.recorder.requests.clear()
        assert sorted(await cycle()) == sorted(ids)
        # Nothing moved: exactly one head read per poll, and every board counts as synced.
        assert len(env.recorder.requests) == len(ids)
        assert len(env.recorder.head_reads()) == len(ids)
        with env.sessions() as session:
            for wasteland_id in ids:
                state = session.get(TrackedWasteland, wasteland_id)
                assert state is not None
                assert state.synced_at == env.clock()
                assert state.lease_owner is None

    target = (await upstream_ids(env.client, "open"))[0]
    await env.hop.write(
        "hop",
        "wl-commons",
        "main",
        "main",
        "UPDATE wanted SET claimed_by='dave', status='claimed', updated_at=NOW() "
        f"WHERE id={quote(target)} AND status='open'",
    )
    env.recorder.requests.clear()
    assert sorted(await cycle()) == sorted(ids)
    # The head moved: each board read its tables again and shows the claim.
    assert len(env.recorder.head_reads()) == len(ids)
    assert len(env.recorder.table_reads()) >= 4 * len(ids)
    with env.sessions() as session:
        for wasteland_id in ids:
            item = session.get(CachedWanted, (wasteland_id, target))
            assert item is not None
            assert (item.effective_status, item.claimed_by) == ("claimed", "dave")
    env.recorder.requests.clear()
    await cycle()
    assert len(env.recorder.requests) == len(ids)  # idle again


# ---------------------------------------------------------------------- over gRPC


def meta(service: str) -> Sequence[tuple[str, str]]:
    return ServiceCredentials(service, SERVICE_SECRET).metadata()


async def test_track_refresh_browse_and_watch_over_grpc(sandbox: Proc, tmp_path: Path) -> None:
    settings = BoardSettings(
        DATABASE_URL=f"sqlite+pysqlite:///{tmp_path / 'board.db'}",
        GRPC_HOST="127.0.0.1",
        GRPC_PORT=0,
        REGISTRY_ADDR="",
        DOLTHUB_API_URL=api_url(sandbox),
        SERVICE_JWT_SECRET=SecretStr(SERVICE_SECRET),
        SCHEDULER_TICK_SECONDS=3600,
    )
    app = await build_app(settings)
    server = await start_app(app, run_scheduler=False)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    stub = board_pb2_grpc.BoardServiceStub(channel)
    writer = DoltHubClient(api_url(sandbox), token=HOP_TOKEN, retry=FAST_RETRY, poll=FAST_POLL)
    try:
        await stub.TrackWasteland(
            board_pb2.TrackWastelandRequest(wasteland_id="wl-grpc", upstream="hop/wl-commons"),
            metadata=meta("registry"),
            timeout=TIMEOUT,
        )
        refreshed = await stub.RefreshWasteland(
            board_pb2.RefreshWastelandRequest(wasteland_id="wl-grpc"),
            metadata=meta("executor"),
            timeout=TIMEOUT,
        )
        assert refreshed.head_commit
        assert refreshed.changed
        page = await stub.Browse(
            board_pb2.BrowseRequest(wasteland_id="wl-grpc", status="open"),
            metadata=meta("gateway"),
            timeout=TIMEOUT,
        )
        assert len(page.items) >= 3
        assert not page.stale
        target = page.items[0].wanted_id

        call = stub.WatchBoard(
            board_pb2.WatchBoardRequest(wasteland_id="wl-grpc"),
            metadata=meta("gateway"),
            timeout=TIMEOUT,
        )
        await call.initial_metadata()
        await writer.write(
            "hop",
            "wl-commons",
            "main",
            "main",
            "UPDATE wanted SET claimed_by='carol', status='claimed', updated_at=NOW() "
            f"WHERE id={quote(target)} AND status='open'",
        )
        again = await stub.RefreshWasteland(
            board_pb2.RefreshWastelandRequest(wasteland_id="wl-grpc"),
            metadata=meta("executor"),
            timeout=TIMEOUT,
        )
        assert again.head_commit != refreshed.head_commit
        event = await asyncio.wait_for(call.read(), TIMEOUT)
        assert (event.wanted_id, event.status) == (target, "claimed")
        call.cancel()
        item = await stub.GetWantedItem(
            board_pb2.GetWantedItemRequest(wasteland_id="wl-grpc", wanted_id=target),
            metadata=meta("gateway"),
            timeout=TIMEOUT,
        )
        assert (item.item.status, item.item.claimed_by) == ("claimed", "carol")
    finally:
        await writer.aclose()
        await channel.close()
        await server.stop(0)
        await app.close()
