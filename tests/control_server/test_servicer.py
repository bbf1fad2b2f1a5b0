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
        mark_joined(control.work_dir, "alice")
        (fake_wl[2]).touch()
        result = await control.run(K.OPERATION_KIND_SYNC, token=TOKEN, org="alice", upstream="")
        assert result.status == K.OPERATION_STATUS_SUCCEEDED, result.error


async def test_mutations_run_one_at_a_time_in_arrival_order(
    start_control: StartControl, fake_wl: tuple[Path, Path, Path]
) -> None:
    script, log, release = fake_wl
    async with start_control(script) as control:
        mark_joined(control.work_dir, "alice")
        mark_joined(control.work_dir, "bob")
        first = asyncio.create_task(
            control.run(K.OPERATION_KIND_SYNC, token=TOKEN, org="alice", operation_id="op-1")
        )
        await wait_until("alice's sync to start", lambda: _async(lines(log) == ["start alice"]))
        second = asyncio.create_task(
            control.run(K.OPERATION_KIND_SYNC, token=BOB, org="bob", operation_id="op-2")
        )

        async def two_in_flight() -> bool:
            return (await control.info()).operations_in_flight == 2

        await wait_until("two operations in flight", two_in_flight)
        assert lines(log) == ["start alice"]  # bob waits for alice
        release.touch()
        results = await asyncio.gather(first, second)
        assert [r.status for r in results] == [K.OPERATION_STATUS_SUCCEEDED] * 2
        assert [r.rig_handle for r in results] == ["alice", "bob"]
        assert [r.operation_id for r in results] == ["op-1", "op-2"]
        assert lines(log) == ["start alice", "end alice", "start bob", "end bob"]
        assert (await control.info()).operations_in_flight == 0


async def test_a_repeated_operation_id_does_not_run_again(
    start_control: StartControl, fake_wl: tuple[Path, Path, Path]
) -> None:
    script, log, release = fake_wl
    release.touch()
    async with start_control(script) as control:
        mark_joined(control.work_dir, "alice")
        once = await control.run(K.OPERATION_KIND_SYNC, token=TOKEN, org="alice", operation_id="x")
        again = await control.run(K.OPERATION_KIND_SYNC, token=TOKEN, org="alice", operation_id="x")
        assert once == again
        assert lines(log) == ["start alice", "end alice"]
        await control.run(K.OPERATION_KIND_SYNC, token=TOKEN, org="alice", operation_id="y")
        assert len(lines(log)) == 4


async def test_a_failed_lazy_join_fails_the_operation_without_leaking_the_token(
    start_control: StartControl, fake_wl: tuple[Path, Path, Path]
) -> None:
    script, log, release = fake_wl
    release.touch()
    async with start_control(script) as control:
        result = await control.run(K.OPERATION_KIND_SYNC, token=TOKEN, org="alice")
    assert result.status == K.OPERATION_STATUS_FAILED
    assert result.error_code == "FAILED_PRECONDITION"
    assert result.error.startswith("registering rig alice failed: wl join failed (exit 1)")
    assert TOKEN not in str(result)
    assert lines(log) == []  # sync never ran


async def test_dolthub_unreachable_is_unavailable_with_retry_info(
    start_control: StartControl, fake_wl: tuple[Path, Path, Path]
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/api/v1alpha1"
    async with start_control(fake_wl[0], dolthub_api_url=closed) as control:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await control.run(K.OPERATION_KIND_CLAIM, token=TOKEN, org="alice", wanted_id="w-1")
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    status = status_of(info.value)
    assert status is not None
    retry = error_details_pb2.RetryInfo()
    assert any(detail.Unpack(retry) for detail in status.details)
    assert retry.retry_delay.seconds >= 1
    assert TOKEN not in str(info.value)
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
