"""Executor process: settings, wiring, the gRPC server, the reconcile loop, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import Field
from wasteland.v1 import executor_pb2_grpc
from wasteland_common import db, grpc_server, logs, telemetry
from wasteland_common.activity import GrpcActivity
from wasteland_common.auth import Authenticator
from wasteland_common.grpc_client import Channels, ServiceCredentials
from wasteland_common.settings import CommonSettings

from . import reconcile, store
from .clients import Peers
from .deps import ExecutorDeps, Limits
from .runtime import Runtime
from .runtime_kubernetes import KubernetesRuntime
from .runtime_local import LocalRuntime, LocalRuntimeConfig, split_command
from .servicer import SERVICE_NAME, ExecutorServicer

log = logging.getLogger(__name__)


class ExecutorSettings(CommonSettings):
    """The executor's settings (environment variables named by each alias)."""

    database_url: str = Field(default="sqlite+pysqlite:///.run/executor.db", alias="DATABASE_URL")
    migrate_on_start: bool = Field(default=True, alias="MIGRATE_ON_START")
    grpc_port: int = Field(default=7403, ge=0, le=65535, alias="GRPC_PORT")
    runtime: Literal["local", "kubernetes"] = Field(default="local", alias="RUNTIME")
    sleep_after_seconds: float = Field(default=1800.0, gt=0, alias="SLEEP_AFTER_SECONDS")
    max_instances: int = Field(default=200, ge=1, alias="MAX_INSTANCES")
    wait_budget_seconds: float = Field(default=20.0, ge=0, le=300, alias="WAIT_BUDGET_SECONDS")
    reconcile_interval_seconds: float = Field(
        default=15.0, gt=0, alias="RECONCILE_INTERVAL_SECONDS"
    )
    operation_timeout_seconds: float = Field(default=660.0, gt=0, alias="OPERATION_TIMEOUT_SECONDS")
    # argv of the control server (shell-like quoting, never run through a shell).
    control_server_command: str = Field(
        default="wl-control-server", min_length=1, alias="CONTROL_SERVER_COMMAND"
    )
    control_server_start_timeout_seconds: float = Field(
        default=60.0, gt=0, alias="CONTROL_SERVER_START_TIMEOUT_SECONDS"
    )
    control_server_stop_grace_seconds: float = Field(
        default=10.0, ge=0, alias="CONTROL_SERVER_STOP_GRACE_SECONDS"
    )
    # Passed to the control servers, which run it.
    wl_binary: str = Field(default="wl", alias="WL_BINARY")
    work_dir: Path = Field(default=Path(".run/executor"), alias="WORK_DIR")
    call_timeout_seconds: float = Field(default=10.0, gt=0, alias="CALL_TIMEOUT_SECONDS")
    board_refresh_timeout_seconds: float = Field(
        default=15.0, gt=0, alias="BOARD_REFRESH_TIMEOUT_SECONDS"
    )
    wake_wait_seconds: float = Field(default=5.0, ge=0, alias="WAKE_WAIT_SECONDS")
    # Handed to the control servers: how long one action retries `wl` after transient
    # DoltHub failures.
    action_retry_budget_seconds: float = Field(
        default=60.0, ge=0, alias="ACTION_RETRY_BUDGET_SECONDS"
    )


def resolve_command(argv: tuple[str, ...]) -> tuple[str, ...]:
    """``argv`` with a bare program name found on PATH or, failing that, next to our own
    interpreter (the virtualenv's bin directory, where ``wl-control-server`` lives)."""
    program = argv[0]
    if "/" in program or shutil.which(program):
        return argv
    sibling = Path(sys.executable).parent / program
    return (str(sibling), *argv[1:]) if sibling.exists() else argv


def make_runtime(settings: ExecutorSettings) -> Runtime:
    """The runtime ``settings.runtime`` names."""
    if settings.runtime == "kubernetes":
        log.warning("RUNTIME=kubernetes is not implemented yet; actions will be refused")
        return KubernetesRuntime()
    return LocalRuntime(
        LocalRuntimeConfig(
            command=resolve_command(split_command(settings.control_server_command)),
            work_dir=settings.work_dir,
            wl_binary=settings.wl_binary,
            dolthub_api_url=settings.dolthub_api_url,
            service_jwt_secret=settings.service_jwt_secret.get_secret_value(),
            log_level=settings.log_level,
            log_format=settings.log_format,
            host="127.0.0.1",
            start_timeout=settings.control_server_start_timeout_seconds,
            stop_grace=settings.control_server_stop_grace_seconds,
            extra_env={
                **telemetry.TraceExport.from_settings(settings).environment(),
                "ACTION_RETRY_BUDGET_SECONDS": str(settings.action_retry_budget_seconds),
            },
        )
    )


async def build_and_start(
    settings: ExecutorSettings,
    *,
    runtime: Runtime | None = None,
    clock: Callable[[], datetime] | None = None,
) -> tuple[grpc_server.RunningServer, Callable[[], Awaitable[None]]]:
    """Start the executor in this event loop; returns the server and a cleanup that
    stops the reconcile loop, lets in-flight operations finish (within the shutdown
    grace), stops every workload and closes connections. Call ``running.stop`` first."""
    logs.register_secret(settings.service_jwt_secret.get_secret_value())
    logs.register_secret(settings.kilo_jwt_secret.get_secret_value())
    engine = db.make_engine(settings.database_url)
    if settings.migrate_on_start:
        await asyncio.to_thread(store.migrate_schema, engine)
    sessions = db.session_factory(engine)
    runtime = runtime or make_runtime(settings)
    channels = Channels()
    identity = ServiceCredentials("executor", settings.service_jwt_secret.get_secret_value())
    peers = Peers(
        channels=channels,
        credentials=identity,
        registry_addr=settings.registry_addr,
        board_addr=settings.board_addr,
        call_timeout=settings.call_timeout_seconds,
        board_refresh_timeout=settings.board_refresh_timeout_seconds,
    )
    deps = ExecutorDeps(
        sessions=sessions,
        runtime=runtime,
        peers=peers,
        limits=Limits(
            sleep_after_seconds=settings.sleep_after_seconds,
            max_instances=settings.max_instances,
            wait_budget_seconds=settings.wait_budget_seconds,
            operation_timeout_seconds=settings.operation_timeout_seconds,
            wake_wait_seconds=settings.wake_wait_seconds,
        ),
    )
    recorder = GrpcActivity(channels, settings.board_addr, identity, service="executor")
    deps.activity = recorder
    if clock is not None:
        deps.clock = clock
    if settings.runtime == "local":
        recovered = await db.run_in_session(
            sessions, reconcile.recover_after_restart, now=deps.clock()
        )
        if recovered.runtimes_put_to_sleep or recovered.operations_failed:
            log.info(
                "recovered after restart: %d workloads now sleeping, %d operations failed",
                len(recovered.runtimes_put_to_sleep),
                len(recovered.operations_failed),
            )
    authenticator = Authenticator(
        user_secret=settings.kilo_jwt_secret.get_secret_value(),
        audience=settings.kilo_jwt_audience,
        service_secret=settings.service_jwt_secret.get_secret_value(),
    )
    servicer = ExecutorServicer(deps, authenticator)
    running = await grpc_server.start(
        register=lambda server: executor_pb2_grpc.add_ExecutorServiceServicer_to_server(
            servicer, server
        ),
        service_names=[SERVICE_NAME],
        host=settings.grpc_host,
        port=settings.grpc_port,
    )
    stop_loop = asyncio.Event()
    loop_task = asyncio.create_task(
        reconcile.run_loop(deps, interval=settings.reconcile_interval_seconds, stop=stop_loop)
    )

    async def cleanup() -> None:
        stop_loop.set()
        try:
            await asyncio.wait_for(loop_task, timeout=settings.shutdown_grace_seconds + 5)
        except TimeoutError:
            log.warning("the reconcile pass did not finish in time; cancelled")
        in_flight = list(deps.operation_tasks.values())
        if in_flight:
            log.info("waiting for %d operations to finish", len(in_flight))
            _, late = await asyncio.wait(in_flight, timeout=settings.shutdown_grace_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for task in list(deps.background):
            task.cancel()
        await asyncio.gather(*deps.background, return_exceptions=True)
        if settings.runtime == "local":
            await reconcile.sleep_all(deps)
            # Operations cut short above: record an honest "outcome unknown".
            await db.run_in_session(sessions, reconcile.recover_after_restart, now=deps.clock())
        else:
            await runtime.shutdown()
        await recorder.close()
        await peers.close()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(engine.dispose)

    return running, cleanup


async def _serve(settings: ExecutorSettings) -> None:
    running, cleanup = await build_and_start(settings)
    await grpc_server.serve_forever(
        running,
        name="executor",
        host=settings.grpc_host,
        grace=settings.shutdown_grace_seconds,
        metrics_port=settings.metrics_port,
        metrics_host=settings.metrics_host,
        on_stop=cleanup,
    )


def main() -> None:
    """Console script ``wl-executor``."""
    settings = ExecutorSettings()
    logs.configure("executor", settings.log_level, settings.log_format)
    telemetry.configure("executor", settings)
    asyncio.run(_serve(settings))


if __name__ == "__main__":
    main()
