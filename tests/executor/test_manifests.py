"""The shape of a wasteland's Kubernetes objects (no cluster: the API server's own checks
of the same objects are in tests/kubernetes/)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wasteland_common import errors
from wl_executor import manifests
from wl_executor.leader import LeaseState, decide, micro_time

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WID = "0123456789abcdef0123456789abcdef"
TEMPLATE = manifests.WorkloadTemplate(namespace="workloads", image="img:1", secret_name="wl-sec")


def test_deployment_is_one_replica_of_a_restricted_pod() -> None:
    deployment = manifests.deployment(TEMPLATE, WID, "hop/wl-commons", replicas=1, now=NOW)
    assert deployment.metadata is not None
    assert deployment.metadata.name == f"wl-{WID}"
    assert deployment.metadata.namespace == "workloads"
    assert deployment.metadata.labels == manifests.labels(WID)
    assert deployment.metadata.annotations == {
        manifests.UPSTREAM_ANNOTATION: "hop/wl-commons",
        manifests.AWAKE_SINCE_ANNOTATION: "2026-11-30T12:00:00Z",
    }
    spec = deployment.spec
    assert spec is not None
    assert spec.replicas == 1
    assert spec.strategy is not None
    assert spec.strategy.type == "Recreate"
    assert spec.selector.matchLabels == manifests.selector(WID)
    pod = spec.template.spec
    assert pod is not None
    assert spec.template.metadata is not None
    assert spec.template.metadata.labels == manifests.labels(WID)
    assert pod.automountServiceAccountToken is False
    assert pod.enableServiceLinks is False
    assert pod.serviceAccountName == "wasteland-workload"
    assert pod.securityContext is not None
    assert pod.securityContext.runAsNonRoot is True
    assert pod.securityContext.seccompProfile is not None
    assert pod.securityContext.seccompProfile.type == "RuntimeDefault"
    (container,) = pod.containers
    security = container.securityContext
    assert security is not None
    assert security.allowPrivilegeEscalation is False
    assert security.readOnlyRootFilesystem is True
    assert security.capabilities is not None
    assert security.capabilities.drop == ["ALL"]
    assert {m.mountPath for m in container.volumeMounts or ()} == {"/work", "/tmp"}
    assert {v.name for v in pod.volumes or () if v.emptyDir is not None} == {"work", "tmp"}
    assert container.readinessProbe is not None
    assert container.readinessProbe.grpc is not None
    assert container.readinessProbe.grpc.port == 7400
    assert container.livenessProbe is not None
    assert container.resources is not None
    assert container.resources.requests == {"cpu": "50m", "memory": "128Mi"}
    env = {e.name: e for e in container.env or ()}
    assert env["WASTELAND_ID"].value == WID
    assert env["WORK_DIR"].value == "/work"
    assert env["GRPC_PORT"].value == "7400"
    secret = env["SERVICE_JWT_SECRET"]
    assert secret.value is None
    assert secret.valueFrom is not None
    assert secret.valueFrom.secretKeyRef is not None
    assert secret.valueFrom.secretKeyRef.name == "wl-sec"


def test_a_sleeping_deployment_has_no_awake_since() -> None:
    deployment = manifests.deployment(TEMPLATE, WID, "hop/wl-commons", replicas=0, now=NOW)
    assert deployment.spec is not None
    assert deployment.spec.replicas == 0
    assert deployment.metadata is not None
    assert manifests.AWAKE_SINCE_ANNOTATION not in (deployment.metadata.annotations or {})
    with pytest.raises(ValueError, match="0 or 1"):
        manifests.deployment(TEMPLATE, WID, "hop/wl-commons", replicas=2, now=NOW)


def test_service_selects_the_pods_by_port_name() -> None:
    service = manifests.service(TEMPLATE, WID)
    assert service.spec is not None
    assert service.spec.selector == manifests.selector(WID)
    (port,) = service.spec.ports or []
    assert (port.port, port.targetPort) == (7400, "grpc")
    assert manifests.service_host(TEMPLATE, WID, "cluster.local") == (
        f"wl-{WID}.workloads.svc.cluster.local"
    )


@given(st.from_regex(r"[a-z0-9]([-a-z0-9]{0,58}[a-z0-9])?", fullmatch=True))
def test_nameable_ids_make_valid_names_and_label_values(wasteland_id: str) -> None:
    name = manifests.workload_name(wasteland_id)
    assert len(name) <= 63
    assert manifests.labels(wasteland_id)[manifests.WASTELAND_ID_LABEL] == wasteland_id


@pytest.mark.parametrize("bad", ["", "Upper", "under_score", "-lead", "trail-", "x" * 61])
def test_ids_that_cannot_name_objects_are_refused(bad: str) -> None:
    with pytest.raises(errors.InvalidArgument):
        manifests.workload_name(bad)


def test_resources_must_be_quantities() -> None:
    with pytest.raises(ValueError, match="memory_limit"):
        manifests.Resources(memory_limit="lots")


def lease(holder: str, duration: int = 15) -> LeaseState:
    return LeaseState(
        holder=holder,
        duration_seconds=duration,
        transitions=0,
        resource_version="1",
        acquire_time=None,
    )


def test_lease_decisions() -> None:
    assert decide(None, "me", observed_at=0, now=0) == "create"
    assert decide(lease("me"), "me", observed_at=0, now=100) == "renew"
    assert decide(lease(""), "me", observed_at=0, now=0) == "take"
    assert decide(lease("other"), "me", observed_at=100, now=114.9) == "wait"
    assert decide(lease("other"), "me", observed_at=100, now=115) == "take"


def test_micro_times_always_carry_a_fraction() -> None:
    assert micro_time(NOW).microsecond == 1
    later = NOW.replace(microsecond=5)
    assert micro_time(later) == later
