"""Executor process: settings, wiring, the gRPC server, the reconcile loop, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Literal

from lightkube import AsyncClient
from pydantic import Field
from wasteland.v1 import executor_pb2_grpc
from wasteland_common import db, grpc_server, logs, telemetry
from wasteland_common.activity import GrpcActivity
from wasteland_common.auth import Authenticator
from wasteland_common.grpc_client import Channels, ServiceCredentials
from wasteland_common.settings import CommonSettings

from . import manifests, reconcile, store
from .clients import Peers
from .deps import ExecutorDeps, Limits
from .leader import LeaderElector
from .runtime import Runtime
from .runtime_kubernetes import (
    KubernetesRuntime,
    KubernetesRuntimeConfig,
    ServiceRoutes,
    connect,
)
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
    # Local runtime: keep one control server started ahead of the next wake.
    control_server_spare: bool = Field(default=True, alias="CONTROL_SERVER_SPARE")
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
    # Names this replica in the reconcile loop's leader lease.
    replica_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}",
        min_length=1,
        max_length=128,
        alias="REPLICA_ID",
    )
    # --- RUNTIME=kubernetes ---
    # The API server and credentials; unset = the pod's own service account (in-cluster).
    kubeconfig: Path | None = Field(default=None, alias="KUBECONFIG")
    workload_namespace: str = Field(
        default="wasteland-workloads", min_length=1, max_length=63, alias="WORKLOAD_NAMESPACE"
    )
    workload_image: str = Field(
        default="hosted-wasteland/control-server:0.1.0", min_length=1, alias="WORKLOAD_IMAGE"
    )
    workload_image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="IfNotPresent", alias="WORKLOAD_IMAGE_PULL_POLICY"
    )
    workload_port: int = Field(default=7400, gt=0, le=65535, alias="WORKLOAD_PORT")
    workload_service_account: str = Field(
        default="wasteland-workload", min_length=1, alias="WORKLOAD_SERVICE_ACCOUNT"
    )
    workload_secret_name: str = Field(
        default="wasteland-workload", min_length=1, alias="WORKLOAD_SECRET_NAME"
    )
    workload_cpu_request: str = Field(default="50m", alias="WORKLOAD_CPU_REQUEST")
    workload_memory_request: str = Field(default="128Mi", alias="WORKLOAD_MEMORY_REQUEST")
    workload_cpu_limit: str = Field(default="1", alias="WORKLOAD_CPU_LIMIT")
    workload_memory_limit: str = Field(default="512Mi", alias="WORKLOAD_MEMORY_LIMIT")
    workload_ephemeral_storage_limit: str = Field(
        default="1Gi", alias="WORKLOAD_EPHEMERAL_STORAGE_LIMIT"
    )
    cluster_domain: str = Field(default="cluster.local", min_length=1, alias="CLUSTER_DOMAIN")
    # Development and tests only: the routes file of devstack's kubelet stand-in.
    dev_service_routes_file: Path | None = Field(default=None, alias="DEV_SERVICE_ROUTES_FILE")


def resolve_command(argv: tuple[str, ...]) -> tuple[str, ...]:
    """``argv`` with a bare program name found on PATH or, failing that, next to our own
    interpreter (the virtualenv's bin directory, where ``wl-control-server`` lives)."""
    program = argv[0]
    if "/" in program or shutil.which(program):
        return argv
    sibling = Path(sys.executable).parent / program
    return (str(sibling), *argv[1:]) if sibling.exists() else argv


def workload_environment(settings: ExecutorSettings) -> dict[str, str]:
    """Settings every control server inherits from its executor, whatever the runtime."""
    return {
        **telemetry.TraceExport.from_settings(settings).environment(),
        "ACTION_RETRY_BUDGET_SECONDS": str(settings.action_retry_budget_seconds),
    }


def workload_template(settings: ExecutorSettings) -> manifests.WorkloadTemplate:
    """The per-wasteland Deployment's settings-driven parts."""
    return manifests.WorkloadTemplate(
        namespace=settings.workload_namespace,
        image=settings.workload_image,
        image_pull_policy=settings.workload_image_pull_policy,
        command=split_command(settings.control_server_command),
        service_account=settings.workload_service_account,
        secret_name=settings.workload_secret_name,
        port=settings.workload_port,
        resources=manifests.Resources(
            cpu_request=settings.workload_cpu_request,
            memory_request=settings.workload_memory_request,
            cpu_limit=settings.workload_cpu_limit,
            memory_limit=settings.workload_memory_limit,
            ephemeral_storage_limit=settings.workload_ephemeral_storage_limit,
        ),
        wl_binary=settings.wl_binary,
        dolthub_api_url=settings.dolthub_api_url,
        log_level=settings.log_level,
        log_format=settings.log_format,
        stop_grace_seconds=round(settings.control_server_stop_grace_seconds),
        extra_env=workload_environment(settings),
    )


def make_runtime(settings: ExecutorSettings, client: AsyncClient | None = None) -> Runtime:
    """The runtime ``settings.runtime`` names (Kubernetes through ``client``)."""
    if settings.runtime == "kubernetes":
        routes = settings.dev_service_routes_file
        if routes is not None:
            log.warning("DEV_SERVICE_ROUTES_FILE is set: reaching workloads through %s", routes)
        return KubernetesRuntime(
            client or connect(settings.kubeconfig),
            KubernetesRuntimeConfig(
                template=workload_template(settings),
                cluster_domain=settings.cluster_domain,
                start_timeout=settings.control_server_start_timeout_seconds,
                routes=ServiceRoutes(routes) if routes is not None else None,
            ),
        )
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
            extra_env=workload_environment(settings),
            spare=settings.control_server_spare,
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
    leader: LeaderElector | None = None
    if runtime is None:
        client = connect(settings.kubeconfig) if settings.runtime == "kubernetes" else None
        runtime = make_runtime(settings, client)
        if client is not None:
            leader = LeaderElector(client, settings.workload_namespace, settings.replica_id)
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
            start_timeout_seconds=settings.control_server_start_timeout_seconds,
        ),
    )
    recorder = GrpcActivity(channels, settings.board_addr, identity, service="executor")
    deps.activity = recorder
    if clock is not None:
        deps.clock = clock
    if not runtime.outlives_executor:
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
        reconcile.run_loop(
            deps, interval=settings.reconcile_interval_seconds, stop=stop_loop, leader=leader
        )
    )
    leader_task = asyncio.create_task(leader.run(stop_loop)) if leader is not None else None

    async def cleanup() -> None:
        stop_loop.set()
        try:
            await asyncio.wait_for(loop_task, timeout=settings.shutdown_grace_seconds + 5)
        except TimeoutError:
            log.warning("the reconcile pass did not finish in time; cancelled")
        if leader_task is not None:
            await leader_task  # releases the lease: another replica takes over at once
        in_flight = dict(deps.operation_tasks)
        late: set[asyncio.Task[object]] = set()
        if in_flight:
            log.info("waiting for %d operations to finish", len(in_flight))
            _, late = await asyncio.wait(
                in_flight.values(), timeout=settings.shutdown_grace_seconds
            )
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for task in list(deps.background):
            task.cancel()
        await asyncio.gather(*deps.background, return_exceptions=True)
        assert runtime is not None
        if not runtime.outlives_executor:
            await reconcile.sleep_all(deps)
            # Operations cut short above: record an honest "outcome unknown".
            await db.run_in_session(sessions, reconcile.recover_after_restart, now=deps.clock())
        else:
            # Workloads stay up for the next executor; only this process's operations
            # that were cut short lost their outcome.
            cut_short = [op_id for op_id, task in in_flight.items() if task in late]
            if cut_short:
                await db.run_in_session(
                    sessions, reconcile.fail_operations, cut_short, now=deps.clock()
                )
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
