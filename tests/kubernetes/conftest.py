"""Fixtures for tests against the throwaway control plane: the executor's own API client
(its ServiceAccount's TokenRequest token, so every test also proves the Role suffices),
an admin client, the kubelet stand-in in this event loop, and the Kubernetes runtime."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from devstack import cluster, workspace
from devstack.cluster import Cluster
from devstack.kubelet import KubeletStandIn
from lightkube import AsyncClient, Client
from lightkube.config.kubeconfig import KubeConfig
from wl_executor import manifests
from wl_executor.runtime_kubernetes import (
    KubernetesRuntime,
    KubernetesRuntimeConfig,
    ServiceRoutes,
)

from tests.support import kube

STUB = Path(__file__).parents[1] / "executor" / "control_stub.py"
UPSTREAM = "hop/wl-commons"


def executor_kubeconfig(running: Cluster, namespace: str, directory: Path) -> Path:
    """A kubeconfig for the ``wasteland-executor`` ServiceAccount of ``namespace``."""
    with kube.admin_client(running) as admin:
        token = workspace.service_account_token(admin, namespace, seconds=3600)
    path = directory / "executor.kubeconfig"
    path.write_text(cluster.kubeconfig_yaml(running.server, running.ca_file, token))
    return path


@pytest.fixture
def admin(kube_cluster: Cluster) -> Iterator[Client]:
    with kube.admin_client(kube_cluster) as client:
        yield client


@pytest.fixture
def executor_config(kube_cluster: Cluster, kube_namespace: str, tmp_path: Path) -> Path:
    return executor_kubeconfig(kube_cluster, kube_namespace, tmp_path)


@pytest.fixture
async def executor_client(executor_config: Path) -> AsyncIterator[AsyncClient]:
    client = AsyncClient(
        config=KubeConfig.from_file(executor_config), field_manager=manifests.FIELD_MANAGER
    )
    yield client
    await client.close()


@pytest.fixture
def routes_file(tmp_path: Path) -> Path:
    return tmp_path / "kubelet" / "routes.json"


@pytest.fixture
async def kubelet(
    kube_cluster: Cluster, kube_namespace: str, tmp_path: Path, routes_file: Path
) -> AsyncIterator[KubeletStandIn]:
    """The kubelet stand-in, running each Ready pod of the test namespace."""
    client = AsyncClient(config=KubeConfig.from_file(kube_cluster.kubeconfig))
    standin = KubeletStandIn(
        client,
        [kube_namespace],
        path=f"{Path(sys.executable).parent}:/usr/bin:/bin",
        state_dir=tmp_path / "kubelet",
        routes_file=routes_file,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(standin.run(stop))
    yield standin
    stop.set()
    await task
    await client.close()


def template(namespace: str, **overrides: object) -> manifests.WorkloadTemplate:
    """The workload template the tests use: the stub control server as the command."""
    fields: dict[str, object] = {
        "namespace": namespace,
        "image": "hosted-wasteland/control-server:test",
        "image_pull_policy": "Never",
        "command": (sys.executable, str(STUB)),
        "dolthub_api_url": "http://127.0.0.1:9/api/v1alpha1",
        "stop_grace_seconds": 2,
        **overrides,
    }
    return manifests.WorkloadTemplate(**fields)  # type: ignore[arg-type]


def make_runtime(
    client: AsyncClient,
    namespace: str,
    routes_file: Path,
    *,
    start_timeout: float = 60.0,
) -> KubernetesRuntime:
    return KubernetesRuntime(
        client,
        KubernetesRuntimeConfig(
            template=template(namespace),
            start_timeout=start_timeout,
            routes=ServiceRoutes(routes_file),
        ),
    )


@pytest.fixture
def runtime(
    executor_client: AsyncClient, kube_namespace: str, routes_file: Path
) -> KubernetesRuntime:
    """The Kubernetes runtime as the executor's ServiceAccount."""
    return make_runtime(executor_client, kube_namespace, routes_file)
