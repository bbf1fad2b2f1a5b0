"""The Kubernetes runtime against a real control plane, as the executor's ServiceAccount.

The kubelet stand-in runs each Ready pod's process (the stub control server) on loopback,
so a wake really ends with a control server answering through the Service's route.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from devstack.kubelet import KubeletStandIn
from lightkube import ApiError, AsyncClient, Client, codecs
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod, Service
from wasteland_common import errors
from wl_executor import manifests
from wl_executor.runtime_kubernetes import KubernetesRuntime

from .conftest import UPSTREAM, make_runtime, template
from .waiting import eventually

pytestmark = pytest.mark.kubernetes

WID = "0123456789abcdef0123456789abcdef"


def pods_of(admin: Client, namespace: str, wasteland_id: str) -> list[Pod]:
    return list(
        admin.list(Pod, namespace=namespace, labels={manifests.WASTELAND_ID_LABEL: wasteland_id})
    )


def replicas(admin: Client, namespace: str, wasteland_id: str) -> int | None:
    deployment = admin.get(Deployment, manifests.workload_name(wasteland_id), namespace=namespace)
    assert deployment.spec is not None
    return deployment.spec.replicas


async def test_wake_applies_a_restricted_workload_that_answers(
    runtime: KubernetesRuntime,
    kubelet: KubeletStandIn,
    admin: Client,
    kube_namespace: str,
    tmp_path: Path,
) -> None:
    endpoint = await runtime.ensure_running(WID, UPSTREAM)

    name = manifests.workload_name(WID)
    deployment = admin.get(Deployment, name, namespace=kube_namespace)
    service = admin.get(Service, name, namespace=kube_namespace)
    for obj in (deployment, service):
        assert obj.metadata is not None
        assert obj.metadata.labels == manifests.labels(WID)
        # Server-side apply by the one field manager; only controllers' status besides.
        fields = obj.metadata.managedFields or []
        assert {m.manager for m in fields if m.operation == "Apply"} == {manifests.FIELD_MANAGER}
        assert all(m.subresource == "status" for m in fields if m.operation != "Apply")
    assert deployment.spec is not None
    assert deployment.spec.replicas == 1

    # The pod exists in a namespace enforcing `restricted`: admission accepted it.
    (pod,) = pods_of(admin, kube_namespace, WID)
    assert pod.metadata is not None
    assert pod.spec is not None
    assert endpoint.instance_id == f"{pod.metadata.uid}.0"
    assert pod.spec.automountServiceAccountToken is False
    assert pod.spec.enableServiceLinks is False
    assert pod.spec.serviceAccountName == "wasteland-workload"
    (container,) = pod.spec.containers
    assert container.securityContext is not None
    assert container.securityContext.readOnlyRootFilesystem is True
    assert container.readinessProbe is not None
    assert container.readinessProbe.grpc is not None
    assert container.resources is not None
    assert container.resources.limits is not None
    assert "memory" in container.resources.limits

    # The control server the stand-in started from the pod's own spec got the Secret's
    # service secret and its wasteland, never through the Deployment itself.
    env_file = tmp_path / "kubelet" / "pods" / f"{kube_namespace}_{pod.metadata.name}"
    env = json.loads((env_file / "volumes" / "work" / "env.json").read_text())
    assert env["WASTELAND_ID"] == WID
    assert env["UPSTREAM"] == UPSTREAM
    assert env["SERVICE_JWT_SECRET"].startswith("service-secret-for-kubernetes-tests")
    assert "service-secret" not in json.dumps(deployment.to_dict())

    observed = await runtime.observe()
    assert list(observed) == [WID]
    assert observed[WID].ready == endpoint


def pod_of_template(namespace: str, name: str, spec: dict[str, Any]) -> Any:
    return codecs.from_dict(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
    )


async def test_the_namespace_really_enforces_restricted(admin: Client, kube_namespace: str) -> None:
    """Control: a pod breaking `restricted` is refused here, so the runtime's pods being
    admitted means something; the runtime's pod template passes on its own too."""
    bad = pod_of_template(kube_namespace, "loose", {"containers": [{"name": "c", "image": "x"}]})
    with pytest.raises(ApiError) as refused:
        admin.create(bad, dry_run=True)
    assert refused.value.status.code == 403
    assert "PodSecurity" in (refused.value.status.message or "")

    deployment = manifests.deployment(
        template(kube_namespace), WID, UPSTREAM, replicas=1, now=datetime.now(UTC)
    )
    assert deployment.spec is not None
    assert deployment.spec.template.spec is not None
    ours = pod_of_template(kube_namespace, "ours", deployment.spec.template.spec.to_dict())
    admin.create(ours, dry_run=True)


async def test_sleep_scales_to_zero_and_a_wake_starts_a_new_instance(
    runtime: KubernetesRuntime, kubelet: KubeletStandIn, admin: Client, kube_namespace: str
) -> None:
    first = await runtime.ensure_running(WID, UPSTREAM)
    await runtime.stop(WID)
    assert replicas(admin, kube_namespace, WID) == 0
    assert await runtime.observe() == {}
    await eventually("the pod to go", lambda: not pods_of(admin, kube_namespace, WID))

    second = await runtime.ensure_running(WID, UPSTREAM)
    assert replicas(admin, kube_namespace, WID) == 1
    assert second.instance_id != first.instance_id


async def test_a_running_workload_is_returned_without_a_new_apply(
    runtime: KubernetesRuntime, kubelet: KubeletStandIn, admin: Client, kube_namespace: str
) -> None:
    first = await runtime.ensure_running(WID, UPSTREAM)
    generation = admin.get(
        Deployment, manifests.workload_name(WID), namespace=kube_namespace
    ).metadata
    assert generation is not None
    again = await runtime.ensure_running(WID, UPSTREAM)
    after = admin.get(Deployment, manifests.workload_name(WID), namespace=kube_namespace).metadata
    assert after is not None
    assert again == first
    assert after.resourceVersion == generation.resourceVersion


async def test_a_wake_over_its_bound_fails_unavailable_with_retry_after(
    executor_client: AsyncClient, kube_namespace: str, routes_file: Path
) -> None:
    # No kubelet stand-in: the pod goes Ready (kwok) but nothing ever answers.
    runtime = make_runtime(executor_client, kube_namespace, routes_file, start_timeout=2)
    with pytest.raises(errors.Unavailable) as failed:
        await runtime.ensure_running(WID, UPSTREAM)
    assert failed.value.retry_after
    assert "in time" in failed.value.message
    # What it started stays for the reconcile loop to adopt or put back to sleep.
    (workload,) = (await runtime.observe()).values()
    assert workload.ready is None
    assert workload.unready_since is not None


async def test_hand_made_labelled_deployments_are_found_and_stopped(
    runtime: KubernetesRuntime, kubelet: KubeletStandIn, admin: Client, kube_namespace: str
) -> None:
    made = manifests.deployment(
        template(kube_namespace), WID, UPSTREAM, replicas=1, now=datetime.now(UTC)
    )
    assert made.metadata is not None
    made.metadata.name = "by-hand"
    admin.create(made)
    service = manifests.service(template(kube_namespace), WID)
    admin.create(service)

    async def found() -> bool:
        workload = (await runtime.observe()).get(WID)
        return workload is not None and workload.ready is not None

    await eventually("the hand-made workload to be observed ready", found)
    await runtime.stop(WID)
    hand = admin.get(Deployment, "by-hand", namespace=kube_namespace)
    assert hand.spec is not None
    assert hand.spec.replicas == 0
    assert await runtime.observe() == {}


def test_ids_that_cannot_name_objects_are_refused() -> None:
    with pytest.raises(errors.InvalidArgument):
        manifests.workload_name("Upper_Case")
