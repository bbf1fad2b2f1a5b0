"""The `wl` runner: explicit environment, token hygiene, timeouts, output caps."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import pytest
from wl_control_server.wl import RigEnv, WlRunner

from .fakewl import write_fake_wl

TOKEN = "tok-Secret-1234567890"
API = "http://127.0.0.1:9/api/v1alpha1"


def rig(tmp_path: Path) -> RigEnv:
    return RigEnv(rig_dir=tmp_path / "rigs" / "alice", dolthub_token=TOKEN, dolthub_org="alice")


async def test_child_gets_exactly_the_minimal_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARENT_ONLY_VARIABLE", "leak")
    dump = tmp_path / "env.txt"
    script = write_fake_wl(tmp_path, f'env > "{dump}"\necho "args:$*"\n')
    runner = WlRunner(str(script), dolthub_api_url=API, path="/usr/bin:/bin")
    env = rig(tmp_path)

    run = await runner.run(["claim", "w-1", "--title=a b"], env, limit_seconds=30)

    assert run.ok, run
    assert run.stdout.strip() == "args:claim w-1 --title=a b"
    seen = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    assert seen["DOLTHUB_TOKEN"] == TOKEN
    assert seen["DOLTHUB_ORG"] == "alice"
    assert seen["DOLTHUB_API_URL"] == API
    assert seen["HOME"] == str(env.rig_dir)
    assert seen["XDG_CONFIG_HOME"] == str(env.rig_dir / ".config")
    assert seen["XDG_DATA_HOME"] == str(env.rig_dir / ".local" / "share")
    assert seen["NO_COLOR"] == "1"
    assert seen["LANG"] == "C.UTF-8"
    assert seen["PATH"] == "/usr/bin:/bin"
    assert "PARENT_ONLY_VARIABLE" not in seen
    # sh may add PWD/SHLVL/_ itself; nothing else comes from us.
    assert set(seen) - {"PWD", "SHLVL", "_", "OLDPWD"} == {
        "DOLTHUB_TOKEN",
        "DOLTHUB_ORG",
        "DOLTHUB_API_URL",
        "HOME",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "NO_COLOR",
        "LANG",
        "PATH",
    }
    # The parent never gains the token.
    assert "DOLTHUB_TOKEN" not in os.environ or os.environ["DOLTHUB_TOKEN"] != TOKEN
    assert TOKEN not in "".join(os.environ.values())


async def test_token_never_leaves_in_output_results_or_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = write_fake_wl(
        tmp_path,
        'echo "token is $DOLTHUB_TOKEN"\n'
        'echo "wl: auth failed for token $DOLTHUB_TOKEN" >&2\n'
        "exit 1\n",
    )
    runner = WlRunner(str(script), dolthub_api_url=API)
    caplog.set_level(logging.DEBUG)

    run = await runner.run(["claim", "w-1"], rig(tmp_path), limit_seconds=30)

    assert run.exit_code == 1
    assert not run.ok
    assert TOKEN not in run.stdout
    assert TOKEN not in run.stderr
    assert TOKEN not in run.error_message()
    assert TOKEN not in repr(run)
    assert "[REDACTED]" in run.stderr
    assert run.parsed.errors  # the error line was still parsed
    assert TOKEN not in caplog.text
    assert any("exited 1" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        assert TOKEN not in record.getMessage()


def test_rig_env_repr_hides_the_token(tmp_path: Path) -> None:
    assert TOKEN not in repr(rig(tmp_path))
    assert TOKEN not in str(rig(tmp_path))


def _dead(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")  # a zombie waiting to be reaped has been killed


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    script = write_fake_wl(
        tmp_path,
        f'sleep 300 &\necho $! > "{pid_file}"\necho started\nsleep 300\n',
    )
    runner = WlRunner(str(script), dolthub_api_url=API)

    run = await runner.run(["join"], rig(tmp_path), limit_seconds=1.0)

    assert run.timed_out
    assert run.exit_code is None
    assert not run.ok
    assert run.error_code() == "DEADLINE_EXCEEDED"
    assert "timed out" in run.error_message()
    assert run.stdout.strip() == "started"
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while not _dead(grandchild) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert _dead(grandchild)


async def test_output_is_capped_and_the_child_is_not_blocked(tmp_path: Path) -> None:
    # 2 MB on stdout: without draining, the child would block on a full pipe and time out.
    script = write_fake_wl(
        tmp_path, "head -c 2000000 /dev/zero | tr '\\0' x\necho done >&2\nexit 0\n"
    )
    runner = WlRunner(str(script), dolthub_api_url=API, output_limit=4096)

    run = await runner.run(["browse"], rig(tmp_path), limit_seconds=30)

    assert run.ok
    assert run.truncated
    assert run.stdout.startswith("x" * 4096)
    assert len(run.stdout) < 4200
    assert run.stderr.strip() == "done"


async def test_missing_binary_is_a_failed_run(tmp_path: Path) -> None:
    runner = WlRunner(str(tmp_path / "no-such-wl"), dolthub_api_url=API)
    run = await runner.run(["version"], None, limit_seconds=5)
    assert not run.ok
    assert run.exit_code is None
    assert run.start_error is not None
    assert "cannot start wl" in run.error_message()
    assert run.error_code() == "INTERNAL"


async def test_no_rig_means_no_credentials(tmp_path: Path) -> None:
    dump = tmp_path / "env.txt"
    script = write_fake_wl(tmp_path, f'env > "{dump}"\necho "wl dev (commit: x, built: y)"\n')
    runner = WlRunner(str(script), dolthub_api_url=API)
    run = await runner.run(["version"], None, limit_seconds=30)
    assert run.ok
    assert "DOLTHUB_TOKEN" not in dump.read_text()


async def test_a_cancelled_run_kills_wl(tmp_path: Path) -> None:
    pid_file = tmp_path / "wl.pid"
    script = write_fake_wl(tmp_path, f'echo $$ > "{pid_file}"\nsleep 300\n')
    runner = WlRunner(str(script), dolthub_api_url=API)
    task = asyncio.create_task(runner.run(["claim", "w-1"], rig(tmp_path), limit_seconds=300))
    deadline = time.monotonic() + 10
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "wl never started"
        await asyncio.sleep(0.02)
    pid = int(pid_file.read_text())

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    deadline = time.monotonic() + 10
    while not _dead(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert _dead(pid)
