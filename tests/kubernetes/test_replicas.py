"""Two executor replicas on one cluster and one database: both serve, one runs the
reconcile loop, and when it stops the other takes the loop over within one lease
duration."""

from __future__ import annotations

import shlex
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from devstack.kubelet import KubeletStandIn
from lightkube import ApiError, Client
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.coordination_v1 import Lease
from wasteland_common import grpc_server
from wl_executor import manifests
from wl_executor.leader import LEASE_NAME, Timings
from wl_executor.server import ExecutorSettings, build_and_start

from .conftest import STUB, UPSTREAM, template
from .waiting import eventually

pytestmark = pytest.mark.kubernetes

WID = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e"
Started = tuple[grpc_server.RunningServer, Callable[[], Awaitable[None]]]


def holder(admin: Client, namespace: str) -> str | None:
    try:
        lease = admin.get(Lease, LEASE_NAME, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise
    return lease.spec.holderIdentity if lease.spec else None


def replicas(admin: Client, namespace: str, name: str) -> int | None:
    deployment = admin.get(Deployment, name, namespace=namespace)
    return deployment.spec.replicas if deployment.spec else None


@pytest.fixture
def settings_for(
    executor_config: Path, kube_namespace: str, routes_file: Path, tmp_path: Path
) -> Callable[[str], ExecutorSettings]:
    def make(replica: str) -> ExecutorSettings:
        env = {
            "RUNTIME": "kubernetes",
            "REPLICA_ID": replica,
            "KUBECONFIG": str(executor_config),
            "WORKLOAD_NAMESPACE": kube_namespace,
            "DEV_SERVICE_ROUTES_FILE": str(routes_file),
            "CONTROL_SERVER_COMMAND": shlex.join([sys.executable, str(STUB)]),
            "DATABASE_URL": f"sqlite+pysqlite:///{tmp_path / 'executor.db'}",
            "GRPC_PORT": "0",
            "SLEEP_AFTER_SECONDS": "1",
            "RECONCILE_INTERVAL_SECONDS": "0.5",
            "SHUTDOWN_GRACE_SECONDS": "1",
        }
        return ExecutorSettings.model_validate(env)

    return make


@pytest.fixture
async def replicas_started(
    settings_for: Callable[[str], ExecutorSettings],
) -> AsyncIterator[dict[str, Started]]:
    started: dict[str, Started] = {}
    yield started
    for running, cleanup in started.values():
        await running.stop(0)
        await cleanup()


async def test_the_second_replica_takes_over_the_reconcile_loop(
    settings_for: Callable[[str], ExecutorSettings],
    replicas_started: dict[str, Started],
    kubelet: KubeletStandIn,
    admin: Client,
    kube_namespace: str,
) -> None:
    replicas_started["a"] = await build_and_start(settings_for("replica-a"))
    await eventually("replica-a to lead", lambda: holder(admin, kube_namespace) == "replica-a")
    replicas_started["b"] = await build_and_start(settings_for("replica-b"))

    # Replica a stops (a rollout, a scale-down): it releases the lease on the way out.
    running, cleanup = replicas_started.pop("a")
    await running.stop(0)
    await cleanup()
    await eventually(
        "replica-b to lead",
        lambda: holder(admin, kube_namespace) == "replica-b",
        timeout=Timings().duration,
    )

    # Replica b's loop now runs: a workload awake with nobody using it is adopted and,
    # idle, put to sleep.
    made = manifests.deployment(
        template(kube_namespace), WID, UPSTREAM, replicas=1, now=datetime.now(UTC)
    )
    admin.create(manifests.service(template(kube_namespace), WID))
    admin.create(made)
    name = manifests.workload_name(WID)
    await eventually(
        "replica-b's reconcile loop to put the idle workload to sleep",
        lambda: replicas(admin, kube_namespace, name) == 0,
    )
