"""Telling board-sync what to track, over a real socket; board-sync being down is fine."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from wasteland.v1 import board_pb2, board_pb2_grpc
from wasteland_common import grpc_server
from wasteland_common.auth import Authenticator
from wasteland_common.grpc_client import Channels, ServiceCredentials
from wl_registry.board import GrpcBoard

from tests.support.ports import free_port

from .grpc_helpers import SERVICE_SECRET, USER_SECRET


class FakeBoardSync(board_pb2_grpc.BoardServiceServicer):  # type: ignore[misc]
    """Just enough of BoardService: remembers tracked wastelands and who asked."""

    def __init__(self) -> None:
        self.tracked: dict[str, str] = {}
        self.callers: list[str | None] = []
        self.auth = Authenticator(
            user_secret=USER_SECRET, audience="wasteland", service_secret=SERVICE_SECRET
        )

    async def TrackWasteland(self, request: Any, context: Any) -> Any:
        self.callers.append(self.auth.identify(context.invocation_metadata()).service)
        self.tracked[request.wasteland_id] = request.upstream
        return board_pb2.TrackWastelandResponse()

    async def UntrackWasteland(self, request: Any, context: Any) -> Any:
        self.callers.append(self.auth.identify(context.invocation_metadata()).service)
        self.tracked.pop(request.wasteland_id, None)
        return board_pb2.UntrackWastelandResponse()


async def test_track_and_untrack_as_the_registry() -> None:
    fake = FakeBoardSync()
    running = await grpc_server.start(
        register=lambda server: board_pb2_grpc.add_BoardServiceServicer_to_server(fake, server),
        service_names=["wasteland.v1.BoardService"],
        host="127.0.0.1",
        port=0,
    )
    channels = Channels()
    board = GrpcBoard(
        channels, f"127.0.0.1:{running.port}", ServiceCredentials("registry", SERVICE_SECRET), 5
    )
    try:
        await board.track("w1", "hop/wl-commons")
        assert fake.tracked == {"w1": "hop/wl-commons"}
        await board.untrack("w1")
        assert fake.tracked == {}
        assert fake.callers == ["registry", "registry"]
    finally:
        await channels.close()
        await running.stop(0)


async def test_board_sync_down_is_a_warning_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    channels = Channels()
    board = GrpcBoard(
        channels, f"127.0.0.1:{free_port()}", ServiceCredentials("registry", SERVICE_SECRET), 2
    )
    try:
        with caplog.at_level(logging.WARNING, logger="wl_registry.board"):
            await board.track("w1", "hop/wl-commons")
            await board.untrack("w1")
    finally:
        await channels.close()
    assert "TrackWasteland failed for w1" in caplog.text
    assert "UntrackWasteland failed for w1" in caplog.text
