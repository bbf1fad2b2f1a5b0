"""Running the `wl` CLI: one child process per call with an explicit, minimal environment.

The caller's DoltHub token reaches the child through its environment only; it is never in
the argv, never in this process's ``os.environ``, and is scrubbed from everything the child
printed before that text is logged, parsed or returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from wasteland_common import logs

from . import output

log = logging.getLogger(__name__)

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
DEFAULT_OUTPUT_LIMIT = 256 * 1024
_READ_CHUNK = 64 * 1024
_MASK = logs.REDACTED
_TRUNCATED = "\n[output truncated]\n"


@dataclass(frozen=True)
class RigEnv:
    """Who a `wl` run acts as and where its configuration lives."""

    rig_dir: Path
    dolthub_token: str
    dolthub_org: str

    def __repr__(self) -> str:
        # The dataclass repr would print the token.
        return f"RigEnv(rig_dir={str(self.rig_dir)!r}, dolthub_org={self.dolthub_org!r})"

    @property
    def config_home(self) -> Path:
        """``XDG_CONFIG_HOME`` of the rig's runs."""
        return self.rig_dir / ".config"

    @property
    def data_home(self) -> Path:
        """``XDG_DATA_HOME`` of the rig's runs."""
        return self.rig_dir / ".local" / "share"


@dataclass(frozen=True)
class WlRun:
    """The outcome of one `wl` run, already scrubbed of the token.

    ``exit_code`` is None when the process could not be started or was killed on timeout.
    ``start_error`` says why it could not be started.
    """

    args: tuple[str, ...]
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    truncated: bool
    duration_seconds: float
    parsed: output.WlOutput
    start_error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether `wl` ran to completion and exited 0."""
        return self.exit_code == 0 and not self.timed_out

    def error_message(self) -> str:
        """A human message for a failed run, from `wl`'s own error lines when it printed any."""
        if self.start_error is not None:
            return self.start_error
        if self.timed_out:
            return f"wl {self.verb} timed out after {self.duration_seconds:.0f}s"
        if self.parsed.errors:
            text = "; ".join(self.parsed.errors)
        else:
            tail = (self.stderr.strip() or self.stdout.strip()).splitlines()[-3:]
            text = " ".join(line.strip() for line in tail) or "no output"
        return f"wl {self.verb} failed (exit {self.exit_code}): {text}"[:2000]

    def user_message(self) -> str:
        """What a user is told about a failed run: `wl`'s own reason, never its command
        line or exit code."""
        if self.start_error is not None:
            return "the workload could not run the wl CLI; try again later"
        if self.timed_out:
            return "DoltHub did not finish the change in time; check the board before retrying"
        if self.error_code() == "UNAVAILABLE":
            return "DoltHub is not answering reliably right now; try again in a minute"
        reason = "; ".join(self.parsed.errors).strip()
        return reason[:2000] if reason else "DoltHub did not accept the change"

    def error_code(self) -> str:
        """The gRPC code name of a failed run."""
        if self.start_error is not None:
            return "INTERNAL"
        if self.timed_out:
            return "DEADLINE_EXCEEDED"
        return output.classify_error(" ".join(self.parsed.errors) or self.stderr)

    @property
    def verb(self) -> str:
        """The `wl` subcommand that was run."""
        return self.args[0] if self.args else ""


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` without any of ``secrets`` and without anything credential-shaped."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _MASK)
    return logs.redact(text)


class WlRunner:
    """Starts `wl` runs; holds the binary path, the API URL and the output limit."""

    def __init__(
        self,
        binary: str,
        *,
        dolthub_api_url: str,
        path: str | None = None,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
    ) -> None:
        self.binary = binary
        self.dolthub_api_url = dolthub_api_url
        self.path = path if path is not None else os.environ.get("PATH", DEFAULT_PATH)
        self.output_limit = output_limit

    def environment(self, rig: RigEnv | None) -> dict[str, str]:
        """The complete environment of a child run as ``rig`` (nothing is inherited)."""
        env = {
            "PATH": self.path,
            "NO_COLOR": "1",
            "LANG": "C.UTF-8",
            "DOLTHUB_API_URL": self.dolthub_api_url,
        }
        if rig is not None:
            env.update(
                {
                    "HOME": str(rig.rig_dir),
                    "XDG_CONFIG_HOME": str(rig.config_home),
                    "XDG_DATA_HOME": str(rig.data_home),
                    "DOLTHUB_TOKEN": rig.dolthub_token,
                    "DOLTHUB_ORG": rig.dolthub_org,
                }
            )
        return env

    async def run(self, args: Sequence[str], rig: RigEnv | None, *, limit_seconds: float) -> WlRun:
        """Run ``wl <args>`` as ``rig`` and wait for it, at most ``limit_seconds``.

        Never raises for a failure of `wl` itself: a missing binary, a non-zero exit or a
        timeout (the whole process group is killed) are reported in the returned WlRun.
        """
        argv = [self.binary, *args]
        secrets = [rig.dolthub_token] if rig is not None else []
        if rig is not None:
            for directory in (rig.rig_dir, rig.config_home, rig.data_home):
                directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        started = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self.environment(rig),
                cwd=str(rig.rig_dir) if rig is not None else None,
                # Its own process group, so a timeout kills wl and anything it spawned.
                start_new_session=True,
            )
        except OSError as exc:
            reason = f"cannot start wl ({self.binary}): {exc.strerror or type(exc).__name__}"
            log.error("%s", scrub(reason, secrets))
            return WlRun(
                args=tuple(args),
                exit_code=None,
                stdout="",
                stderr="",
                timed_out=False,
                truncated=False,
                duration_seconds=time.monotonic() - started,
                parsed=output.WlOutput(),
                start_error=scrub(reason, secrets),
            )
        assert proc.stdout is not None
        assert proc.stderr is not None
        out_task = asyncio.create_task(_read_capped(proc.stdout, self.output_limit))
        err_task = asyncio.create_task(_read_capped(proc.stderr, self.output_limit))
        timed_out = False
        try:
            await asyncio.wait_for(proc.wait(), timeout=limit_seconds)
        except TimeoutError:
            timed_out = True
        except BaseException:
            # Cancelled (the caller gave up): wl must not outlive the call.
            _kill_group(proc.pid)
            out_task.cancel()
            err_task.cancel()
            raise
        finally:
            # Also after a normal exit: children left behind would hold the pipes open.
            _kill_group(proc.pid)
            if proc.returncode is None:
                await proc.wait()
        (out_bytes, out_cut), (err_bytes, err_cut) = await asyncio.gather(out_task, err_task)
        duration = time.monotonic() - started
        stdout = scrub(_decode(out_bytes, out_cut), secrets)
        stderr = scrub(_decode(err_bytes, err_cut), secrets)
        run = WlRun(
            args=tuple(args),
            exit_code=None if timed_out else proc.returncode,
            stdout=stdout,
            stderr=stderr,
            timed_out=timed_out,
            truncated=out_cut or err_cut,
            duration_seconds=duration,
            parsed=output.parse(stdout, stderr),
        )
        _log_run(run)
        return run


async def _read_capped(stream: asyncio.StreamReader, limit: int) -> tuple[bytes, bool]:
    """Read ``stream`` to EOF keeping at most ``limit`` bytes; the rest is drained so the
    child never blocks on a full pipe."""
    kept = bytearray()
    cut = False
    while chunk := await stream.read(_READ_CHUNK):
        room = limit - len(kept)
        if room > 0:
            kept += chunk[:room]
        if len(chunk) > room:
            cut = True
    return bytes(kept), cut


def _decode(data: bytes, truncated: bool) -> str:
    text = data.decode("utf-8", errors="replace")
    return text + _TRUNCATED if truncated else text


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _log_run(run: WlRun) -> None:
    extra: Mapping[str, object] = {
        "event": "wl_run",
        "operation": run.verb,
        "duration_ms": int(run.duration_seconds * 1000),
        "status": "timeout" if run.timed_out else str(run.exit_code),
    }
    if run.ok:
        log.info("wl %s exited 0", run.verb, extra=extra)
        return
    # stderr is already scrubbed; the filter in logs redacts once more on the way out.
    log.warning(
        "wl %s %s: %s",
        run.verb,
        "timed out" if run.timed_out else f"exited {run.exit_code}",
        run.stderr.strip()[-2000:] or run.stdout.strip()[-500:],
        extra=extra,
    )
