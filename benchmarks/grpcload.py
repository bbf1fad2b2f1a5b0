"""Closed-loop gRPC load on board-sync's ``Browse`` (or its health check, the gRPC floor
with the same client), in its own process.

No established gRPC load generator is packaged by Debian or PyPI (ghz is a Go program
fetched from GitHub releases), so the direct-gRPC variant of the browse scenario uses
this small ``grpc.aio`` loop instead: ``connections`` workers, each on its own channel
(one HTTP/2 connection) with one call in flight, like wrk's keep-alive connections. It
runs as a separate process (``python -m benchmarks.grpcload``), never inside the bench
or the server. Its client costs more CPU per call than wrk does, so on a 2-core machine
its throughput is a lower bound of what board-sync can serve.

Each call carries what the gateway sends: a fresh service JWT (``gateway``), a user's
JWT (rotated over the tokens file) and the request of ``GET …/wanted`` without filters.
Prints one ``LOAD_JSON {...}`` line in :class:`benchmarks.wrk.LoadResult`'s shape.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from wasteland.v1 import board_pb2, board_pb2_grpc
from wasteland_common.grpc_client import ServiceCredentials

from .stats import percentile
from .wrk import LoadResult

MARKER = "LOAD_JSON "
PAGE_SIZE = 50  # the gateway's default page size


METHODS = ("browse", "health")


def _caller(method: str, channel: grpc.aio.Channel, wasteland_id: str) -> Any:
    """An awaitable factory for one call of ``method`` on ``channel``."""
    if method == "health":
        # The gRPC floor: the same client, channel and metadata, no domain work behind it.
        health = health_pb2_grpc.HealthStub(channel)
        check = health_pb2.HealthCheckRequest(service="")

        def call_health(metadata: list[tuple[str, str]]) -> Any:
            return health.Check(check, metadata=metadata, timeout=10)

        return call_health
    board = board_pb2_grpc.BoardServiceStub(channel)
    request = board_pb2.BrowseRequest(
        wasteland_id=wasteland_id,
        page_size=PAGE_SIZE,
        sort=board_pb2.BROWSE_SORT_UNSPECIFIED,
    )

    def call_browse(metadata: list[tuple[str, str]]) -> Any:
        return board.Browse(request, metadata=metadata, timeout=10)

    return call_browse


async def _load(
    target: str,
    wasteland_id: str,
    service_secret: str,
    tokens: list[str],
    connections: int,
    duration_s: float,
    method: str = "browse",
) -> dict[str, object]:
    rotation = itertools.cycle(tokens or [""])
    latencies: list[float] = []
    errors = 0
    channels = [grpc.aio.insecure_channel(target) for _ in range(connections)]

    # Like the gateway: its service credentials (a service token reused for a minute),
    # the user's token forwarded.
    credentials = ServiceCredentials("gateway", service_secret)

    def metadata() -> list[tuple[str, str]]:
        return list(credentials.metadata(next(rotation) or None))

    calls = [_caller(method, channel, wasteland_id) for channel in channels]

    async def worker(call: Any, deadline: float) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await call(metadata())
            except grpc.aio.AioRpcError:
                errors += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000.0)

    try:
        # One call per channel first: connections are set up before the clock starts.
        for call in calls:
            await call(metadata())
        started = time.perf_counter()
        deadline = started + duration_s
        await asyncio.gather(*(worker(c, deadline) for c in calls))
        elapsed = time.perf_counter() - started
    finally:
        for channel in channels:
            await channel.close()

    def pct(q: float) -> float:
        return percentile(latencies, q) if latencies else float("nan")

    return {
        "requests": len(latencies),
        "duration_s": elapsed,
        "errors": {"rpc": errors},
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "mean_ms": sum(latencies) / len(latencies) if latencies else float("nan"),
        "max_ms": max(latencies) if latencies else float("nan"),
    }


def parse_output(text: str) -> LoadResult:
    """The :class:`LoadResult` of a ``LOAD_JSON`` line in the loop's output."""
    for line in text.splitlines():
        if line.startswith(MARKER):
            raw = json.loads(line[len(MARKER) :])
            break
    else:
        raise RuntimeError(f"no {MARKER.strip()} line in the gRPC load output:\n{text[-2000:]}")
    return LoadResult(
        requests=int(raw["requests"]),
        duration_s=float(raw["duration_s"]),
        errors={str(k): int(v) for k, v in raw["errors"].items()},
        p50_ms=float(raw["p50_ms"]),
        p90_ms=float(raw["p90_ms"]),
        p99_ms=float(raw["p99_ms"]),
        mean_ms=float(raw["mean_ms"]),
        max_ms=float(raw["max_ms"]),
    )


def run(
    target: str,
    wasteland_id: str,
    *,
    service_secret: str,
    tokens: Path,
    connections: int,
    duration_s: float,
    method: str = "browse",
) -> LoadResult:
    """Run the loop (``method``: browse or health) in a child process; its result."""
    argv = [
        sys.executable,
        "-m",
        "benchmarks.grpcload",
        f"--target={target}",
        f"--wasteland={wasteland_id}",
        f"--tokens={tokens}",
        f"--connections={connections}",
        f"--duration={duration_s}",
        f"--method={method}",
    ]
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=duration_s + 120,
        check=False,
        env={**os.environ, "SERVICE_JWT_SECRET": service_secret},
        cwd=Path(__file__).resolve().parents[1],
    )
    if done.returncode != 0:
        raise RuntimeError(f"the gRPC load exited {done.returncode}:\n{done.stderr[-2000:]}")
    return parse_output(done.stdout)


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.grpcload --target HOST:PORT --wasteland ID …`` (the service
    secret comes from ``SERVICE_JWT_SECRET``)."""
    parser = argparse.ArgumentParser(prog="benchmarks.grpcload", description=__doc__)
    parser.add_argument("--target", required=True, help="board-sync host:port")
    parser.add_argument("--wasteland", required=True)
    parser.add_argument("--tokens", type=Path, help="file of user JWTs, one a line")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--method", choices=METHODS, default="browse")
    args = parser.parse_args(argv)
    tokens = []
    if args.tokens is not None:
        tokens = [t for t in args.tokens.read_text(encoding="utf-8").splitlines() if t]
    result = asyncio.run(
        _load(
            args.target,
            args.wasteland,
            os.environ["SERVICE_JWT_SECRET"],
            tokens,
            args.connections,
            args.duration,
            args.method,
        )
    )
    print(MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
