"""The Kubernetes objects of one wasteland's workload: a Deployment held at 0 or 1
replicas and a Service in front of it.

Plain functions from a :class:`WorkloadTemplate` (built once from settings) and a wasteland
id to lightkube objects, so the shape is tested without a cluster; the runtime applies them
with server-side apply. The pod spec meets the ``restricted`` Pod Security level: the
workload runs `wl` on behalf of whoever acts in the wasteland, so it is treated as a
hostile tenant (no API token, no service links, no privileges, read-only root).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lightkube.models.apps_v1 import DeploymentSpec, DeploymentStrategy
from lightkube.models.core_v1 import (
    Capabilities,
    Container,
    ContainerPort,
    EmptyDirVolumeSource,
    EnvVar,
    EnvVarSource,
    GRPCAction,
    PodSecurityContext,
    PodSpec,
    PodTemplateSpec,
    Probe,
    ResourceRequirements,
    SeccompProfile,
    SecretKeySelector,
    SecurityContext,
    ServicePort,
    ServiceSpec,
    Volume,
    VolumeMount,
)
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Service
from wasteland_common import errors

WASTELAND_ID_LABEL = "hosted-wasteland.io/wasteland-id"
UPSTREAM_ANNOTATION = "hosted-wasteland.io/upstream"
AWAKE_SINCE_ANNOTATION = "hosted-wasteland.io/awake-since"
APP_NAME = "wasteland-control-server"
COMPONENT = "wasteland-workload"
PART_OF = "hosted-wasteland"
MANAGED_BY = "wl-executor"
# The one field manager of every object the executor writes (server-side apply).
FIELD_MANAGER = "hosted-wasteland-executor"
CONTAINER = "control-server"
PORT_NAME = "grpc"
# The control-server image runs as this user (its Dockerfile's `USER 10001:10001`); a
# numeric id lets the API server check runAsNonRoot without the image.
RUN_AS = 10001
WORK_DIR = "/work"
TMP_DIR = "/tmp"  # noqa: S108 - a private emptyDir inside the pod, not the host's /tmp
SECRET_KEY = "SERVICE_JWT_SECRET"  # noqa: S105 - the key's name, not a secret

# Label values: at most 63 characters, alphanumerics with '-', '_' or '.' inside. Object
# names are "wl-<id>" and must be DNS-1035 labels (Services), so the id must be one too.
_NAMEABLE_ID = re.compile(r"^[a-z0-9]([-a-z0-9]{0,58}[a-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


@dataclass(frozen=True)
class Resources:
    """Requests and limits of the control-server container (Kubernetes quantities)."""

    cpu_request: str = "50m"
    memory_request: str = "128Mi"
    cpu_limit: str = "1"
    memory_limit: str = "512Mi"
    ephemeral_storage_limit: str = "1Gi"

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not _QUANTITY.fullmatch(value):
                raise ValueError(f"{name}: not a Kubernetes quantity: {value!r}")


@dataclass(frozen=True)
class WorkloadTemplate:
    """Everything about a workload that comes from settings, not from the wasteland."""

    namespace: str
    image: str
    command: tuple[str, ...] = ("wl-control-server",)
    image_pull_policy: str = "IfNotPresent"
    service_account: str = "wasteland-workload"
    secret_name: str = "wasteland-workload"  # noqa: S105 - a Secret object's name
    port: int = 7400
    resources: Resources = field(default_factory=Resources)
    wl_binary: str = "wl"
    dolthub_api_url: str = ""
    log_level: str = "INFO"
    log_format: str = "json"
    stop_grace_seconds: int = 10
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.command:
            raise ValueError("the workload command is empty")
        if self.image_pull_policy not in ("Always", "IfNotPresent", "Never"):
            raise ValueError(f"not an image pull policy: {self.image_pull_policy!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"not a port: {self.port}")


def check_wasteland_id(wasteland_id: str) -> str:
    """``wasteland_id`` when it can name Kubernetes objects, else INVALID_ARGUMENT.

    The registry's ids (32 lowercase hex digits) always can.
    """
    if not _NAMEABLE_ID.fullmatch(wasteland_id):
        raise errors.invalid(
            "wasteland_id", "must be 1-60 lowercase letters, digits or '-' on Kubernetes"
        )
    return wasteland_id


def workload_name(wasteland_id: str) -> str:
    """The name of the wasteland's Deployment and Service."""
    return "wl-" + check_wasteland_id(wasteland_id)


def labels(wasteland_id: str) -> dict[str, str]:
    """The labels of every object (and pod) of the wasteland's workload."""
    return {
        WASTELAND_ID_LABEL: wasteland_id,
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": workload_name(wasteland_id),
        "app.kubernetes.io/component": COMPONENT,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def selector(wasteland_id: str) -> dict[str, str]:
    """The pod selector of the Deployment and Service (immutable once created)."""
    return {WASTELAND_ID_LABEL: wasteland_id, "app.kubernetes.io/name": APP_NAME}


def service_host(template: WorkloadTemplate, wasteland_id: str, cluster_domain: str) -> str:
    """The DNS name the executor reaches the workload's Service by."""
    return f"{workload_name(wasteland_id)}.{template.namespace}.svc.{cluster_domain}"


def awake_since(now: datetime) -> str:
    """The annotation value recording when a wake asked for a replica."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _env(template: WorkloadTemplate, wasteland_id: str, upstream: str) -> list[EnvVar]:
    plain = {
        **template.extra_env,
        "GRPC_HOST": "0.0.0.0",
        "GRPC_PORT": str(template.port),
        "WASTELAND_ID": wasteland_id,
        "UPSTREAM": upstream,
        "WL_BINARY": template.wl_binary,
        "DOLTHUB_API_URL": template.dolthub_api_url,
        "WORK_DIR": WORK_DIR,
        "HOME": WORK_DIR,
        "TMPDIR": TMP_DIR,
        "LOG_LEVEL": template.log_level,
        "LOG_FORMAT": template.log_format,
    }
    env = [EnvVar(name=k, value=v) for k, v in sorted(plain.items())]
    # The service secret the control server checks the executor's calls with: a Secret
    # reference, so the Deployment (which the executor can read) never holds it.
    env.append(
        EnvVar(
            name=SECRET_KEY,
            valueFrom=EnvVarSource(
                secretKeyRef=SecretKeySelector(name=template.secret_name, key=SECRET_KEY)
            ),
        )
    )
    return env


def _pod(template: WorkloadTemplate, wasteland_id: str, upstream: str) -> PodTemplateSpec:
    probe_port = template.port
    res = template.resources
    container = Container(
        name=CONTAINER,
        image=template.image,
        imagePullPolicy=template.image_pull_policy,
        command=list(template.command),
        ports=[ContainerPort(name=PORT_NAME, containerPort=template.port, protocol="TCP")],
        env=_env(template, wasteland_id, upstream),
        resources=ResourceRequirements(
            requests={"cpu": res.cpu_request, "memory": res.memory_request},
            limits={
                "cpu": res.cpu_limit,
                "memory": res.memory_limit,
                "ephemeral-storage": res.ephemeral_storage_limit,
            },
        ),
        securityContext=SecurityContext(
            allowPrivilegeEscalation=False,
            readOnlyRootFilesystem=True,
            runAsNonRoot=True,
            capabilities=Capabilities(drop=["ALL"]),
        ),
        volumeMounts=[
            VolumeMount(name="work", mountPath=WORK_DIR),
            VolumeMount(name="tmp", mountPath=TMP_DIR),
        ],
        readinessProbe=Probe(
            grpc=GRPCAction(port=probe_port),
            periodSeconds=2,
            timeoutSeconds=2,
            failureThreshold=2,
        ),
        livenessProbe=Probe(
            grpc=GRPCAction(port=probe_port),
            initialDelaySeconds=10,
            periodSeconds=10,
            timeoutSeconds=5,
            failureThreshold=3,
        ),
    )
    return PodTemplateSpec(
        metadata=ObjectMeta(labels=labels(wasteland_id)),
        spec=PodSpec(
            serviceAccountName=template.service_account,
            automountServiceAccountToken=False,
            enableServiceLinks=False,
            terminationGracePeriodSeconds=template.stop_grace_seconds,
            securityContext=PodSecurityContext(
                runAsNonRoot=True,
                runAsUser=RUN_AS,
                runAsGroup=RUN_AS,
                fsGroup=RUN_AS,
                seccompProfile=SeccompProfile(type="RuntimeDefault"),
            ),
            containers=[container],
            volumes=[
                Volume(name="work", emptyDir=EmptyDirVolumeSource(sizeLimit="1Gi")),
                Volume(name="tmp", emptyDir=EmptyDirVolumeSource(sizeLimit="64Mi")),
            ],
        ),
    )


def deployment(
    template: WorkloadTemplate,
    wasteland_id: str,
    upstream: str,
    *,
    replicas: int,
    now: datetime,
) -> Deployment:
    """The wasteland's Deployment at ``replicas`` (0 or 1), as the executor applies it.

    ``Recreate``: one control server per wasteland at any time, never two running `wl`
    mutations side by side during a rollout.
    """
    if replicas not in (0, 1):
        raise ValueError("a workload runs 0 or 1 replicas")
    name = workload_name(wasteland_id)
    annotations = {UPSTREAM_ANNOTATION: upstream}
    if replicas:
        annotations[AWAKE_SINCE_ANNOTATION] = awake_since(now)
    return Deployment(
        metadata=ObjectMeta(
            name=name,
            namespace=template.namespace,
            labels=labels(wasteland_id),
            annotations=annotations,
        ),
        spec=DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector(matchLabels=selector(wasteland_id)),
            strategy=DeploymentStrategy(type="Recreate"),
            revisionHistoryLimit=2,
            template=_pod(template, wasteland_id, upstream),
        ),
    )


def service(template: WorkloadTemplate, wasteland_id: str) -> Service:
    """The ClusterIP Service the executor reaches the control server through."""
    return Service(
        metadata=ObjectMeta(
            name=workload_name(wasteland_id),
            namespace=template.namespace,
            labels=labels(wasteland_id),
        ),
        spec=ServiceSpec(
            type="ClusterIP",
            selector=selector(wasteland_id),
            ports=[
                ServicePort(
                    name=PORT_NAME,
                    port=template.port,
                    targetPort=PORT_NAME,
                    protocol="TCP",
                    appProtocol="kubernetes.io/h2c",
                )
            ],
        ),
    )
