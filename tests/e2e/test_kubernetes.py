"""The whole system with RUNTIME=kubernetes, through the public API.

The same processes as ``make run-kubernetes``: sandbox, registry, board-sync, gateway, the
executor authenticated as its ServiceAccount against the throwaway control plane, and the
kubelet stand-in running the real control server for each Ready pod. One journey: a claim
on a sleeping wasteland wakes its Deployment 0 → 1, idle sleep takes it back to 0, a
deleted pod is noticed and replaced, and an executor restart loses track of nothing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from devstack import cluster, workspace
from devstack.cluster import Cluster
from devstack.stack import KubernetesTarget, Stack, StackConfig, running_stack
from lightkube import Client
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod
from wasteland_common import db
from wasteland_common.auth import mint_user_token
from wasteland_common.settings import DEV_JWT_SECRET, DEV_SERVICE_SECRET
from wl_executor import manifests, store

from tests.support import kube
from tests.support.ports import free_port
from tests.support.sandbox import ALICE_TOKEN

pytestmark = [pytest.mark.e2e, pytest.mark.kubernetes]

SLEEP_AFTER_SECONDS = 8


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll ``probe`` until it returns a truthy value; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}; last value: {last!r}")


@pytest.fixture(scope="module")
def namespace(kube_cluster: Cluster) -> Iterator[str]:
    # The stack's control servers check the executor's calls with the stack's secret.
    with kube.fresh_namespace(kube_cluster, DEV_SERVICE_SECRET) as name:
        yield name


@pytest.fixture(scope="module")
def stack(
    kube_cluster: Cluster, namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("run-k8s")
    with kube.admin_client(kube_cluster) as admin:
        token = workspace.service_account_token(admin, namespace, seconds=3600)
    executor_kubeconfig = data / "executor.kubeconfig"
    executor_kubeconfig.write_text(
        cluster.kubeconfig_yaml(kube_cluster.server, kube_cluster.ca_file, token)
    )
    cfg = StackConfig(
        data_dir=data,
        http_port=free_port(),
        sandbox_port=free_port(),
        registry_port=free_port(),
        board_port=free_port(),
        executor_port=free_port(),
        sleep_after_seconds=SLEEP_AFTER_SECONDS,
        executor_env={
            "RECONCILE_INTERVAL_SECONDS": "1",
            "METRICS_PORT": str(free_port()),
        },
        kubernetes=KubernetesTarget(
            executor_kubeconfig=executor_kubeconfig,
            admin_kubeconfig=kube_cluster.kubeconfig,
            namespace=namespace,
        ),
    )
    with running_stack(cfg) as running:
        yield running


@pytest.fixture
def admin(kube_cluster: Cluster) -> Iterator[Client]:
    with kube.admin_client(kube_cluster) as client:
        yield client


def auth(user: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_user_token(user, secret=DEV_JWT_SECRET)}


def test_claims_wake_sleep_recover_and_survive_an_executor_restart(
    stack: Stack, admin: Client, namespace: str
) -> None:
    engine = db.make_engine(stack.config.sqlite("executor"))
    sessions = db.session_factory(engine)
    api = httpx.Client(base_url=stack.gateway.url, timeout=90)
    alice = auth("alice")
    created = api.post(
        "/v1/wastelands",
        headers=alice,
        json={
            "name": "On Kubernetes",
            "owner": {"type": "user"},
            "visibility": "public",
            "upstream": "hop/wl-commons",
        },
    )
    assert created.status_code == 201, created.text
    wid = created.json()["wasteland_id"]
    name = manifests.workload_name(wid)
    connected = api.put(
        f"/v1/wastelands/{wid}/credential",
        headers=alice,
        json={"dolthub_token": ALICE_TOKEN, "dolthub_org": "alice"},
    )
    assert connected.status_code == 200, connected.text

    def open_items() -> list[str]:
        resp = api.get(f"/v1/wastelands/{wid}/wanted", headers=alice, params={"status": "open"})
        body = resp.json()
        return [i["wanted_id"] for i in body["items"]] if body.get("synced_at") else []

    items = wait_for("the first board sync", open_items)
    assert len(items) >= 3

    def runtime() -> dict[str, Any]:
        reply = api.get(f"/v1/wastelands/{wid}/runtime", headers=alice)
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    def runtime_once_up() -> dict[str, Any] | None:
        reply = api.get(f"/v1/wastelands/{wid}/runtime", headers=alice)
        return dict(reply.json()) if reply.status_code == 200 else None

    def instance() -> str | None:
        """The instance the executor has recorded (its database: the public API shows
        only when it started)."""
        with sessions.begin() as session:
            record = store.get_runtime(session, wid)
        return record.instance_id if record is not None else None

    def pod_uids() -> set[str]:
        pods = admin.list(Pod, namespace=namespace, labels={manifests.WASTELAND_ID_LABEL: wid})
        return {p.metadata.uid for p in pods if p.metadata is not None and p.metadata.uid}

    def replicas() -> int | None:
        deployment = admin.get(Deployment, name, namespace=namespace)
        return deployment.spec.replicas if deployment.spec else None

    def claim(item: str) -> dict[str, Any]:
        reply = api.post(
            f"/v1/wastelands/{wid}/wanted/{item}/claim",
            headers={**alice, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["status"] == "succeeded"
        return dict(reply.json())

    # Never woken: no workload yet, the runtime says sleeping.
    assert runtime()["state"] == "sleeping"

    # 1. A claim wakes it: the Deployment is created at 1 replica, the claim runs in the
    #    control server the stand-in started from the pod's spec.
    claim(items[0])
    assert replicas() == 1
    awake = runtime()
    assert awake["state"] == "running"
    first = instance()
    assert first is not None
    assert first.split(".")[0] in pod_uids()

    # 2. Idle sleep: back to 0 replicas, recorded as sleeping.
    wait_for("idle sleep", lambda: replicas() == 0 and runtime()["state"] == "sleeping")

    # 3. A claim on the sleeping wasteland: 0 → 1, and it succeeds.
    claim(items[1])
    assert replicas() == 1
    before = runtime()
    assert before["state"] == "running"
    assert before["started_at"] != awake["started_at"]
    second = instance()
    assert second != first

    # 4. Delete the pod: the executor notices the replacement the cluster makes, records
    #    it, and the next claim runs there.
    (pod,) = admin.list(Pod, namespace=namespace, labels={manifests.WASTELAND_ID_LABEL: wid})
    assert pod.metadata is not None
    assert pod.metadata.name is not None
    admin.delete(Pod, pod.metadata.name, namespace=namespace)
    third = wait_for(
        "the executor to record the replacement pod",
        lambda: (i := instance()) not in (None, second) and runtime()["state"] == "running" and i,
    )
    assert third.split(".")[0] in pod_uids()
    claim(items[2])

    # The cold starts were measured (a histogram on /metrics) and logged.
    port = stack.config.executor_env["METRICS_PORT"]
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    woke = 'wasteland_wake_duration_seconds_count{outcome="ok"} 2.0'
    assert woke in metrics
    assert "wasteland.woke" in Path(stack.config.log("executor")).read_text()

    # 5. Restart the executor: it finds the same workload, nothing woken again.
    stack.restart_executor()
    after = wait_for("the restarted executor", runtime_once_up)
    assert after["state"] == "running"
    assert instance() == third
    assert replicas() == 1
