"""The ControlService over a real gRPC socket with a fake `wl`: who may call, request
validation, one mutation at a time, repeated operation ids, GetInfo."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from wasteland.v1 import common_pb2, control_pb2
from wasteland_common.dolthub import DoltHubClient
from wl_control_server import operations
from wl_control_server.rigs import Commons, Rig
from wl_control_server.wl import WlRunner

from tests.support.ports import free_port
from tests.support.procs import VENV_BIN, started

from .conftest import SERVICE_SECRET, StartControl, mark_joined
from .fakewl import write_fake_wl

K = common_pb2
TOKEN = "tok-alice-0123456789"
BOB = "tok-bob-0123456789"

# sync blocks until a release file exists, logging start/end per rig ($HOME is the rig dir).
SYNC_BODY = """\
case "$1" in
  version) echo "wl 9.9.9 (commit: abc, built: today)"; exit 0 ;;
  sync)
    echo "start $(basename "$HOME")" >> "{log}"
    while [ ! -f "{release}" ]; do sleep 0.02; done
    echo "end $(basename "$HOME")" >> "{log}"
    echo "Remote mode: reads are always fresh from the DoltHub API."
    exit 0 ;;
  join)
    echo "wl: DOLTHUB_TOKEN environment variable is required for $DOLTHUB_TOKEN" >&2
    exit 1 ;;
esac
echo "wl: unknown command \\"$1\\"" >&2
exit 1
"""


@pytest.fixture
def fake_wl(tmp_path: Path) -> tuple[Path, Path, Path]:
    log, release = tmp_path / "calls.log", tmp_path / "release"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = write_fake_wl(bin_dir, SYNC_BODY.format(log=log, release=release))
    return script, log, release


async def wait_until(what: str, probe: Callable[[], Awaitable[Any]], limit: float = 20) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if value := await probe():
            return value
        await asyncio.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def status_of(err: grpc.aio.AioRpcError) -> Any:
    return rpc_status.from_call(err)


async def test_only_the_executor_may_call(
    start_control: StartControl, fake_wl: tuple[Path, Path, Path]
) -> None:
    async with start_control(fake_wl[0]) as control:
        for metadata in ([], control.metadata("gateway")):
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await control.stub.GetInfo(
                    control_pb2.GetInfoRequest(), metadata=metadata, timeout=10
                )
            assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await control.stub.RunOperation(
                    control_pb2.RunOperationRequest(kind=K.OPERATION_KIND_SYNC),
                    metadata=metadata,
                    timeout=10,
                )
            assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        bad = [("x-service-authorization", "Bearer not-a-jwt")]
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await control.stub.GetInfo(control_pb2.GetInfoRequest(), metadata=bad, timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_get_info(start_control: StartControl, fake_wl: tuple[Path, Path, Path]) -> None:
    script, _, release = fake_wl
    release.touch()
    async with start_control(script) as first:
        info = await first.info()
        assert info.wl_version == "9.9.9"
        assert len(info.instance_id) >= 8
        assert info.uptime_seconds >= 0
        assert list(info.joined_rigs) == []
        assert info.operations_in_flight == 0
        mark_joined(first.work_dir, "alice")
        assert list((await first.info()).joined_rigs) == ["alice"]
    async with start_control(script) as second:
        assert (await second.info()).instance_id != info.instance_id


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"token": ""}, grpc.StatusCode.FAILED_PRECONDITION, None),
        ({"token": "has space"}, grpc.StatusCode.INVALID_ARGUMENT, "credential.dolthub_token"),
        ({"org": "../etc"}, grpc.StatusCode.INVALID_ARGUMENT, "credential.dolthub_org"),
        ({"rig": "a/b"}, grpc.StatusCode.INVALID_ARGUMENT, "credential.rig_handle"),
        ({"kind": K.OPERATION_KIND_UNSPECIFIED}, grpc.StatusCode.INVALID_ARGUMENT, "kind"),
        ({"upstream": "nodb"}, grpc.StatusCode.INVALID_ARGUMENT, "upstream"),
        ({"kind": K.OPERATION_KIND_CLAIM}, grpc.StatusCode.INVALID_ARGUMENT, "wanted_id"),
        (
            {"kind": K.OPERATION_KIND_CLAIM, "wanted_id": "--help"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "wanted_id",
        ),
        (
            {"kind": K.OPERATION_KIND_DONE, "wanted_id": "w-1", "evidence": "not a url"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "evidence",
        ),
        (
            {"kind": K.OPERATION_KIND_DONE, "wanted_id": "w-1", "evidence": "ftp://x/y"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "evidence",
        ),
        (
            {"kind": K.OPERATION_KIND_POST, "title": " "},
            grpc.StatusCode.INVALID_ARGUMENT,
            "args.title",
        ),
        (
            {"kind": K.OPERATION_KIND_POST, "title": "t", "type": "chore"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "args.type",
        ),
        (
            {"kind": K.OPERATION_KIND_POST, "title": "t", "priority": 5},
            grpc.StatusCode.INVALID_ARGUMENT,
            "args.priority",
        ),
        (
            {"kind": K.OPERATION_KIND_POST, "title": "t", "effort_level": "huge"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "args.effort_level",
        ),
        (
            {"kind": K.OPERATION_KIND_ACCEPT, "wanted_id": "w-1", "quality": 3},
            grpc.StatusCode.PERMISSION_DENIED,
            None,
        ),
        (
            {
                "kind": K.OPERATION_KIND_ACCEPT,
                "wanted_id": "w-1",
                "quality": 9,
                "role": K.MEMBER_ROLE_MAINTAINER,
            },
            grpc.StatusCode.INVALID_ARGUMENT,
            "args.quality",
        ),
    ],
)
async def test_bad_requests_are_refused_before_wl_runs(
    start_control: StartControl,
    fake_wl: tuple[Path, Path, Path],
    changes: dict[str, Any],
    code: grpc.StatusCode,
    field: str | None,
) -> None:
    script, log, _ = fake_wl
    request: dict[str, Any] = {"kind": K.OPERATION_KIND_SYNC, "token": TOKEN, "org": "alice"}
    request.update(changes)
    kind = request.pop("kind")
    async with start_control(script) as control:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await control.run(kind, **request)
    assert info.value.code() == code
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        assert info.value.details() == "connect DoltHub first"
    if field is not None:
        status = status_of(info.value)
        assert status is not None
        bad = error_details_pb2.BadRequest()
        assert status.details[0].Unpack(bad)
        assert [v.field for v in bad.field_violations] == [field]
    assert "has space" not in (info.value.details() or "")
    assert lines(log) == []  # wl never ran


async def test_upstream_is_pinned_when_configured(
    start_control: StartControl, fake_wl: tuple[Path, Path, Path]
) -> None:
    async with start_control(fake_wl[0], env={"UPSTREAM": "hop/wl-commons"}) as control:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await control.run(K.OPERATION_KIND_SYNC, token=TOKEN, org="alice", upstream="bob/other")
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # An empty upstream means the pinned one: the request passes validation and is
        # refused only for what it lacks.
        result = await control.run(K.OPERATION_KIND_SYNC, token=TOKEN, org="alice", upstream="")
        assert result.status == K.OPERATION_STATUS_FAILED
        assert result.error_code == "FAILED_PRECONDITION"
        assert "upstream credential" in result.error


def _operation(handle: str, operation_id: str) -> operations.Operation:
    return operations.Operation(
        operation_id=operation_id,
        kind=K.OPERATION_KIND_CLAIM,
        commons=Commons("hop", "wl-commons"),
        rig=Rig(handle=handle, org=handle, token=f"tok-{handle}"),
        role=K.MEMBER_ROLE_CONTRIBUTOR,
        wanted_id="w-1",
        args=K.OperationArgs(),
    )


class GatedHandler:
    """A claim handler that logs start/end per rig and waits for ``release``."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.release = asyncio.Event()

    async def __call__(
        self, deps: operations.Deps, op: operations.Operation, client: Any
    ) -> common_pb2.OperationResult:
        self.log.append(f"start {op.rig.handle}")
        await self.release.wait()
        self.log.append(f"end {op.rig.handle}")
        return operations.failed(op, "ABORTED", f"done by {op.rig.handle}")


def _ops(tmp_path: Path, handler: GatedHandler) -> operations.Operations:
    deps = operations.Deps(
        runner=WlRunner("wl", dolthub_api_url="http://127.0.0.1:9/api/v1alpha1"),
        dolthub=DoltHubClient("http://127.0.0.1:9/api/v1alpha1"),
        work_dir=tmp_path,
        wl_timeout=5,
        join_timeout=5,
    )
    return operations.Operations(deps, handlers={K.OPERATION_KIND_CLAIM: handler})


async def test_mutations_run_one_at_a_time_in_arrival_order(tmp_path: Path) -> None:
    handler = GatedHandler()
    ops = _ops(tmp_path, handler)
    first = asyncio.create_task(ops.run(_operation("alice", "op-1")))
    await wait_until("alice's operation to start", lambda: _async(handler.log == ["start alice"]))
    second = asyncio.create_task(ops.run(_operation("bob", "op-2")))
    await wait_until("two operations in flight", lambda: _async(ops.in_flight == 2))
    assert handler.log == ["start alice"]  # bob waits for alice
    handler.release.set()
    results = await asyncio.gather(first, second)
    assert [r.error for r in results] == ["done by alice", "done by bob"]
    assert [r.operation_id for r in results] == ["op-1", "op-2"]
    assert handler.log == ["start alice", "end alice", "start bob", "end bob"]
    assert ops.in_flight == 0


async def test_a_repeated_operation_id_does_not_run_again(tmp_path: Path) -> None:
    handler = GatedHandler()
    handler.release.set()
    ops = _ops(tmp_path, handler)
    once = await ops.run(_operation("alice", "x"))
    again = await ops.run(_operation("alice", "x"))
    assert once == again
    assert handler.log == ["start alice", "end alice"]
    await ops.run(_operation("alice", "y"))
    assert len(handler.log) == 4


async def test_a_failed_lazy_join_fails_the_operation_without_leaking_the_token(
    start_control: StartControl, fake_wl: tuple[Path, Path, Path]
) -> None:
    script, log, release = fake_wl
    release.touch()
    async with start_control(script) as control:
        result = await control.run(K.OPERATION_KIND_POST, token=TOKEN, org="alice", title="t")
    assert result.status == K.OPERATION_STATUS_FAILED
    assert result.error_code == "FAILED_PRECONDITION"
    assert result.error.startswith("registering rig alice failed: DOLTHUB_TOKEN environment")
    assert "exit" not in result.error  # no exit codes or command lines for users
    assert TOKEN not in str(result)
    assert lines(log) == []  # post never ran


async def test_dolthub_unreachable_is_unavailable(
    start_control: StartControl, fake_wl: tuple[Path, Path, Path]
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/api/v1alpha1"
    async with start_control(fake_wl[0], dolthub_api_url=closed) as control:
        result = await control.run(
            K.OPERATION_KIND_CLAIM, token=TOKEN, org="alice", wanted_id="w-1"
        )
    assert result.status == K.OPERATION_STATUS_FAILED
    assert result.error_code == "UNAVAILABLE"
    assert result.error == operations.DOLTHUB_UNAVAILABLE  # no request line, no status code
    assert TOKEN not in str(result)
    assert lines(fake_wl[1]) == []


async def test_console_script_prints_its_listening_line(
    tmp_path: Path, fake_wl: tuple[Path, Path, Path]
) -> None:
    env = {
        "SERVICE_JWT_SECRET": SERVICE_SECRET,
        "WL_BINARY": str(fake_wl[0]),
        "GRPC_PORT": "0",
        "WORK_DIR": str(tmp_path / "w"),
        "LOG_FORMAT": "json",
    }
    with started("control-server", [str(VENV_BIN / "wl-control-server")], env=env) as proc:
        assert proc.port > 0
        assert proc.host == "127.0.0.1"
    assert proc.popen.returncode == 0, proc.text()


async def _async(value: bool) -> bool:
    return value
