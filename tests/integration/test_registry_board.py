"""registry → board-sync over real sockets, as an internal caller sees them.

Three real processes (DoltHub sandbox, board-sync, registry); this test talks gRPC to
them directly, the way an internal service does, without the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from devstack.procs import VENV_BIN, Proc, started
from grpc_health.v1 import health_pb2, health_pb2_grpc
from wasteland.v1 import (
    activity_pb2,
    activity_pb2_grpc,
    board_pb2,
    board_pb2_grpc,
    common_pb2,
    registry_pb2,
    registry_pb2_grpc,
)
from wasteland_common.auth import mint_user_token
from wasteland_common.grpc_client import ServiceCredentials
from wasteland_common.settings import DEV_JWT_SECRET, DEV_SERVICE_SECRET

from tests.support.ports import free_port
from tests.support.sandbox import api_url, start_sandbox

pytestmark = [pytest.mark.integration]


@pytest.fixture
def services(tmp_path: Path) -> Iterator[dict[str, Proc]]:
    board_port, registry_port = free_port(), free_port()
    with contextlib.ExitStack() as stack:
        sandbox = stack.enter_context(start_sandbox(tmp_path / "sandbox"))
        common = {
            "DOLTHUB_API_URL": api_url(sandbox),
            "REGISTRY_ADDR": f"127.0.0.1:{registry_port}",
            "BOARD_ADDR": f"127.0.0.1:{board_port}",
        }
        board = stack.enter_context(
            started(
                "board-sync",
                [str(VENV_BIN / "wl-board-sync")],
                env={
                    **common,
                    "GRPC_PORT": str(board_port),
                    "DATABASE_URL": f"sqlite+pysqlite:///{tmp_path / 'board.db'}",
                },
            )
        )
        registry = stack.enter_context(
            started(
                "registry",
                [str(VENV_BIN / "wl-registry")],
                env={
                    **common,
                    "GRPC_PORT": str(registry_port),
                    "DATABASE_URL": f"sqlite+pysqlite:///{tmp_path / 'registry.db'}",
                },
            )
        )
        yield {"sandbox": sandbox, "board": board, "registry": registry}


async def test_created_wasteland_is_tracked_and_browsable(services: dict[str, Proc]) -> None:
    user_jwt = mint_user_token("carol", secret=DEV_JWT_SECRET)
    as_gateway = ServiceCredentials("gateway", DEV_SERVICE_SECRET)
    async with (
        grpc.aio.insecure_channel(services["registry"].addr) as reg_chan,
        grpc.aio.insecure_channel(services["board"].addr) as board_chan,
    ):
        for chan in (reg_chan, board_chan):
            health = await health_pb2_grpc.HealthStub(chan).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING

        registry = registry_pb2_grpc.RegistryServiceStub(reg_chan)
        created = await registry.CreateWasteland(
            registry_pb2.CreateWastelandRequest(
                name="Internal",
                owner=common_pb2.Owner(type=common_pb2.OWNER_TYPE_USER),
                visibility=common_pb2.VISIBILITY_PRIVATE,
                upstream="hop/wl-commons",
            ),
            metadata=[*as_gateway.metadata(user_jwt), ("x-request-id", "it-create-1")],
            timeout=30,
        )
        wasteland = created.wasteland
        assert wasteland.status == common_pb2.WASTELAND_STATUS_ACTIVE

        # The registry recorded the creation in board-sync's activity log before it
        # answered, with the creator and the request id it was given.
        log = await activity_pb2_grpc.ActivityServiceStub(board_chan).ListActivity(
            activity_pb2.ListActivityRequest(wasteland_id=wasteland.wasteland_id),
            metadata=as_gateway.metadata(),
            timeout=5,
        )
        assert [(e.kind, e.actor, e.request_id) for e in log.events] == [
            (activity_pb2.ACTIVITY_KIND_CREATED, "carol", "it-create-1")
        ]

        # Without a service identity the registry refuses, even with a valid user JWT.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await registry.GetWasteland(
                registry_pb2.GetWastelandRequest(wasteland_id=wasteland.wasteland_id),
                metadata=[("authorization", f"Bearer {user_jwt}")],
                timeout=5,
            )
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED

        # The registry told board-sync to track it; the first sync fills the cache.
        board = board_pb2_grpc.BoardServiceStub(board_chan)
        deadline = time.monotonic() + 30
        while True:
            browse = await board.Browse(
                board_pb2.BrowseRequest(wasteland_id=wasteland.wasteland_id, status="open"),
                metadata=as_gateway.metadata(),
                timeout=5,
            )
            if browse.HasField("synced_at") and browse.items:
                break
            assert time.monotonic() < deadline, "board-sync never synced the new wasteland"
            await asyncio.sleep(0.2)  # poll interval while waiting for the first sync
        assert {item.status for item in browse.items} == {"open"}
        assert len(browse.items) >= 5

        refreshed = await board.RefreshWasteland(
            board_pb2.RefreshWastelandRequest(wasteland_id=wasteland.wasteland_id),
            metadata=as_gateway.metadata(),
            timeout=30,
        )
        assert refreshed.head_commit
