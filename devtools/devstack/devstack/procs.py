"""Start real service processes, wait for their readiness line, stop them cleanly."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

READY = re.compile(r"listening on (?:http://)?(?P<host>[\d.]+):(?P<port>\d+)")
VENV_BIN = Path(sys.executable).parent


@dataclass
class Proc:
    """A started process, its address and everything it printed so far."""

    name: str
    popen: subprocess.Popen[str]
    host: str
    port: int
    output: list[str] = field(default_factory=list)
    log_path: Path | None = None

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def text(self) -> str:
        """Everything the process printed (from its log file when it has one)."""
        if self.log_path is not None and self.log_path.exists():
            return self.log_path.read_text(encoding="utf-8")
        return "".join(self.output)


def _pump(
    proc: Proc,
    ready: threading.Event,
    found: dict[str, str],
    log_path: Path | None,
    pattern: re.Pattern[str],
) -> None:
    assert proc.popen.stdout is not None
    log = log_path.open("a", encoding="utf-8") if log_path else None
    try:
        for line in proc.popen.stdout:
            _consume(proc, line, ready, found, log, pattern)
    finally:
        if log:
            log.close()
    ready.set()


def _consume(
    proc: Proc,
    line: str,
    ready: threading.Event,
    found: dict[str, str],
    log: TextIO | None,
    pattern: re.Pattern[str],
) -> None:
    if log:
        log.write(line)
        log.flush()
    else:
        proc.output.append(line)
    if not ready.is_set() and (m := pattern.search(line)):
        found.update(m.groupdict(), matched="1")
        ready.set()


@contextlib.contextmanager
def started(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60.0,
    log_path: Path | None = None,
    ready: re.Pattern[str] = READY,
) -> Iterator[Proc]:
    """Run ``argv`` until its "listening on HOST:PORT" line (or a line matching
    ``ready``), yield, then SIGTERM it.

    Output goes to ``log_path`` when given (long-running ``make run``), else to memory.
    """
    full_env = {**os.environ, "LOG_FORMAT": "text", **(env or {})}
    popen = subprocess.Popen(
        list(argv),
        env=full_env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    proc = Proc(name=name, popen=popen, host="", port=0, log_path=log_path)
    if log_path:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    seen = threading.Event()
    found: dict[str, str] = {}
    pump = threading.Thread(target=_pump, args=(proc, seen, found, log_path, ready), daemon=True)
    pump.start()
    try:
        if not seen.wait(timeout) or not found:
            raise RuntimeError(f"{name} did not become ready:\n{proc.text()[-4000:]}")
        proc.host, proc.port = found.get("host") or "", int(found.get("port") or 0)
        yield proc
    finally:
        stop(popen)
        pump.join(timeout=5)


def stop(popen: subprocess.Popen[str], grace: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL after ``grace`` seconds."""
    if popen.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while popen.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=0.2)
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(timeout=5)
