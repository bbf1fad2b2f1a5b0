"""The chart on a fresh throwaway control plane, installed with the one values file an
operator writes (``examples/minimal-values.yaml``): every Deployment Available, every pod
admitted under Pod Security ``restricted``, the executor's ServiceAccount allowed exactly
its Role, each NetworkPolicy selecting the pods docs/operations.md names; then
``helm upgrade`` with changed values and ``helm uninstall`` leaving nothing behind.

The tests of this module run in order against one release. kwok's simulated node marks
pods Running/Ready without running them, so this proves what the API server, the
controllers and admission make of the chart, not the services' own behaviour (tests/e2e,
make images).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from devstack import cluster, workspace
from devstack.cluster import Cluster
from lightkube import ApiError, Client
from lightkube.config.kubeconfig import KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment, ReplicaSet
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import (
    ConfigMap,
    Namespace,
    Pod,
    Secret,
    Service,
    ServiceAccount,
)
from lightkube.resources.networking_v1 import NetworkPolicy
from lightkube.resources.policy_v1 import PodDisruptionBudget
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding
from wl_executor import manifests
from wl_executor.server import ExecutorSettings, workload_template

from tests.support import kube

from .conftest import MINIMAL_VALUES, Helm

pytestmark = [pytest.mark.kubernetes, pytest.mark.chart]

RELEASE = "hw"
FULLNAME = f"{RELEASE}-hosted-wasteland"
COMPONENTS = ("gateway", "registry", "board-sync", "executor")
REPLICAS = 2  # values.yaml: every service
WASTELAND_ID = "c0ffeec0ffeec0ffeec0ffeec0ffee00"
T = TypeVar("T")


def eventually(what: str, probe: Callable[[], T | None], timeout: float = 90.0) -> T:
    """The first truthy value of ``probe``; fails after ``timeout`` (which only bounds a
    broken run)."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}; last value: {last!r}")


@pytest.fixture(scope="module")
def admin(kube_cluster: Cluster) -> Iterator[Client]:
    with kube.admin_client(kube_cluster) as client:
        yield client


@pytest.fixture(scope="module")
def namespace(admin: Client) -> str:
    """The release namespace, enforcing ``restricted`` like the workload namespace, so the
    API server refuses any pod of the chart that level would not admit."""
    name = "hw-" + uuid.uuid4().hex[:8]
    admin.create(Namespace(metadata=ObjectMeta(name=name, labels=workspace.RESTRICTED)))
    return name


@pytest.fixture(scope="module")
def workloads(namespace: str) -> str:
    return f"{RELEASE}-workloads"


@pytest.fixture(scope="module")
def installed(helm: Helm, namespace: str) -> str:
    """``helm install --wait`` with the operator's values file; the release notes."""
    done = helm.run(
        "install", RELEASE, str(MINIMAL_VALUES.parents[1]), "-n", namespace,
        "-f", str(MINIMAL_VALUES), "--wait", "--timeout", "3m",
    )  # fmt: skip
    return done.stdout


def component(name: str) -> str:
    return name.removeprefix(f"{FULLNAME}-")


def available(deployment: Deployment) -> bool:
    status = deployment.status
    spec = deployment.spec
    if status is None or spec is None or deployment.metadata is None:
        return False
    rolled_out = (
        status.observedGeneration == deployment.metadata.generation
        and status.updatedReplicas == spec.replicas
        and status.readyReplicas == spec.replicas
        and status.replicas == spec.replicas
    )
    conditions = {c.type: c.status for c in status.conditions or []}
    return rolled_out and conditions.get("Available") == "True"


def release_deployments(admin: Client, namespace: str) -> dict[str, Deployment]:
    return {
        component(d.metadata.name): d
        for d in admin.list(Deployment, namespace=namespace)
        if d.metadata and d.metadata.name
    }


def env_of(deployment: Deployment) -> dict[str, str]:
    assert deployment.spec
    assert deployment.spec.template.spec
    (container,) = deployment.spec.template.spec.containers
    return {e.name: e.value for e in container.env or [] if e.value is not None}


def test_every_deployment_becomes_available(installed: str, admin: Client, namespace: str) -> None:
    deployments = release_deployments(admin, namespace)
    assert set(deployments) == set(COMPONENTS)
    assert all(available(d) for d in deployments.values()), deployments
    assert all(d.spec and d.spec.replicas == REPLICAS for d in deployments.values())
    # NOTES.txt tells how to reach the gateway.
    assert f"service/{FULLNAME}-gateway" in installed


def test_every_pod_is_admitted_under_restricted(
    installed: str, admin: Client, namespace: str, workloads: str
) -> None:
    for name in (namespace, workloads):
        labels = admin.get(Namespace, name).metadata.labels or {}  # type: ignore[union-attr]
        assert labels.get("pod-security.kubernetes.io/enforce") == "restricted", name
    pods = list(admin.list(Pod, namespace=namespace))
    assert len(pods) == REPLICAS * len(COMPONENTS)
    # Admission is real: a pod without the restricted securityContext is refused in both.
    for name in (namespace, workloads):
        plain = Pod.from_dict(
            {
                "metadata": {"name": "not-restricted", "namespace": name},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            }
        )
        with pytest.raises(ApiError) as refused:
            admin.create(plain, dry_run=True)
        assert refused.value.status.code == 403
        assert "violates PodSecurity" in str(refused.value.status.message)


def impersonating(running: Cluster, namespace: str, service_account: str) -> httpx.Client:
    """An admin HTTP client acting as ``service_account`` (kubectl --as)."""
    client = running.http()
    client.headers["Impersonate-User"] = f"system:serviceaccount:{namespace}:{service_account}"
    return client


def granted(running: Cluster, namespace: str, service_account: str, where: str) -> set[Any]:
    """What ``service_account`` may do in namespace ``where`` (SelfSubjectRulesReview),
    as (group, resource, verb, resource name) tuples."""
    with impersonating(running, namespace, service_account) as api:
        answer = api.post(
            "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
            json={
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectRulesReview",
                "spec": {"namespace": where},
            },
        )
    answer.raise_for_status()
    return expand(answer.json()["status"]["resourceRules"])


def expand(rules: list[dict[str, Any]]) -> set[tuple[str, str, str, str]]:
    return {
        (group, resource, verb, name)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule["verbs"]
        for name in rule.get("resourceNames") or ["*"]
    }


def allowed(
    running: Cluster, user: str, namespace: str, verb: str, resource: str, *, group: str = "",
    name: str = "", subresource: str = "",
) -> bool:  # fmt: skip
    """SubjectAccessReview, as the admin: may ``user`` do this?"""
    attributes = {"namespace": namespace, "verb": verb, "group": group, "resource": resource}
    if name:
        attributes["name"] = name
    if subresource:
        attributes["subresource"] = subresource
    with running.http() as api:
        answer = api.post(
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            json={
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {
                    "user": user,
                    "groups": ["system:serviceaccounts", "system:authenticated"],
                    "resourceAttributes": attributes,
                },
            },
        )
    answer.raise_for_status()
    return bool(answer.json()["status"].get("allowed"))


def test_the_executor_may_do_exactly_its_role(
    installed: str, kube_cluster: Cluster, namespace: str, workloads: str
) -> None:
    executor = f"{FULLNAME}-executor"
    role = expand(workspace.executor_role_rules())
    # What any authenticated ServiceAccount may do (discovery, self reviews) is the
    # baseline: the registry's ServiceAccount has no binding of the chart.
    baseline = granted(kube_cluster, namespace, f"{FULLNAME}-registry", workloads)
    assert granted(kube_cluster, namespace, executor, workloads) - baseline == role
    # Nothing at all in the release namespace, beyond the baseline.
    assert granted(kube_cluster, namespace, executor, namespace) == baseline
    for service in ("gateway", "board-sync"):
        assert granted(kube_cluster, namespace, f"{FULLNAME}-{service}", workloads) == baseline
    # The tenants' ServiceAccount is bound to nothing.
    tenant = f"{FULLNAME}-workload"
    assert granted(kube_cluster, workloads, tenant, workloads) == baseline

    user = f"system:serviceaccount:{namespace}:{executor}"
    for group, resource, verb, name in role:
        resource, _, subresource = resource.partition("/")
        assert allowed(
            kube_cluster, user, workloads, verb, resource, group=group,
            name="" if name == "*" else name, subresource=subresource,
        ), (group, resource, verb, name)  # fmt: skip
    refused = [
        ("delete", "pods", "", "", ""),
        ("get", "secrets", "", "", ""),
        ("list", "secrets", "", "", ""),
        ("create", "pods", "", "", ""),
        ("create", "pods", "", "x", "exec"),
        ("get", "pods", "", "x", "log"),
        ("update", "leases", "coordination.k8s.io", "someone-else", ""),
        ("create", "rolebindings", "rbac.authorization.k8s.io", "", ""),
    ]
    for verb, resource, group, name, subresource in refused:
        assert not allowed(
            kube_cluster, user, workloads, verb, resource, group=group, name=name,
            subresource=subresource,
        ), (verb, resource, subresource)  # fmt: skip
    assert not allowed(kube_cluster, user, namespace, "list", "deployments", group="apps")
    assert not allowed(kube_cluster, user, namespace, "delete", "deployments", group="apps")


@pytest.fixture(scope="module")
def workload_pod(
    installed: str,
    admin: Client,
    kube_cluster: Cluster,
    namespace: str,
    workloads: str,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch_module: pytest.MonkeyPatch,
) -> Pod:
    """A wasteland's control server, made as the executor makes it: its template read from
    the installed executor Deployment's environment, applied with the executor's own
    ServiceAccount token in the workload namespace."""
    executor = release_deployments(admin, namespace)["executor"]
    for name, value in env_of(executor).items():
        monkeypatch_module.setenv(name, value)
    template = workload_template(ExecutorSettings())
    assert template.namespace == workloads
    token = workspace.service_account_token(admin, namespace, f"{FULLNAME}-executor", seconds=600)
    config = tmp_path_factory.mktemp("executor") / "kubeconfig"
    config.write_text(cluster.kubeconfig_yaml(kube_cluster.server, kube_cluster.ca_file, token))
    with Client(
        config=KubeConfig.from_file(config), field_manager=manifests.FIELD_MANAGER
    ) as as_executor:
        as_executor.apply(manifests.service(template, WASTELAND_ID), force=True)
        as_executor.apply(
            manifests.deployment(
                template, WASTELAND_ID, "hop/wl-commons", replicas=1, now=datetime.now(UTC)
            ),
            force=True,
        )

    def ready_pod() -> Pod | None:
        for pod in admin.list(Pod, namespace=workloads, labels=manifests.selector(WASTELAND_ID)):
            conditions = {c.type: c.status for c in (pod.status and pod.status.conditions) or []}
            if conditions.get("Ready") == "True":
                return pod
        return None

    return eventually("the control server's pod to be Ready", ready_pod)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def selected(admin: Client, namespace: str, selector: dict[str, Any]) -> list[Pod]:
    labels = selector.get("matchLabels") or {}
    assert not selector.get("matchExpressions")
    return list(admin.list(Pod, namespace=namespace, labels=labels))


def components_of(pods: list[Pod]) -> set[str]:
    return {
        (pod.metadata.labels or {}).get("app.kubernetes.io/component", "?")  # type: ignore[union-attr]
        for pod in pods
    }


def test_the_control_server_is_admitted_and_each_network_policy_selects_the_documented_pods(
    workload_pod: Pod, admin: Client, namespace: str, workloads: str
) -> None:
    policies = {p.metadata.name: p for p in admin.list(NetworkPolicy, namespace=namespace)}  # type: ignore[union-attr]
    assert set(policies) == {f"{FULLNAME}-{c}" for c in COMPONENTS}
    callers = {  # docs/operations.md, "Network policies"
        "gateway": None,  # anyone
        "registry": {"gateway", "board-sync", "executor"},
        "board-sync": {"gateway", "registry", "executor"},
        "executor": {"gateway", "registry"},
    }
    for name, policy in policies.items():
        spec = policy.to_dict()["spec"]
        own = selected(admin, namespace, spec["podSelector"])
        assert components_of(own) == {component(name)}
        assert len(own) == REPLICAS
        assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
        service_rule = spec["ingress"][0]
        expected = callers[component(name)]
        if expected is None:
            assert "from" not in service_rule
        else:
            peers = [
                pod for peer in service_rule["from"]
                for pod in selected(admin, namespace, peer["podSelector"])
            ]  # fmt: skip
            assert components_of(peers) == expected, name

    (tenant_policy,) = admin.list(NetworkPolicy, namespace=workloads)
    spec = tenant_policy.to_dict()["spec"]
    tenants = selected(admin, workloads, spec["podSelector"])
    assert [p.metadata.name for p in tenants] == [workload_pod.metadata.name]  # type: ignore[union-attr]
    (rule,) = spec["ingress"]
    (peer,) = rule["from"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": namespace}
    assert components_of(selected(admin, namespace, peer["podSelector"])) == {"executor"}


def test_upgrade_with_changed_values(
    workload_pod: Pod, helm: Helm, admin: Client, namespace: str, tmp_path: Path
) -> None:
    changed = tmp_path / "changed.yaml"
    changed.write_text(
        yaml.safe_dump(
            {
                "gateway": {"replicas": 1},
                "executor": {"settings": {"SLEEP_AFTER_SECONDS": 600}},
                "settings": {"LOG_LEVEL": "DEBUG"},
                # The post-upgrade hook Job (kwok completes its pod): a failed hook would
                # fail the upgrade.
                "registry": {"rotateKeysJob": {"enabled": True}},
            }
        )
    )
    helm.run(
        "upgrade", RELEASE, str(MINIMAL_VALUES.parents[1]), "-n", namespace,
        "-f", str(MINIMAL_VALUES), "-f", str(changed), "--wait", "--timeout", "3m",
    )  # fmt: skip
    status = yaml.safe_load(helm.run("status", RELEASE, "-n", namespace, "-o", "yaml").stdout)
    assert status["version"] == 2
    assert status["info"]["status"] == "deployed"

    deployments = release_deployments(admin, namespace)
    assert all(available(d) for d in deployments.values())
    assert deployments["gateway"].spec.replicas == 1  # type: ignore[union-attr]
    assert env_of(deployments["executor"])["SLEEP_AFTER_SECONDS"] == "600"
    assert all(env_of(d)["LOG_LEVEL"] == "DEBUG" for d in deployments.values())
    # One gateway replica: its PodDisruptionBudget is gone, the others stay.
    budgets = {
        component(p.metadata.name) for p in admin.list(PodDisruptionBudget, namespace=namespace)
    }  # type: ignore[union-attr]
    assert budgets == {"registry", "board-sync", "executor"}

    def service_pods() -> list[Pod]:
        pods = list(admin.list(Pod, namespace=namespace))
        return [p for p in pods if components_of([p]) <= set(COMPONENTS)]

    eventually("the old gateway pods to go", lambda: len(service_pods()) == 1 + 3 * REPLICAS)


def leftovers(admin: Client, namespace: str) -> list[str]:
    """Everything in ``namespace`` but what Kubernetes itself puts in every namespace."""
    found = []
    kinds: tuple[Any, ...] = (
        Deployment, ReplicaSet, Pod, Service, ServiceAccount, Secret, ConfigMap, Role,
        RoleBinding, NetworkPolicy, PodDisruptionBudget, Job,
    )  # fmt: skip
    for kind in kinds:
        for obj in admin.list(kind, namespace=namespace):
            name = obj.metadata.name
            if (kind, name) in ((ServiceAccount, "default"), (ConfigMap, "kube-root-ca.crt")):
                continue
            found.append(f"{kind.__name__}/{name}")
    return found


def test_uninstall_leaves_nothing_behind(
    helm: Helm, admin: Client, namespace: str, workloads: str
) -> None:
    helm.run("uninstall", RELEASE, "-n", namespace, "--wait", "--timeout", "3m")
    assert helm.run("list", "-n", namespace, "-q").stdout.strip() == ""

    def workload_namespace_gone() -> bool:
        try:
            admin.get(Namespace, workloads)
        except ApiError as missing:
            return missing.status.code == 404
        return False

    # The workload namespace (and the control server made in it) goes with the release.
    eventually("the workload namespace to be deleted", workload_namespace_gone)
    eventually(
        "nothing of the release left in its namespace",
        lambda: not leftovers(admin, namespace) or None,
    )
    assert leftovers(admin, namespace) == []
