"""The `wl-executor` console script as a real process: it starts a control-server process
per wasteland, routes an action to it, and stops its children when told to stop."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from devstack.procs import VENV_BIN, started
from wasteland.v1 import (
    board_pb2_grpc,
    common_pb2,
    executor_pb2,
    executor_pb2_grpc,
    registry_pb2_grpc,
)
from wasteland_common import grpc_server
from wasteland_common.auth import mint_user_token
from wasteland_common.grpc_client import ServiceCredentials

from .fakes import (
    JWT_SECRET,
    SERVICE_SECRET,
    TOKEN,
    BoardState,
    FakeBoard,
    FakeRegistry,
    RegistryState,
)

STUB = Path(__file__).with_name("control_stub.py")


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
async def peers() -> AsyncIterator[tuple[int, int, BoardState]]:
    registry = RegistryState(
        members={"w1": {"alice": common_pb2.MEMBER_ROLE_OWNER}},
        credentials={("w1", "alice"): (TOKEN, "alice", "alice")},
        registered={("w1", "alice")},
    )
    board = BoardState()
    reg = await grpc_server.start(
        register=lambda s: registry_pb2_grpc.add_RegistryServiceServicer_to_server(
            FakeRegistry(registry), s
        ),
        service_names=["wasteland.v1.RegistryService"],
        host="127.0.0.1",
        port=0,
    )
    brd = await grpc_server.start(
        register=lambda s: board_pb2_grpc.add_BoardServiceServicer_to_server(FakeBoard(board), s),
        service_names=["wasteland.v1.BoardService"],
        host="127.0.0.1",
        port=0,
    )
    yield reg.port, brd.port, board
    await reg.stop(0)
    await brd.stop(0)


async def test_executor_process_runs_an_action_and_stops_its_children(
    tmp_path: Path, peers: tuple[int, int, BoardState]
) -> None:
    registry_port, board_port, board = peers
    work = tmp_path / "work"
    env = {
        "DATABASE_URL": f"sqlite+pysqlite:///{tmp_path / 'executor.db'}",
        "GRPC_HOST": "127.0.0.1",
        "GRPC_PORT": "0",
        "KILO_JWT_SECRET": JWT_SECRET,
        "SERVICE_JWT_SECRET": SERVICE_SECRET,
        "REGISTRY_ADDR": f"127.0.0.1:{registry_port}",
        "BOARD_ADDR": f"127.0.0.1:{board_port}",
        "WORK_DIR": str(work),
        "CONTROL_SERVER_COMMAND": shlex.join([sys.executable, str(STUB)]),
        "WL_BINARY": str(VENV_BIN / "wl"),
        "SHUTDOWN_GRACE_SECONDS": "2",
    }
    with started("executor", [str(VENV_BIN / "wl-executor")], env=env, timeout=60) as proc:
        metadata = ServiceCredentials("gateway", SERVICE_SECRET).metadata(
            mint_user_token("alice", secret=JWT_SECRET)
        )
        async with grpc.aio.insecure_channel(proc.addr) as channel:
            executor = executor_pb2_grpc.ExecutorServiceStub(channel)
            reply = await executor.Execute(
                executor_pb2.ExecuteRequest(
                    wasteland_id="w1", kind=common_pb2.OPERATION_KIND_CLAIM, wanted_id="w-1"
                ),
                metadata=metadata,
                timeout=60,
            )
            assert reply.result.status == common_pb2.OPERATION_STATUS_SUCCEEDED
            runtime = await executor.GetRuntime(
                executor_pb2.GetRuntimeRequest(wasteland_id="w1"), metadata=metadata, timeout=10
            )
            assert runtime.runtime.state == common_pb2.RUNTIME_STATE_RUNNING
            assert runtime.runtime.wl_version == "stub-1"
        assert board.refreshed == ["w1"]
        child_pid = int((work / "w1" / "pid").read_text())
        assert not gone(child_pid)

        # SIGTERM to the executor alone: it must stop the control server itself.
        os.kill(proc.popen.pid, signal.SIGTERM)
        try:
            proc.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("the executor did not exit after SIGTERM")
        deadline = time.monotonic() + 10
        while not gone(child_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gone(child_pid)
        assert TOKEN not in proc.text()
