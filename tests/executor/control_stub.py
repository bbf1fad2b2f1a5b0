"""A stand-in control server process for the local-runtime tests.

Serves ControlService and gRPC health on GRPC_HOST:GRPC_PORT (0 = any free port), prints
the readiness line the executor waits for, writes the environment it was given to
``$WORK_DIR/env.json`` and exits on SIGTERM. ``--mode`` picks a misbehaviour:
``silent`` never reports ready, ``exit`` dies at once, ``stubborn`` ignores SIGTERM,
``chatty`` writes far more output than a pipe buffer holds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from wasteland.v1 import common_pb2, control_pb2, control_pb2_grpc
from wasteland_common.grpc_server import SERVER_OPTIONS

STARTED = time.monotonic()
INSTANCE = uuid.uuid4().hex


class Control(control_pb2_grpc.ControlServiceServicer):  # type: ignore[misc]
    async def RunOperation(self, request: Any, context: Any) -> Any:
        return control_pb2.RunOperationResponse(
            result=common_pb2.OperationResult(
                operation_id=request.operation_id,
                status=common_pb2.OPERATION_STATUS_SUCCEEDED,
                kind=request.kind,
                wanted_id=request.wanted_id,
            )
        )

    async def GetInfo(self, request: Any, context: Any) -> Any:
        return control_pb2.GetInfoResponse(
            wl_version="stub-1",
            instance_id=INSTANCE,
            uptime_seconds=int(time.monotonic() - STARTED),
        )


async def serve(mode: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if mode != "stubborn":
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    server = grpc.aio.server(options=SERVER_OPTIONS)
    control_pb2_grpc.add_ControlServiceServicer_to_server(Control(), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    host = os.environ.get("GRPC_HOST", "127.0.0.1")
    port = server.add_insecure_port(f"{host}:{os.environ.get('GRPC_PORT', '0')}")
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    print(f"control-server listening on {host}:{port}", flush=True)  # noqa: T201
    if mode == "chatty":
        for _ in range(4096):
            sys.stderr.write("x" * 255 + "\n")
            sys.stdout.write("y" * 255 + "\n")
        sys.stderr.flush()
        sys.stdout.flush()
    await stop.wait()
    await server.stop(0.5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="normal")
    mode = parser.parse_args().mode
    work_dir = Path(os.environ["WORK_DIR"])
    (work_dir / "env.json").write_text(json.dumps(dict(os.environ)))
    (work_dir / "pid").write_text(str(os.getpid()))
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if mode == "exit":
        sys.exit(3)
    if mode == "silent":
        print("starting, but never ready", flush=True)  # noqa: T201
        time.sleep(3600)
        return
    asyncio.run(serve(mode))


if __name__ == "__main__":
    main()
