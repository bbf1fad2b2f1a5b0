"""The local runtime against real child processes on loopback."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from devstack.procs import VENV_BIN
from wasteland_common import errors
from wl_executor.runtime_local import LocalRuntime, LocalRuntimeConfig

STUB = Path(__file__).with_name("control_stub.py")
UPSTREAM = "hop/wl-commons"


def stub_command(mode: str = "normal") -> tuple[str, ...]:
    return (sys.executable, str(STUB), "--mode", mode)


def make_runtime(
    tmp_path: Path, command: tuple[str, ...], *, spare: bool = False, **overrides: float
) -> LocalRuntime:
    config = LocalRuntimeConfig(
        command=command,
        work_dir=tmp_path / "work",
        wl_binary=str(VENV_BIN / "wl"),
        dolthub_api_url="http://127.0.0.1:9/api/v1alpha1",
        service_jwt_secret="service-secret-for-tests",
        log_format="text",
        start_timeout=overrides.get("start_timeout", 30.0),
        stop_grace=overrides.get("stop_grace", 5.0),
        spare=spare,
    )
    return LocalRuntime(config)


def gone(pid: int) -> bool:
    """True once ``pid`` no longer exists (it was reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def real_control_server_available() -> bool:
    return importlib.util.find_spec("wl_control_server.server") is not None


@pytest.fixture(params=["stub", "real"])
def command(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """The stand-in script, and the real `wl-control-server` once it exists."""
    if request.param == "real":
        if not real_control_server_available():
            pytest.skip("wl_control_server.server is not written yet")
        return (str(VENV_BIN / "wl-control-server"),)
    return stub_command()


async def test_start_health_stop(
    tmp_path: Path, command: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever the executor's own environment holds must not reach the child.
    monkeypatch.setenv("DOLTHUB_TOKEN", "sandbox-token-leaked")
    monkeypatch.setenv("WL_EXECUTOR_TEST_MARKER", "leaked")
    runtime = make_runtime(tmp_path, command)
    try:
        endpoint = await runtime.ensure_running("w1", UPSTREAM)
        pid = runtime.pid("w1")
        assert pid is not None
        assert endpoint.host == "127.0.0.1"
        assert endpoint.port > 0
        assert await runtime.healthy(endpoint)
        assert runtime.running() == ["w1"]
        # A second call reuses the live process.
        assert await runtime.ensure_running("w1", UPSTREAM) == endpoint
        assert runtime.pid("w1") == pid
    finally:
        await runtime.shutdown()
    assert gone(pid)
    assert runtime.running() == []
    assert not await runtime.healthy(endpoint)


async def test_remove_stops_the_child_and_deletes_its_work_dir(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, stub_command())
    try:
        await runtime.ensure_running("w-gone", UPSTREAM)
        pid = runtime.pid("w-gone")
        assert pid is not None
        work = tmp_path / "work" / "w-gone"
        assert work.is_dir()
        await runtime.remove("w-gone")
        assert gone(pid)
        assert not work.exists()
        assert runtime.running() == []
        await runtime.remove("w-gone")  # nothing left: no error
    finally:
        await runtime.shutdown()


async def test_child_gets_an_explicit_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOLTHUB_TOKEN", "sandbox-token-leaked")
    monkeypatch.setenv("WL_EXECUTOR_TEST_MARKER", "leaked")
    runtime = make_runtime(tmp_path, stub_command())
    try:
        await runtime.ensure_running("w-env", UPSTREAM)
    finally:
        await runtime.shutdown()
    env = json.loads((tmp_path / "work" / "w-env" / "env.json").read_text())
    assert env["WASTELAND_ID"] == "w-env"
    assert env["UPSTREAM"] == UPSTREAM
    assert env["GRPC_HOST"] == "127.0.0.1"
    assert env["GRPC_PORT"] == "0"
    assert env["WORK_DIR"] == str((tmp_path / "work" / "w-env").resolve())
    assert env["WL_BINARY"] == str(VENV_BIN / "wl")
    assert env["DOLTHUB_API_URL"] == "http://127.0.0.1:9/api/v1alpha1"
    assert env["SERVICE_JWT_SECRET"] == "service-secret-for-tests"
    assert "DOLTHUB_TOKEN" not in env
    assert "WL_EXECUTOR_TEST_MARKER" not in env
    assert "sandbox-token-leaked" not in json.dumps(env)


async def test_a_dead_child_is_unhealthy_and_replaced(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, stub_command())
    try:
        first = await runtime.ensure_running("w1", UPSTREAM)
        first_pid = runtime.pid("w1")
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        # The health check fails as soon as the port closes; the exit is reaped a moment
        # later.
        while (await runtime.healthy(first) or runtime.running()) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not await runtime.healthy(first)
        assert runtime.running() == []

        second = await runtime.ensure_running("w1", UPSTREAM)
        assert second.instance_id != first.instance_id
        assert runtime.pid("w1") != first_pid
        assert await runtime.healthy(second)
    finally:
        await runtime.shutdown()


async def test_child_that_never_reports_ready_is_killed(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, stub_command("silent"), start_timeout=1.5, stop_grace=1)
    with pytest.raises(errors.Unavailable) as caught:
        await runtime.ensure_running("w1", UPSTREAM)
    assert "in time" in caught.value.message
    assert runtime.running() == []
    assert runtime.pid("w1") is None


async def test_child_that_exits_while_starting(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, stub_command("exit"))
    with pytest.raises(errors.Unavailable) as caught:
        await runtime.ensure_running("w1", UPSTREAM)
    assert "exit code 3" in caught.value.message
    assert runtime.running() == []


async def test_missing_command_is_unavailable(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, (str(tmp_path / "no-such-program"),))
    with pytest.raises(errors.Unavailable):
        await runtime.ensure_running("w1", UPSTREAM)


async def test_child_ignoring_sigterm_is_killed_after_grace(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, stub_command("stubborn"), stop_grace=0.5)
    await runtime.ensure_running("w1", UPSTREAM)
    pid = runtime.pid("w1")
    assert pid is not None
    await runtime.stop("w1")
    assert gone(pid)
    assert runtime.running() == []


async def test_output_is_drained_so_a_chatty_child_keeps_serving(tmp_path: Path) -> None:
    # ~2 MB on stdout and stderr: far beyond a pipe buffer. Undrained, the child would
    # block in write() and stop answering.
    runtime = make_runtime(tmp_path, stub_command("chatty"))
    try:
        endpoint = await runtime.ensure_running("w1", UPSTREAM)
        for _ in range(3):
            assert await runtime.healthy(endpoint)
    finally:
        await runtime.shutdown()


async def test_each_wasteland_gets_its_own_process(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, stub_command())
    try:
        a, b = await asyncio.gather(
            runtime.ensure_running("a", UPSTREAM), runtime.ensure_running("b", UPSTREAM)
        )
        assert a.port != b.port
        assert runtime.running() == ["a", "b"]
        pids = [runtime.pid("a"), runtime.pid("b")]
        await runtime.stop("a")
        assert runtime.running() == ["b"]
        assert await runtime.healthy(b)
    finally:
        await runtime.shutdown()
    assert all(pid is not None and gone(pid) for pid in pids)


async def test_wasteland_id_cannot_escape_the_work_dir(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, stub_command())
    with pytest.raises(errors.InvalidArgument):
        await runtime.ensure_running("../escape", UPSTREAM)


async def _spare_pid(runtime: LocalRuntime, *, not_pid: int | None = None) -> int:
    """The standby control server's pid once one is up (and is not ``not_pid``)."""
    async with asyncio.timeout(30):
        while (pid := runtime.spare_pid) is None or pid == not_pid:
            await asyncio.sleep(0.05)
    return pid


async def test_a_standby_control_server_serves_the_next_wake(tmp_path: Path) -> None:
    if not real_control_server_available():
        pytest.skip("wl_control_server.server is not written yet")
    runtime = make_runtime(tmp_path, (str(VENV_BIN / "wl-control-server"),), spare=True)
    pids: list[int] = []
    try:
        await runtime.ensure_running("w1", UPSTREAM)
        spare = await _spare_pid(runtime)
        pids.append(spare)
        endpoint = await runtime.ensure_running("w2", UPSTREAM)
        # The wake took the spare: no new process, serving w2 from w2's work directory.
        assert runtime.pid("w2") == spare
        assert await runtime.healthy(endpoint)
        assert Path(f"/proc/{spare}/cwd").resolve() == (tmp_path / "work" / "w2").resolve()
        # Another spare starts behind it.
        pids.append(await _spare_pid(runtime, not_pid=spare))
        await runtime.stop("w2")
        assert gone(spare)
    finally:
        await runtime.shutdown()
    assert all(gone(pid) for pid in pids)
    assert runtime.spare_pid is None


async def test_without_the_setting_no_spare_is_started(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, stub_command())
    try:
        await runtime.ensure_running("w1", UPSTREAM)
        await runtime.stop("w1")
        await asyncio.sleep(0.2)
        assert runtime.spare_pid is None
    finally:
        await runtime.shutdown()
