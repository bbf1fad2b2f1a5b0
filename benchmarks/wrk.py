"""HTTP load with wrk (Debian's ``wrk`` package): install, script, run, parse.

wrk is an established, event-driven load generator written in C; it keeps its own CPU
share small, which matters on a 2-core machine where the client competes with the
services it measures. Each run uses one wrk thread (the same client cost at 1, 8 and 32
connections). A Lua script rotates the ``Authorization`` header over a file of many
users' JWTs, so per-user rate limits never trigger, and prints the run's summary as one
``WRK_JSON {...}`` line that :func:`parse_output` reads (exact percentiles from wrk's
own histogram, error counts by kind).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MARKER = "WRK_JSON "

LUA_SCRIPT = r"""-- Written by benchmarks/wrk.py: rotate users' tokens, report as JSON.
local tokens = {}
local position = 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("offset", threads * 7919)
end

function init(args)
  local file = args[1]
  if file ~= nil and file ~= "" then
    for line in io.lines(file) do
      if #line > 0 then tokens[#tokens + 1] = line end
    end
  end
  position = offset or 0
end

function request()
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  if #tokens > 0 then
    position = position % #tokens + 1
    headers["Authorization"] = "Bearer " .. tokens[position]
  end
  return wrk.format(nil, nil, headers)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {\"requests\":%d,\"duration_us\":%d,\"bytes\":%d,"
    .. "\"errors\":{\"connect\":%d,\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d},"
    .. "\"latency_us\":{\"min\":%d,\"mean\":%.1f,\"max\":%d,\"p50\":%d,\"p90\":%d,\"p99\":%d}}\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""


class WrkError(RuntimeError):
    """wrk is missing and cannot be installed, or a run failed."""


@dataclass(frozen=True)
class LoadResult:
    """One wrk run: throughput, latency percentiles (ms) and errors by kind."""

    requests: int
    duration_s: float
    errors: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        """Completed requests per second."""
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def error_count(self) -> int:
        """Every failed request: connect/read/write errors, timeouts, non-2xx/3xx."""
        return sum(self.errors.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields plus the derived throughput."""
        return {**asdict(self), "rps": self.rps}


def parse_output(text: str) -> LoadResult:
    """The :class:`LoadResult` in wrk's output (the ``WRK_JSON`` line of our script)."""
    for line in text.splitlines():
        if line.startswith(MARKER):
            raw = json.loads(line[len(MARKER) :])
            break
    else:
        raise WrkError(f"no {MARKER.strip()} line in wrk output:\n{text[-2000:]}")
    requests = int(raw["requests"])
    latency = raw["latency_us"]

    def ms(key: str) -> float:
        return float(latency[key]) / 1000.0 if requests else float("nan")

    return LoadResult(
        requests=requests,
        duration_s=float(raw["duration_us"]) / 1e6,
        errors={str(k): int(v) for k, v in raw["errors"].items()},
        p50_ms=ms("p50"),
        p90_ms=ms("p90"),
        p99_ms=ms("p99"),
        mean_ms=ms("mean"),
        max_ms=ms("max"),
    )


def ensure_installed() -> str:
    """The path of ``wrk``, installing Debian's package first when it is missing and we
    may (root with apt-get, like ``.ci/run`` installs PostgreSQL)."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise WrkError("wrk is not installed; install it with: sudo apt-get install -y wrk")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("installing wrk from Debian (apt-get install -y wrk)", flush=True)
    install = [apt, "install", "-y", "-qq", "wrk"]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run([apt, "update", "-qq"], env=env, capture_output=True, check=False)
        done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise WrkError(f"apt-get install wrk failed:\n{done.stderr[-2000:]}")
    found = shutil.which("wrk")
    if found is None:
        raise WrkError("wrk is still not on PATH after installing it")
    return found


def write_script(directory: Path) -> Path:
    """Write the Lua script into ``directory``; its path."""
    path = directory / "bench.lua"
    path.write_text(LUA_SCRIPT, encoding="utf-8")
    return path


def run(
    wrk: str,
    url: str,
    *,
    connections: int,
    duration_s: float,
    script: Path,
    tokens: Path | None,
    timeout_s: float = 10.0,
) -> LoadResult:
    """One wrk run of ``duration_s`` seconds over ``connections`` keep-alive connections
    (one wrk thread), rotating the tokens in ``tokens`` when given."""
    argv = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        f"--timeout={max(1, round(timeout_s))}s",
        "-s",
        str(script),
        url,
    ]
    if tokens is not None:
        argv += ["--", str(tokens)]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=duration_s + timeout_s + 30, check=False
    )
    if done.returncode != 0:
        raise WrkError(f"wrk exited {done.returncode}:\n{(done.stderr or done.stdout)[-2000:]}")
    return parse_output(done.stdout)
