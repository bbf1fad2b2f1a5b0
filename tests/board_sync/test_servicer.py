"""BoardService over a real gRPC socket (the server started in-process on port 0).

The cache is filled through the sync's store step; DoltHub points at a closed loopback
port so a refresh meets an unreachable DoltHub. The sandbox-backed sync tests cover
refreshes that succeed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from pydantic import SecretStr
from wasteland.v1 import board_pb2, board_pb2_grpc
from wasteland_common.auth import mint_user_token
from wasteland_common.dolthub import DoltHubClient, RetryPolicy
from wasteland_common.grpc_client import ServiceCredentials
from wl_board_sync.events import BoardChange, append_board_changes
from wl_board_sync.pending import PendingChange
from wl_board_sync.server import BoardApp, BoardSettings, build_app, start_app
from wl_board_sync.store import TrackedWasteland

from tests.support.ports import free_port

from .conftest import T0, FakeClock, fill, wanted

TIMEOUT = 10.0
# Long enough that PyJWT does not warn (warnings are errors in the tests).
USER_SECRET = "board-sync-test-user-secret-0123456789abcdef"
SERVICE_SECRET = "board-sync-test-service-secret-0123456789ab"


def meta(service: str | None) -> Sequence[tuple[str, str]]:
    if service is None:
        return ()
    return ServiceCredentials(service, SERVICE_SECRET).metadata()


@dataclass
class Running:
    app: BoardApp
    stub: Any
    clock: FakeClock


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    clock = FakeClock()
    dead = f"http://127.0.0.1:{free_port()}/api/v1alpha1"
    settings = BoardSettings(
        DATABASE_URL=f"sqlite+pysqlite:///{tmp_path / 'board.db'}",
        GRPC_HOST="127.0.0.1",
        GRPC_PORT=0,
        REGISTRY_ADDR="",
        DOLTHUB_API_URL=dead,
        KILO_JWT_SECRET=SecretStr(USER_SECRET),
        SERVICE_JWT_SECRET=SecretStr(SERVICE_SECRET),
    )
    client = DoltHubClient(dead, retry=RetryPolicy(attempts=1))
    app = await build_app(settings, clock=clock, dolthub=client)
    server = await start_app(app, run_scheduler=False)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield Running(app, board_pb2_grpc.BoardServiceStub(channel), clock)
    finally:
        await channel.close()
        await server.stop(0)
        await app.close()


def details(error: grpc.aio.AioRpcError) -> list[Any]:
    status = rpc_status.from_call(error)
    assert status is not None
    found: list[Any] = []
    for detail in status.details:
        for kind in (error_details_pb2.BadRequest, error_details_pb2.RetryInfo):
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                found.append(message)
    return found


def seed(running: Running) -> None:
    fill(
        running.app.sessions,
        "wl-1",
        [
            wanted("w-1", priority=0, tags=("web",)),
            wanted("w-2", priority=1),
            wanted("w-3", priority=2, status="claimed", claimed_by="bob"),
        ],
        pending=[PendingChange("w-2", "claimed", "alice", "alice", "4")],
    )


async def test_reads_require_a_service_identity(running: Running) -> None:
    seed(running)
    request = board_pb2.BrowseRequest(wasteland_id="wl-1")
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await running.stub.Browse(request, timeout=TIMEOUT)
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
    user = mint_user_token("u1", secret=USER_SECRET)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await running.stub.Browse(
            request, metadata=[("authorization", f"Bearer {user}")], timeout=TIMEOUT
        )
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await running.stub.Browse(
            request, metadata=[("x-service-authorization", "Bearer forged")], timeout=TIMEOUT
        )
    assert exc.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_browse_shows_the_effective_state_and_pages(running: Running) -> None:
    seed(running)
    first = await running.stub.Browse(
        board_pb2.BrowseRequest(wasteland_id="wl-1", page_size=2),
        metadata=meta("gateway"),
        timeout=TIMEOUT,
    )
    assert [i.wanted_id for i in first.items] == ["w-1", "w-2"]
    assert first.items[0].tags == ["web"]
    assert (first.items[1].status, first.items[1].claimed_by) == ("claimed", "alice")
    assert first.synced_at.ToDatetime().replace(tzinfo=T0.tzinfo) == T0
    assert not first.stale
    second = await running.stub.Browse(
        board_pb2.BrowseRequest(wasteland_id="wl-1", page_size=2, page_token=first.next_page_token),
        metadata=meta("gateway"),
        timeout=TIMEOUT,
    )
    assert [i.wanted_id for i in second.items] == ["w-3"]
    assert second.next_page_token == ""
    claimed = await running.stub.Browse(
        board_pb2.BrowseRequest(wasteland_id="wl-1", status="claimed", priority=1),
        metadata=meta("executor"),
        timeout=TIMEOUT,
    )
    assert [i.wanted_id for i in claimed.items] == ["w-2"]
    running.clock.advance(3 * 300 + 1)
    later = await running.stub.Browse(
        board_pb2.BrowseRequest(wasteland_id="wl-1"), metadata=meta("gateway"), timeout=TIMEOUT
    )
    assert later.stale


async def test_browse_after_a_sync_shows_the_new_board_not_the_one_it_kept(
    running: Running,
) -> None:
    seed(running)
    request = board_pb2.BrowseRequest(wasteland_id="wl-1", viewer_rig_handle="carol")
    for _ in range(2):  # built, then served from what this replica kept
        kept = await running.stub.Browse(request, metadata=meta("gateway"), timeout=TIMEOUT)
        assert [i.wanted_id for i in kept.items] == ["w-1", "w-2", "w-3"]
    # A sync at the same clock reading (as another replica's could be): w-2's claim is
    # gone and w-4 is new.
    fill(running.app.sessions, "wl-1", [wanted("w-2", priority=1), wanted("w-4", priority=0)])
    after = await running.stub.Browse(request, metadata=meta("gateway"), timeout=TIMEOUT)
    assert [(i.wanted_id, i.status) for i in after.items] == [("w-4", "open"), ("w-2", "open")]
    counts = await running.stub.CountWanted(
        board_pb2.CountWantedRequest(wasteland_id="wl-1"), metadata=meta("gateway"), timeout=TIMEOUT
    )
    assert (counts.by_status["open"], counts.by_status["claimed"]) == (2, 0)


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"page_token": "not-a-token"}, "page_token"),
        ({"status": "done"}, "status"),
        ({"type": "chore"}, "type"),
        ({"priority": 9}, "priority"),
        ({"sort": 42}, "sort"),
        ({"wasteland_id": ""}, "wasteland_id"),
    ],
)
async def test_bad_requests_name_the_field(
    running: Running, request_fields: dict[str, Any], field: str
) -> None:
    seed(running)
    request = board_pb2.BrowseRequest(**{"wasteland_id": "wl-1", **request_fields})
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await running.stub.Browse(request, metadata=meta("gateway"), timeout=TIMEOUT)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    (bad,) = details(exc.value)
    assert [v.field for v in bad.field_violations] == [field]


async def test_unknown_wasteland_and_item_are_not_found(running: Running) -> None:
    seed(running)
    calls = [
        running.stub.Browse(
            board_pb2.BrowseRequest(wasteland_id="nope"), metadata=meta("gateway"), timeout=TIMEOUT
        ),
        running.stub.CountWanted(
            board_pb2.CountWantedRequest(wasteland_id="nope"),
            metadata=meta("gateway"),
            timeout=TIMEOUT,
        ),
        running.stub.GetWantedItem(
            board_pb2.GetWantedItemRequest(wasteland_id="wl-1", wanted_id="w-404"),
            metadata=meta("gateway"),
            timeout=TIMEOUT,
        ),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await call
        assert exc.value.code() == grpc.StatusCode.NOT_FOUND


async def test_item_counts_and_rigs(running: Running) -> None:
    seed(running)
    item = await running.stub.GetWantedItem(
        board_pb2.GetWantedItemRequest(wasteland_id="wl-1", wanted_id="w-3"),
        metadata=meta("gateway"),
        timeout=TIMEOUT,
    )
    assert (item.item.status, item.item.claimed_by, item.item.title) == (
        "claimed",
        "bob",
        "Item w-3",
    )
    counts = await running.stub.CountWanted(
        board_pb2.CountWantedRequest(wasteland_id="wl-1"), metadata=meta("gateway"), timeout=TIMEOUT
    )
    assert dict(counts.by_status) == {
        "open": 1,
        "claimed": 2,
        "in_review": 0,
        "completed": 0,
        "withdrawn": 0,
    }
    rigs = await running.stub.ListRigs(
        board_pb2.ListRigsRequest(wasteland_id="wl-1"), metadata=meta("gateway"), timeout=TIMEOUT
    )
    assert list(rigs.rigs) == []
    completions = await running.stub.ListCompletions(
        board_pb2.ListCompletionsRequest(wasteland_id="wl-1", status="validated"),
        metadata=meta("gateway"),
        timeout=TIMEOUT,
    )
    assert list(completions.completions) == []


async def test_track_and_untrack_belong_to_the_registry(running: Running) -> None:
    track = board_pb2.TrackWastelandRequest(wasteland_id="wl-new", upstream="hop/wl-commons")
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await running.stub.TrackWasteland(track, metadata=meta("gateway"), timeout=TIMEOUT)
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
    for _ in range(2):  # idempotent
        await running.stub.TrackWasteland(track, metadata=meta("registry"), timeout=TIMEOUT)
    page = await running.stub.Browse(
        board_pb2.BrowseRequest(wasteland_id="wl-new"), metadata=meta("gateway"), timeout=TIMEOUT
    )
    assert page.stale
    assert not page.HasField("synced_at")
    assert list(page.items) == []
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await running.stub.TrackWasteland(
            board_pb2.TrackWastelandRequest(wasteland_id="wl-x", upstream="no-slash"),
            metadata=meta("registry"),
            timeout=TIMEOUT,
        )
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await running.stub.UntrackWasteland(
        board_pb2.UntrackWastelandRequest(wasteland_id="wl-new"),
        metadata=meta("registry"),
        timeout=TIMEOUT,
    )
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await running.stub.Browse(
            board_pb2.BrowseRequest(wasteland_id="wl-new"),
            metadata=meta("gateway"),
            timeout=TIMEOUT,
        )
    assert exc.value.code() == grpc.StatusCode.NOT_FOUND


async def test_refresh_with_dolthub_unreachable_keeps_the_cache(running: Running) -> None:
    seed(running)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await running.stub.RefreshWasteland(
            board_pb2.RefreshWastelandRequest(wasteland_id="wl-1"),
            metadata=meta("executor"),
            timeout=TIMEOUT,
        )
    assert exc.value.code() == grpc.StatusCode.UNAVAILABLE
    (retry,) = details(exc.value)
    assert retry.retry_delay.seconds > 0
    with running.app.sessions() as session:
        state = session.get(TrackedWasteland, "wl-1")
        assert state is not None
        assert state.last_error
        assert state.lease_owner is None
    page = await running.stub.Browse(
        board_pb2.BrowseRequest(wasteland_id="wl-1"), metadata=meta("gateway"), timeout=TIMEOUT
    )
    assert len(page.items) == 3
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await running.stub.RefreshWasteland(
            board_pb2.RefreshWastelandRequest(wasteland_id="wl-1"),
            metadata=meta(None),
            timeout=TIMEOUT,
        )
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_watch_board_streams_changes_of_one_wasteland(running: Running) -> None:
    seed(running)
    fill(running.app.sessions, "wl-2", [wanted("w-9")])
    call = running.stub.WatchBoard(
        board_pb2.WatchBoardRequest(wasteland_id="wl-1"), metadata=meta("gateway"), timeout=TIMEOUT
    )
    await call.initial_metadata()  # the subscription exists from here on
    with running.app.sessions.begin() as session:
        append_board_changes(
            session,
            [
                BoardChange("wl-2", "w-9", "claimed", T0),
                BoardChange("wl-1", "w-1", "claimed", T0),
                BoardChange("wl-1", "w-3", "in_review", T0),
            ],
        )
    running.app.feed.wake()
    first = await asyncio.wait_for(call.read(), TIMEOUT)
    second = await asyncio.wait_for(call.read(), TIMEOUT)
    assert [(e.wasteland_id, e.wanted_id, e.status) for e in (first, second)] == [
        ("wl-1", "w-1", "claimed"),
        ("wl-1", "w-3", "in_review"),
    ]
    call.cancel()
    missing = running.stub.WatchBoard(
        board_pb2.WatchBoardRequest(wasteland_id="nope"), metadata=meta("gateway"), timeout=TIMEOUT
    )
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await missing.read()
    assert exc.value.code() == grpc.StatusCode.NOT_FOUND


async def test_the_inbox_rpcs_check_the_caller_and_the_request(running: Running) -> None:
    seed(running)
    listing = board_pb2.ListPullsRequest(wasteland_id="wl-1")
    user = mint_user_token("u1", secret=USER_SECRET)
    for metadata in ((), [("authorization", f"Bearer {user}")]):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await running.stub.ListPulls(listing, metadata=metadata, timeout=TIMEOUT)
        assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
    bad = [
        (running.stub.ListPulls, board_pb2.ListPullsRequest(wasteland_id="wl-1", state=9), "state"),
        (
            running.stub.ListPulls,
            board_pb2.ListPullsRequest(wasteland_id="wl-1", page_token="zz"),
            "page_token",
        ),
        (
            running.stub.ListPulls,
            board_pb2.ListPullsRequest(wasteland_id="wl-1", page_size=500),
            "page_size",
        ),
        (
            running.stub.GetPull,
            board_pb2.GetPullRequest(wasteland_id="wl-1", pull_id="x"),
            "pull_id",
        ),
    ]
    for method, request, field in bad:
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await method(request, metadata=meta("gateway"), timeout=TIMEOUT)
        assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        (violation,) = details(exc.value)
        assert [v.field for v in violation.field_violations] == [field]
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await running.stub.ListPulls(
            board_pb2.ListPullsRequest(wasteland_id="nope"),
            metadata=meta("gateway"),
            timeout=TIMEOUT,
        )
    assert exc.value.code() == grpc.StatusCode.NOT_FOUND
    # DoltHub is unreachable here: the inbox says so (503 at the gateway), nothing cached.
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await running.stub.ListPulls(listing, metadata=meta("gateway"), timeout=TIMEOUT)
    assert exc.value.code() == grpc.StatusCode.UNAVAILABLE
