"""ActivityService over a real gRPC socket: who may record and read, validation, the
idempotent record, pages newest first, and the event stream with resume."""

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
from wasteland.v1 import activity_pb2, activity_pb2_grpc
from wasteland_common.activity import timestamp
from wasteland_common.dolthub import DoltHubClient, RetryPolicy
from wasteland_common.grpc_client import ServiceCredentials
from wl_board_sync.events import BoardChange, append_board_changes
from wl_board_sync.server import BoardApp, BoardSettings, build_app, start_app

from tests.support.ports import free_port

from .conftest import T0, FakeClock

TIMEOUT = 10.0
USER_SECRET = "board-sync-test-user-secret-0123456789abcdef"
SERVICE_SECRET = "board-sync-test-service-secret-0123456789ab"


def meta(service: str) -> Sequence[tuple[str, str]]:
    return ServiceCredentials(service, SERVICE_SECRET).metadata()


@dataclass
class Running:
    app: BoardApp
    stub: Any


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    dead = f"http://127.0.0.1:{free_port()}/api/v1alpha1"
    settings = BoardSettings(
        DATABASE_URL=f"sqlite+pysqlite:///{tmp_path / 'board.db'}",
        GRPC_HOST="127.0.0.1",
        GRPC_PORT=0,
        REGISTRY_ADDR="",
        DOLTHUB_API_URL=dead,
        KILO_JWT_SECRET=SecretStr(USER_SECRET),
        SERVICE_JWT_SECRET=SecretStr(SERVICE_SECRET),
        EVENT_POLL_SECONDS=60,  # within a test only wake-ups deliver (own writes)
    )
    app = await build_app(
        settings, clock=FakeClock(), dolthub=DoltHubClient(dead, retry=RetryPolicy(attempts=1))
    )
    server = await start_app(app, run_scheduler=False)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield Running(app, activity_pb2_grpc.ActivityServiceStub(channel))
    finally:
        await channel.close()
        await server.stop(0)
        await app.close()


def activity(event_id: str, kind: int = activity_pb2.ACTIVITY_KIND_CLAIMED, **more: Any) -> Any:
    values: dict[str, Any] = {
        "event_id": event_id,
        "wasteland_id": "wl-1",
        "kind": kind,
        "actor": "alice",
        "wanted_id": "w-1",
        "detail": "claimed w-1",
        "request_id": "req-1",
        "at": timestamp(T0),
        **more,
    }
    return activity_pb2.Activity(**values)


async def record(running: Running, given: Any, service: str = "executor") -> Any:
    return await running.stub.RecordActivity(
        activity_pb2.RecordActivityRequest(activity=given), metadata=meta(service), timeout=TIMEOUT
    )


def violations(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)
    assert status is not None
    fields: list[str] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields.extend(v.field for v in bad.field_violations)
    return fields


async def test_only_producers_record_and_only_services_read(running: Running) -> None:
    for service in ("gateway", "control-server"):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await record(running, activity("ev-1"), service=service)
        assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await running.stub.ListActivity(
            activity_pb2.ListActivityRequest(wasteland_id="wl-1"), timeout=TIMEOUT
        )
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
    for service in ("registry", "executor"):
        assert (await record(running, activity(f"ev-{service}"), service=service)).recorded


async def test_a_record_is_checked_idempotent_and_secret_free(running: Running) -> None:
    bad = [
        (activity("ev-1", kind=activity_pb2.ACTIVITY_KIND_UNSPECIFIED), "activity.kind"),
        (activity("ev-1", kind=99), "activity.kind"),
        (activity("ev 1"), "activity.event_id"),
        (activity("ev-1", wasteland_id=""), "activity.wasteland_id"),
        (activity("ev-1", actor=""), "activity.actor"),
    ]
    missing_time = activity("ev-1")
    missing_time.ClearField("at")
    bad.append((missing_time, "activity.at"))
    for given, field in bad:
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await record(running, given)
        assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violations(exc.value) == [field]

    first = await record(running, activity("ev-1", detail="token sandbox-token-alice used"))
    assert first.recorded
    assert "sandbox-token-alice" not in first.activity.detail
    again = await record(running, activity("ev-1", detail="the retry"))
    assert not again.recorded
    assert again.activity == first.activity
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await record(running, activity("ev-1", wasteland_id="wl-2"))
    assert exc.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_pages_are_newest_first_and_filter_by_kind(running: Running) -> None:
    kinds = [
        activity_pb2.ACTIVITY_KIND_CREATED,
        activity_pb2.ACTIVITY_KIND_CLAIMED,
        activity_pb2.ACTIVITY_KIND_DONE,
        activity_pb2.ACTIVITY_KIND_CLAIMED,
    ]
    for n, kind in enumerate(kinds):
        await record(running, activity(f"ev-{n}", kind=kind))
    first = await running.stub.ListActivity(
        activity_pb2.ListActivityRequest(wasteland_id="wl-1", page_size=3),
        metadata=meta("gateway"),
        timeout=TIMEOUT,
    )
    assert [e.event_id for e in first.events] == ["ev-3", "ev-2", "ev-1"]
    assert first.events[0].at == timestamp(T0)
    rest = await running.stub.ListActivity(
        activity_pb2.ListActivityRequest(
            wasteland_id="wl-1", page_size=3, page_token=first.next_page_token
        ),
        metadata=meta("gateway"),
        timeout=TIMEOUT,
    )
    assert [e.event_id for e in rest.events] == ["ev-0"]
    assert rest.next_page_token == ""
    claims = await running.stub.ListActivity(
        activity_pb2.ListActivityRequest(
            wasteland_id="wl-1", kind=activity_pb2.ACTIVITY_KIND_CLAIMED
        ),
        metadata=meta("gateway"),
        timeout=TIMEOUT,
    )
    assert [e.event_id for e in claims.events] == ["ev-3", "ev-1"]
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await running.stub.ListActivity(
            activity_pb2.ListActivityRequest(wasteland_id="wl-1", kind=77),  # type: ignore[arg-type]
            metadata=meta("gateway"),
            timeout=TIMEOUT,
        )
    assert violations(exc.value) == ["kind"]


async def test_watch_events_streams_board_changes_and_activities_and_resumes(
    running: Running,
) -> None:
    # The wasteland need not be tracked: activity starts before the board does.
    call = running.stub.WatchEvents(
        activity_pb2.WatchEventsRequest(wasteland_id="wl-1"),
        metadata=meta("gateway"),
        timeout=TIMEOUT,
    )
    await call.initial_metadata()  # subscribed from here on
    await record(running, activity("ev-1"))
    with running.app.sessions.begin() as session:
        append_board_changes(
            session,
            [BoardChange("wl-2", "w-9", "open", T0), BoardChange("wl-1", "w-1", "claimed", T0)],
        )
    running.app.feed.wake()
    first = await asyncio.wait_for(call.read(), TIMEOUT)
    second = await asyncio.wait_for(call.read(), TIMEOUT)
    call.cancel()
    assert first.WhichOneof("event") == "activity"
    assert first.activity.event_id == "ev-1"
    assert second.WhichOneof("event") == "board"
    assert (second.board.wanted_id, second.board.status) == ("w-1", "claimed")
    assert int(second.cursor) > int(first.cursor)

    resumed = running.stub.WatchEvents(
        activity_pb2.WatchEventsRequest(wasteland_id="wl-1", after=first.cursor),
        metadata=meta("gateway"),
        timeout=TIMEOUT,
    )
    again = await asyncio.wait_for(resumed.read(), TIMEOUT)
    resumed.cancel()
    assert again == second

    bad = running.stub.WatchEvents(
        activity_pb2.WatchEventsRequest(wasteland_id="wl-1", after="yesterday"),
        metadata=meta("gateway"),
        timeout=TIMEOUT,
    )
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await bad.read()
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
