"""Bootstrap of the control server: settings, logging, `wl` probe, gRPC server.

Runs inside one wasteland's workload. GRPC_PORT defaults to 0 (a free port); the
"control-server listening on HOST:PORT" line tells the executor where it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

import grpc
from pydantic import Field
from wasteland.v1 import control_pb2, control_pb2_grpc
from wasteland_common import dolthub, grpc_server, logs, telemetry
from wasteland_common.auth import Authenticator
from wasteland_common.settings import CommonSettings

from . import rigs
from .info import Info, probe_wl_version
from .operations import Deps, Operations
from .servicer import ControlServicer
from .wl import DEFAULT_OUTPUT_LIMIT, WlRunner

log = logging.getLogger(__name__)

SERVICE = "control-server"
# A spare started ahead of any wake (the local runtime keeps one warm): it imports and
# configures everything, then waits for the one line on stdin that names its wasteland.
STANDBY_ENV = "CONTROL_SERVER_STANDBY"
ASSIGNABLE = frozenset({"WASTELAND_ID", "UPSTREAM", "WORK_DIR"})


class ControlSettings(CommonSettings):
    """Settings of the control server (environment variables in UPPER_CASE)."""

    wl_binary: str = Field(default="wl", alias="WL_BINARY")
    wl_timeout_seconds: float = Field(default=120.0, gt=0, alias="WL_TIMEOUT_SECONDS")
    wl_join_timeout_seconds: float = Field(default=600.0, gt=0, alias="WL_JOIN_TIMEOUT_SECONDS")
    wl_output_limit_bytes: int = Field(
        default=DEFAULT_OUTPUT_LIMIT, ge=4096, alias="WL_OUTPUT_LIMIT_BYTES"
    )
    # Per-rig `wl` config directories; ephemeral like the pod's disk. Empty = a fresh
    # temporary directory removed at shutdown.
    work_dir: str = Field(default="", alias="WORK_DIR")
    wasteland_id: str = Field(default="", alias="WASTELAND_ID")
    # "owner/db" this workload serves; empty = whatever each request names.
    upstream: str = Field(default="", alias="UPSTREAM")
    # How long one action keeps retrying `wl` after transient DoltHub failures.
    action_retry_budget_seconds: float = Field(
        default=60.0, ge=0, alias="ACTION_RETRY_BUDGET_SECONDS"
    )


def resolve_binary(binary: str) -> str:
    """``binary`` as an absolute path when it is found on PATH, else unchanged."""
    if "/" in binary:
        return binary
    return shutil.which(binary) or binary


async def build_and_start(
    settings: ControlSettings,
) -> tuple[grpc_server.RunningServer, Callable[[], Awaitable[None]]]:
    """Start the server; returns it and the cleanup to await after it stopped."""
    if settings.upstream:
        rigs.parse_commons(settings.upstream, "UPSTREAM")
    temp_dir: str | None = None
    if settings.work_dir:
        work_dir = Path(settings.work_dir)
        work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # noqa: ASYNC240 - startup
    else:
        temp_dir = tempfile.mkdtemp(prefix="wl-control-")
        work_dir = Path(temp_dir)
    runner = WlRunner(
        resolve_binary(settings.wl_binary),
        dolthub_api_url=settings.dolthub_api_url,
        output_limit=settings.wl_output_limit_bytes,
    )
    info = Info(wl_version=await probe_wl_version(runner), work_dir=work_dir)
    client = dolthub.DoltHubClient(settings.dolthub_api_url)
    ops = Operations(
        Deps(
            runner=runner,
            dolthub=client,
            work_dir=work_dir,
            wl_timeout=settings.wl_timeout_seconds,
            join_timeout=settings.wl_join_timeout_seconds,
            retry_budget=settings.action_retry_budget_seconds,
        )
    )
    servicer = ControlServicer(
        auth=Authenticator(
            user_secret=settings.kilo_jwt_secret.get_secret_value(),
            audience=settings.kilo_jwt_audience,
            service_secret=settings.service_jwt_secret.get_secret_value(),
        ),
        ops=ops,
        info=info,
        served_upstream=settings.upstream,
        wasteland_id=settings.wasteland_id,
    )

    def register(server: grpc.aio.Server) -> None:
        control_pb2_grpc.add_ControlServiceServicer_to_server(servicer, server)

    running = await grpc_server.start(
        register=register,
        service_names=[control_pb2.DESCRIPTOR.services_by_name["ControlService"].full_name],
        host=settings.grpc_host,
        port=settings.grpc_port,
    )
    log.info(
        "wl %s at %s; instance %s; work dir %s",
        info.wl_version or "(unavailable)",
        runner.binary,
        info.instance_id,
        work_dir,
    )

    async def cleanup() -> None:
        await client.aclose()
        if temp_dir is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(temp_dir)

    return running, cleanup


async def _serve(settings: ControlSettings) -> None:
    running, cleanup = await build_and_start(settings)
    try:
        await grpc_server.serve_forever(
            running,
            name=SERVICE,
            host=settings.grpc_host,
            grace=settings.shutdown_grace_seconds,
            metrics_port=settings.metrics_port,
            metrics_host=settings.metrics_host,
        )
    finally:
        await cleanup()


def await_assignment(stream: TextIO) -> bool:
    """A spare's wait for its wasteland: one JSON object of settings (only
    ``ASSIGNABLE`` ones, string values) applied to the environment. False when the
    stream ended first (the executor went away or no longer needs the spare)."""
    line = stream.readline()
    if not line.strip():
        return False
    try:
        assigned = json.loads(line)
    except ValueError:
        raise SystemExit("control-server: the standby assignment is not JSON") from None
    if not isinstance(assigned, dict) or not all(
        key in ASSIGNABLE and isinstance(value, str) for key, value in assigned.items()
    ):
        raise SystemExit("control-server: the standby assignment names unknown settings")
    os.environ.update(assigned)
    os.environ.pop(STANDBY_ENV, None)
    if work_dir := assigned.get("WORK_DIR"):
        with contextlib.suppress(OSError):
            os.chdir(work_dir)
    return True


def main() -> None:
    """Console entry point ``wl-control-server``."""
    settings = ControlSettings()
    logs.configure(SERVICE, settings.log_level, settings.log_format)
    telemetry.configure(SERVICE, settings)
    if os.environ.get(STANDBY_ENV) == "1":
        if not await_assignment(sys.stdin):
            return
        settings = ControlSettings()
    if settings.wasteland_id:
        logs.wasteland_id_var.set(settings.wasteland_id)
    asyncio.run(_serve(settings))


if __name__ == "__main__":
    main()
