"""Least privilege, proven: the executor's ServiceAccount (a TokenRequest token bound by
the Role from ``charts/hosted-wasteland/files/executor-role-rules.yaml``) does its job and
is refused everything else with 403.

The other Kubernetes tests already run the runtime and the leader election as this
ServiceAccount; here it does its whole job once more, then tries what it must not.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from devstack import workspace
from devstack.cluster import Cluster
from devstack.kubelet import KubeletStandIn
from lightkube import AsyncClient
from wl_executor.leader import LEASE_NAME, LeaderElector
from wl_executor.runtime_kubernetes import KubernetesRuntime

from tests.support import kube

from .conftest import UPSTREAM

pytestmark = pytest.mark.kubernetes

WID = "feedfacefeedfacefeedfacefeedface"


def test_the_role_has_no_wildcards_secrets_exec_or_deletes() -> None:
    rules = workspace.executor_role_rules()
    assert rules
    granted = [
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    ]
    assert all("*" not in part for entry in granted for part in entry)
    resources = {resource for _, resource, _ in granted}
    assert resources.isdisjoint(
        {
            "secrets",
            "pods/exec",
            "pods/attach",
            "pods/log",
            "pods/portforward",
            "serviceaccounts/token",
        }
    )
    verbs = {verb for _, _, verb in granted}
    assert verbs <= {"get", "list", "watch", "create", "patch", "update"}
    assert all(not rule.get("nonResourceURLs") for rule in rules)


@pytest.fixture
def executor_token(kube_cluster: Cluster, kube_namespace: str) -> str:
    with kube.admin_client(kube_cluster) as admin:
        return workspace.service_account_token(admin, kube_namespace, seconds=600)


@pytest.fixture
def other_namespace(kube_cluster: Cluster) -> Iterator[str]:
    with kube.fresh_namespace(kube_cluster) as name:
        yield name


async def test_the_executor_can_do_its_job(
    runtime: KubernetesRuntime,
    kubelet: KubeletStandIn,
    executor_client: AsyncClient,
    kube_namespace: str,
) -> None:
    endpoint = await runtime.ensure_running(WID, UPSTREAM)
    assert (await runtime.observe())[WID].ready == endpoint
    await runtime.stop(WID)
    assert await runtime.observe() == {}
    elector = LeaderElector(executor_client, kube_namespace, "rbac-test")
    assert await elector._try_acquire_or_renew()  # create
    assert await elector._try_acquire_or_renew()  # get + update
    await elector._release()


def _status(reply: httpx.Response) -> int:
    return reply.status_code


def test_everything_else_is_forbidden(
    kube_cluster: Cluster, kube_namespace: str, other_namespace: str, executor_token: str
) -> None:
    ns, other = kube_namespace, other_namespace
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p-" + uuid.uuid4().hex[:6]},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": pod["spec"]},
        },
    }
    with kube_cluster.http(executor_token) as api:
        # Sanity: the token is valid and works where the Role allows it.
        assert _status(api.get(f"/apis/apps/v1/namespaces/{ns}/deployments")) == 200
        forbidden = {
            "list secrets": api.get(f"/api/v1/namespaces/{ns}/secrets"),
            "read the workload secret": api.get(
                f"/api/v1/namespaces/{ns}/secrets/{workspace.WORKLOAD}"
            ),
            "create a secret": api.post(
                f"/api/v1/namespaces/{ns}/secrets",
                json={"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}},
            ),
            "create a pod directly": api.post(f"/api/v1/namespaces/{ns}/pods", json=pod),
            "exec into a pod": api.post(f"/api/v1/namespaces/{ns}/pods/anything/exec"),
            "read pod logs": api.get(f"/api/v1/namespaces/{ns}/pods/anything/log"),
            "delete deployments": api.delete(f"/apis/apps/v1/namespaces/{ns}/deployments/d"),
            "get a deployment by name": api.get(f"/apis/apps/v1/namespaces/{ns}/deployments/d"),
            "mint service-account tokens": api.post(
                f"/api/v1/namespaces/{ns}/serviceaccounts/{workspace.EXECUTOR}/token",
                json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest"},
            ),
            "change its own Role": api.get(
                f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles"
            ),
            "update another lease": api.put(
                f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/not-{LEASE_NAME}",
                json={"apiVersion": "coordination.k8s.io/v1", "kind": "Lease"},
            ),
            "list deployments elsewhere": api.get(f"/apis/apps/v1/namespaces/{other}/deployments"),
            "create a deployment elsewhere": api.post(
                f"/apis/apps/v1/namespaces/{other}/deployments", json=deployment
            ),
            "list pods elsewhere": api.get(f"/api/v1/namespaces/{other}/pods"),
            "list pods in every namespace": api.get("/api/v1/pods"),
            "list nodes": api.get("/api/v1/nodes"),
            "list namespaces": api.get("/api/v1/namespaces"),
            "create a namespace": api.post(
                "/api/v1/namespaces",
                json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}},
            ),
            "read cluster roles": api.get("/apis/rbac.authorization.k8s.io/v1/clusterroles"),
        }
    assert {what: _status(reply) for what, reply in forbidden.items()} == {
        what: 403 for what in forbidden
    }
