"""The built images, run the way production runs them: as uid 10001 with a read-only root
filesystem (tmpfs only where the docs say), no capabilities, every shell masked, on host
networking bound to loopback.

``make images`` (scripts/images.sh) builds the images and runs this module with
``WASTELAND_IMAGES`` naming them; without it, the module is skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from wasteland.v1 import control_pb2, control_pb2_grpc
from wasteland_common.grpc_client import ServiceCredentials

from tests.support.otlp import Receiver, otlp_receiver
from tests.support.ports import free_port
from tests.support.scrape import scrape

IMAGES: dict[str, str] = json.loads(os.environ.get("WASTELAND_IMAGES", "{}"))
pytestmark = [
    pytest.mark.images,
    pytest.mark.skipif(not IMAGES, reason="make images builds the images and runs these"),
]

SERVICE_SECRET = "images-check-service-secret-0123456789abcdef"
JWT_SECRET = "images-check-kilo-secret-0123456789abcdef"
WRITABLE = "/var/lib/wasteland"
HEALTH_NAMES = {
    "registry": "wasteland.v1.RegistryService",
    "board-sync": "wasteland.v1.BoardService",
    "executor": "wasteland.v1.ExecutorService",
    "control-server": "wasteland.v1.ControlService",
}
START_TIMEOUT = 120.0
SHELLS = ("/usr/bin/sh", "/usr/bin/dash", "/usr/bin/bash")


def podman(*args: str, check: bool = True) -> str:
    done = subprocess.run(
        ["podman", *args], capture_output=True, text=True, check=False, timeout=300
    )
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout.strip()


@dataclass
class Container:
    """One running container of one image."""

    target: str
    name: str
    grpc_port: int
    metrics_port: int
    http_port: int = 0

    def logs(self) -> str:
        return podman("logs", self.name, check=False)


@dataclass
class Stack:
    containers: dict[str, Container]
    # Which receiver each container exports to.
    receivers: dict[str, Receiver]


def run(target: str, receiver: Receiver, env: dict[str, str], protocol: str) -> Container:
    """Start ``target`` detached: uid 10001, read-only root, tmpfs at /tmp and WRITABLE."""
    container = Container(
        target=target,
        name=f"hw-check-{target}-{uuid.uuid4().hex[:8]}",
        grpc_port=free_port(),
        metrics_port=free_port(),
    )
    full_env = {
        "LOG_FORMAT": "json",
        "GRPC_HOST": "127.0.0.1",
        "GRPC_PORT": str(container.grpc_port),
        "METRICS_HOST": "127.0.0.1",
        "METRICS_PORT": str(container.metrics_port),
        "KILO_JWT_SECRET": JWT_SECRET,
        "SERVICE_JWT_SECRET": SERVICE_SECRET,
        # Nothing may leave the machine: DoltHub is a closed loopback port.
        "DOLTHUB_API_URL": "http://127.0.0.1:9/api/v1alpha1",
        "DATABASE_URL": f"sqlite+pysqlite:///{WRITABLE}/{target}.db",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        **env,
    }
    if target == "gateway":
        container.http_port = free_port()
        full_env.update({"HTTP_HOST": "127.0.0.1", "WASTELAND_HTTP_PORT": str(container.http_port)})
    args = [
        "run",
        "--detach",
        "--name",
        container.name,
        "--network=host",
        "--read-only",
        "--read-only-tmpfs=false",
        "--user",
        "10001:10001",
        "--tmpfs",
        "/tmp:rw,mode=1777",
        "--tmpfs",
        f"{WRITABLE}:rw,U",  # owned by the container user, as an emptyDir with fsGroup
        "--cap-drop=all",
        "--security-opt=no-new-privileges",
    ]
    # No shell is needed at run time: every shell in the image is masked.
    for shell in SHELLS:
        args += ["--mount", f"type=bind,source=/dev/null,destination={shell},ro"]
    for key, value in full_env.items():
        args += ["--env", f"{key}={value}"]
    podman(*args, IMAGES[target])
    return container


def wait_serving(container: Container) -> None:
    """Block until the container's gRPC health answers SERVING (or fail with its logs)."""
    with grpc.insecure_channel(f"127.0.0.1:{container.grpc_port}") as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=HEALTH_NAMES[container.target]),
                timeout=START_TIMEOUT,
                wait_for_ready=True,
            )
        except grpc.RpcError as exc:
            raise AssertionError(f"{container.target} not healthy:\n{container.logs()}") from exc
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


# Each service exports over one protocol; together they cover both.
PROTOCOLS = {
    "registry": "http/protobuf",
    "board-sync": "grpc",
    "executor": "http/protobuf",
    "control-server": "grpc",
    "gateway": "grpc",
}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """registry, board-sync, executor and a control server, then the gateway over them;
    each exports spans to a loopback collector."""
    started: dict[str, Container] = {}
    with otlp_receiver("http/protobuf") as http_receiver, otlp_receiver("grpc") as grpc_receiver:
        receivers = {
            target: http_receiver if protocol == "http/protobuf" else grpc_receiver
            for target, protocol in PROTOCOLS.items()
        }
        try:
            for target in ("registry", "board-sync", "executor", "control-server"):
                if target in IMAGES:
                    env = {"REGISTRY_ADDR": ""} if target == "board-sync" else {}
                    started[target] = run(target, receivers[target], env, PROTOCOLS[target])
            for container in started.values():
                wait_serving(container)
            if "gateway" in IMAGES:
                backends = {
                    "REGISTRY_ADDR": f"127.0.0.1:{started['registry'].grpc_port}",
                    "BOARD_ADDR": f"127.0.0.1:{started['board-sync'].grpc_port}",
                    "EXECUTOR_ADDR": f"127.0.0.1:{started['executor'].grpc_port}",
                }
                started["gateway"] = run(
                    "gateway", receivers["gateway"], backends, PROTOCOLS["gateway"]
                )
            yield Stack(started, receivers)
        finally:
            for container in started.values():
                podman("rm", "--force", "--time", "0", container.name, check=False)


def image_config(target: str) -> dict[str, object]:
    inspected = json.loads(podman("image", "inspect", IMAGES[target]))[0]
    config: dict[str, object] = inspected["Config"]
    return config


@pytest.mark.parametrize("target", sorted(IMAGES))
def test_the_image_runs_as_10001_with_an_exec_entrypoint_and_labels(target: str) -> None:
    config = image_config(target)
    assert config["User"] == "10001:10001"
    entrypoint = config["Entrypoint"]
    assert isinstance(entrypoint, list)
    assert entrypoint[0].startswith("/app/.venv/bin/wl-")
    assert "Healthcheck" not in config or not config["Healthcheck"]
    labels = config["Labels"]
    assert isinstance(labels, dict)
    for key in ("source", "revision", "version"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    assert labels["org.opencontainers.image.revision"] == os.environ.get(
        "WASTELAND_IMAGES_VCS_REF", labels["org.opencontainers.image.revision"]
    )


@pytest.mark.parametrize("target", [t for t in HEALTH_NAMES if t in IMAGES])
def test_each_grpc_service_is_serving(stack: Stack, target: str) -> None:
    wait_serving(stack.containers[target])


def test_the_control_server_reports_wl_0_4_0(stack: Stack) -> None:
    if "control-server" not in stack.containers:
        pytest.skip("control-server not built")
    container = stack.containers["control-server"]
    metadata = ServiceCredentials("executor", SERVICE_SECRET).metadata()
    with grpc.insecure_channel(f"127.0.0.1:{container.grpc_port}") as channel:
        info = control_pb2_grpc.ControlServiceStub(channel).GetInfo(
            control_pb2.GetInfoRequest(), metadata=metadata, timeout=30
        )
    assert info.wl_version == "0.4.0"


def test_the_gateway_is_ready_with_the_others_up(stack: Stack) -> None:
    if "gateway" not in stack.containers:
        pytest.skip("gateway not built")
    gateway = stack.containers["gateway"]
    url = f"http://127.0.0.1:{gateway.http_port}"
    deadline = time.monotonic() + START_TIMEOUT
    answer: httpx.Response | None = None
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{url}/readyz", timeout=10)
        except httpx.TransportError:
            answer = None  # not accepting connections yet
        if answer is not None and answer.status_code == 200:
            break
        time.sleep(0.25)  # polling a process in another container until it listens
    assert answer is not None, gateway.logs()
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "ready"
    assert set(answer.json()["checks"].values()) == {"serving"}


def test_every_service_serves_metrics(stack: Stack) -> None:
    for target, container in stack.containers.items():
        if target == "gateway":
            scraped = scrape(f"http://127.0.0.1:{container.http_port}/metrics")
            assert scraped.has("wasteland_http_requests_total"), target
        else:
            scraped = scrape(f"http://127.0.0.1:{container.metrics_port}/metrics")
            assert scraped.value("grpc_server_handled_total", grpc_method="Check") >= 1, target


@pytest.mark.parametrize("target", sorted(IMAGES))
def test_every_service_exports_spans(stack: Stack, target: str) -> None:
    # A span of the health checks above: served (gRPC services) or made (the gateway's
    # /readyz); other spans of the service may arrive first.
    stack.receivers[target].sink.wait_for(
        lambda got: any(
            s.service == target and s.name.startswith("/grpc.health.v1.Health/") for s in got
        ),
        timeout=60,
    )


def test_every_container_stops_cleanly_on_sigterm(stack: Stack) -> None:
    # The gateway first, then the services it calls.
    order = ["gateway", "executor", "board-sync", "registry", "control-server"]
    for target in [t for t in order if t in stack.containers]:
        container = stack.containers[target]
        podman("stop", "--time", "20", container.name)
        code = podman("inspect", "--format", "{{.State.ExitCode}}", container.name)
        assert code == "0", f"{target} exited {code}:\n{container.logs()}"
        assert "Traceback" not in container.logs(), container.logs()
