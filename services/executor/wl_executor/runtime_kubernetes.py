"""Kubernetes runtime: per wasteland one Deployment held at 0 or 1 replicas and a Service.

Wake applies both objects (server-side apply, one field manager, replicas 1) and waits,
within a bound, for a Ready pod whose control server answers through the Service; sleep
scales the Deployment to 0 through its scale subresource. The cluster is the truth about
what is awake: :meth:`KubernetesRuntime.observe` lists every Deployment and pod carrying
the wasteland-id label, whoever created them, so an executor restart loses nothing and
hand-made or left-over workloads are found.

The executor reaches a control server by its Service's DNS name. The one exception is
:class:`ServiceRoutes`, for development and tests only (off unless
``DEV_SERVICE_ROUTES_FILE`` is set): there is no cluster network on a developer machine,
so devstack's kubelet stand-in runs each pod's process on loopback and writes where.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from lightkube import ApiError, AsyncClient
from lightkube.config.kubeconfig import KubeConfig
from lightkube.core.client import LabelSelector
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType
from pydantic import BaseModel, ConfigDict, ValidationError
from wasteland_common import errors

from . import manifests
from .runtime import Endpoint, Workload

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 10
HEALTH_POLL_SECONDS = 0.1


def connect(kubeconfig: Path | None) -> AsyncClient:
    """An API client from ``kubeconfig``, or from the pod's service account when None.

    Tokens from a file (the projected service-account token) are re-read when they
    rotate.
    """
    config = (
        KubeConfig.from_file(kubeconfig)
        if kubeconfig is not None
        else KubeConfig.from_service_account()
    )
    return AsyncClient(config=config, field_manager=manifests.FIELD_MANAGER)


class _Routes(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    routes: dict[str, str] = {}


class ServiceRoutes:
    """Development only: where the kubelet stand-in serves a Service on loopback.

    A JSON file ``{"routes": {"<service host>:<port>": "127.0.0.1:<port>"}}``, read on
    every lookup (it changes as pods come and go). A Service with no route is not
    reachable yet.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def lookup(self, host: str, port: int) -> tuple[str, int] | None:
        """The loopback address serving ``host:port`` now, or None."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            routes = _Routes.model_validate_json(raw).routes
        except ValidationError:
            log.warning("ignoring a malformed routes file %s", self.path)
            return None
        target = routes.get(f"{host}:{port}")
        if target is None:
            return None
        try:
            endpoint = Endpoint.parse(target, "")
        except ValueError:
            return None
        return endpoint.host, endpoint.port


@dataclass(frozen=True)
class KubernetesRuntimeConfig:
    """What the runtime needs besides its API client."""

    template: manifests.WorkloadTemplate
    cluster_domain: str = "cluster.local"
    start_timeout: float = 60.0
    health_timeout: float = 3.0
    routes: ServiceRoutes | None = None


def _ready(pod: Pod) -> bool:
    """Running, Ready and not on its way out."""
    meta, status = pod.metadata, pod.status
    if meta is None or status is None or meta.deletionTimestamp is not None:
        return False
    if status.phase != "Running":
        return False
    return any(c.type == "Ready" and c.status == "True" for c in status.conditions or ())


def _instance_id(pod: Pod) -> str:
    """Which boot of the control server this is: the pod, and its container restarts."""
    assert pod.metadata is not None
    statuses = (pod.status.containerStatuses or []) if pod.status is not None else []
    return f"{pod.metadata.uid}.{sum(s.restartCount for s in statuses)}"


def _unready_since(pod: Pod) -> datetime | None:
    """When a pod that does not answer started (re)starting: its Ready condition's last
    change, or its creation."""
    times: list[datetime] = []
    if pod.metadata is not None and pod.metadata.creationTimestamp is not None:
        times.append(pod.metadata.creationTimestamp)
    for condition in (pod.status.conditions or ()) if pod.status else ():
        if condition.type == "Ready" and condition.lastTransitionTime is not None:
            times.append(condition.lastTransitionTime)
    return max(times) if times else None


def _awake_since(deployment: Deployment) -> datetime | None:
    annotations = (deployment.metadata.annotations or {}) if deployment.metadata else {}
    value = annotations.get(manifests.AWAKE_SINCE_ANNOTATION)
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _selector(wasteland_id: str | None) -> LabelSelector:
    """Objects of one wasteland, or (None) of every wasteland."""
    return {manifests.WASTELAND_ID_LABEL: wasteland_id}


def _wasteland_of(labels: Mapping[str, str] | None) -> str | None:
    """The wasteland id an object is labelled with, when it is one we could manage."""
    value = (labels or {}).get(manifests.WASTELAND_ID_LABEL)
    if value is None:
        return None
    try:
        return manifests.check_wasteland_id(value)
    except errors.DomainError:
        return None


class KubernetesRuntime:
    """Drives per-wasteland Deployments and Services in one namespace."""

    name = "kubernetes"
    outlives_executor = True

    def __init__(
        self,
        client: AsyncClient,
        config: KubernetesRuntimeConfig,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._client = client
        self._cfg = config
        self._ns = config.template.namespace
        self._clock = clock or (lambda: datetime.now(UTC))

    # --- Runtime protocol ---------------------------------------------------------

    async def ensure_running(self, wasteland_id: str, upstream: str) -> Endpoint:
        """The Ready instance of the wasteland's workload, waking it when there is none.

        UNAVAILABLE (with a retry hint) when it is not Ready and answering within the
        start timeout; the Deployment stays at 1 replica and the reconcile loop adopts it
        if it becomes Ready later, or puts it back to sleep.
        """
        manifests.check_wasteland_id(wasteland_id)
        deadline = time.monotonic() + self._cfg.start_timeout
        try:
            async with asyncio.timeout(self._cfg.start_timeout):
                ready = [p for p in await self._pods(wasteland_id) if _ready(p)]
                if ready:
                    endpoint = self._endpoint(wasteland_id, ready[0])
                    if endpoint is not None:
                        return endpoint
                await self._apply(wasteland_id, upstream)
                pod = await self._wait_ready_pod(wasteland_id)
                return await self._wait_answering(wasteland_id, pod, deadline)
        except TimeoutError:
            log.warning("the workload of %s was not ready in time", wasteland_id)
            raise errors.Unavailable(
                "the wasteland's workload did not become ready in time",
                retry_after=RETRY_AFTER_SECONDS,
            ) from None
        except ApiError as exc:
            log.error("waking the workload of %s: %s", wasteland_id, exc.status.message)
            raise errors.Unavailable(
                "the wasteland's workload could not be started", retry_after=RETRY_AFTER_SECONDS
            ) from exc

    async def stop(self, wasteland_id: str) -> None:
        """Scale every Deployment labelled with ``wasteland_id`` to 0 replicas."""
        selector = _selector(manifests.check_wasteland_id(wasteland_id))
        async for deployment in self._client.list(Deployment, namespace=self._ns, labels=selector):
            assert deployment.metadata is not None
            assert deployment.metadata.name is not None
            if deployment.spec is not None and deployment.spec.replicas == 0:
                continue
            try:
                await self._client.patch(
                    Deployment.Scale,
                    deployment.metadata.name,
                    {"spec": {"replicas": 0}},
                    namespace=self._ns,
                    patch_type=PatchType.MERGE,
                    field_manager=manifests.FIELD_MANAGER,
                )
            except ApiError as exc:
                if exc.status.code != 404:
                    raise
            log.info("scaled %s to 0 replicas", deployment.metadata.name)

    async def observe(self) -> dict[str, Workload]:
        """Every labelled Deployment asking for a replica, with its Ready instance."""
        selector = _selector(None)
        deployments = [
            d async for d in self._client.list(Deployment, namespace=self._ns, labels=selector)
        ]
        pods = [p async for p in self._client.list(Pod, namespace=self._ns, labels=selector)]
        awake: dict[str, list[Deployment]] = {}
        for deployment in deployments:
            wasteland_id = _wasteland_of(
                deployment.metadata.labels if deployment.metadata else None
            )
            replicas = deployment.spec.replicas if deployment.spec else None
            if wasteland_id is not None and (replicas is None or replicas > 0):
                awake.setdefault(wasteland_id, []).append(deployment)
        by_wasteland: dict[str, list[Pod]] = {}
        for pod in pods:
            wasteland_id = _wasteland_of(pod.metadata.labels if pod.metadata else None)
            if wasteland_id in awake:
                by_wasteland.setdefault(wasteland_id, []).append(pod)
        return {
            wasteland_id: self._workload(wasteland_id, found, by_wasteland.get(wasteland_id, []))
            for wasteland_id, found in awake.items()
        }

    async def shutdown(self) -> None:
        """Workloads outlive the executor; only the API connections are closed."""
        await self._client.close()

    # --- internals ----------------------------------------------------------------

    def _workload(
        self, wasteland_id: str, deployments: Iterable[Deployment], pods: list[Pod]
    ) -> Workload:
        for pod in pods:
            if _ready(pod):
                endpoint = self._endpoint(wasteland_id, pod)
                if endpoint is not None:
                    return Workload(wasteland_id=wasteland_id, ready=endpoint)
        times = [t for t in (_awake_since(d) for d in deployments) if t is not None]
        times += [
            t
            for t in (
                _unready_since(p) for p in pods if p.metadata and not p.metadata.deletionTimestamp
            )
            if t is not None
        ]
        return Workload(
            wasteland_id=wasteland_id, ready=None, unready_since=max(times, default=None)
        )

    async def _pods(self, wasteland_id: str) -> list[Pod]:
        selector = _selector(wasteland_id)
        return [p async for p in self._client.list(Pod, namespace=self._ns, labels=selector)]

    async def _apply(self, wasteland_id: str, upstream: str) -> None:
        template = self._cfg.template
        await self._client.apply(manifests.service(template, wasteland_id), force=True)
        await self._client.apply(
            manifests.deployment(template, wasteland_id, upstream, replicas=1, now=self._clock()),
            force=True,
        )
        log.info("applied %s with 1 replica", manifests.workload_name(wasteland_id))

    async def _wait_ready_pod(self, wasteland_id: str) -> Pod:
        """The first Ready pod of the wasteland, watching from a fresh list."""
        selector = _selector(wasteland_id)
        listing = self._client.list(Pod, namespace=self._ns, labels=selector)
        async for pod in listing:
            if _ready(pod):
                return pod
        try:
            version: str | None = listing.resourceVersion
        except Exception:  # an empty list may carry no version: watch from now
            version = None
        # Closed explicitly: an abandoned watch would hold its HTTP stream (and a pooled
        # connection) open until garbage collection.
        # (lightkube types the watch as an AsyncIterable; it is an async generator.)
        watch = cast(
            "AsyncGenerator[tuple[str, Pod], None]",
            self._client.watch(Pod, namespace=self._ns, labels=selector, resource_version=version),
        )
        async with contextlib.aclosing(watch) as events:
            async for _kind, pod in events:
                if _ready(pod):
                    return pod
        raise TimeoutError  # the watch never ends by itself; here only for the type checker

    def _address(self, wasteland_id: str) -> tuple[str, int] | None:
        template = self._cfg.template
        host = manifests.service_host(template, wasteland_id, self._cfg.cluster_domain)
        if self._cfg.routes is not None:
            return self._cfg.routes.lookup(host, template.port)
        return host, template.port

    def _endpoint(self, wasteland_id: str, pod: Pod) -> Endpoint | None:
        address = self._address(wasteland_id)
        if address is None:
            return None
        return Endpoint(host=address[0], port=address[1], instance_id=_instance_id(pod))

    async def _wait_answering(self, wasteland_id: str, pod: Pod, deadline: float) -> Endpoint:
        """Poll the control server through the Service until it answers SERVING: a Ready
        pod is not reachable through its Service until the endpoints have propagated."""
        while True:
            endpoint = self._endpoint(wasteland_id, pod)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            if endpoint is not None and await _serving(
                endpoint.address, min(remaining, self._cfg.health_timeout)
            ):
                log.info("the workload of %s answers on %s", wasteland_id, endpoint.address)
                return endpoint
            await asyncio.sleep(HEALTH_POLL_SECONDS)


async def _serving(address: str, limit: float) -> bool:
    """One gRPC health check of ``address`` (overall server status)."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=limit)
        except grpc.aio.AioRpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def routes_json(routes: Mapping[str, str]) -> str:
    """The routes file's content for ``routes`` (used by the kubelet stand-in)."""
    return json.dumps({"routes": dict(sorted(routes.items()))}, indent=1)
