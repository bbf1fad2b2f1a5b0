"""Every service, started as its real console script, exports spans over OTLP (gRPC and
HTTP) to a collector on loopback and serves Prometheus metrics whose series move."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.otlp import Protocol, ReceivedSpan, Receiver, otlp_receiver
from tests.support.ports import free_port
from tests.support.procs import VENV_BIN, Proc, started
from tests.support.scrape import scrape

pytestmark = pytest.mark.integration

SERVICE_SECRET = "observability-test-service-secret-0123456789"
NOWHERE = "127.0.0.1:9"  # discard port: nothing answers


@dataclass(frozen=True)
class Service:
    name: str  # service.name in spans, and the console script's suffix
    script: str
    health_service: str  # "" for the gateway (HTTP)


SERVICES = [
    Service("registry", "wl-registry", "wasteland.v1.RegistryService"),
    Service("board-sync", "wl-board-sync", "wasteland.v1.BoardService"),
    Service("executor", "wl-executor", "wasteland.v1.ExecutorService"),
    Service("control-server", "wl-control-server", "wasteland.v1.ControlService"),
    Service("gateway", "wl-gateway", ""),
]


def environment(service: Service, tmp: Path, receiver: Receiver) -> dict[str, str]:
    env = {
        **receiver.environment(),
        "GRPC_HOST": "127.0.0.1",
        "GRPC_PORT": "0",
        "SERVICE_JWT_SECRET": SERVICE_SECRET,
        "DOLTHUB_API_URL": f"http://{NOWHERE}/api/v1alpha1",
        "DATABASE_URL": f"sqlite+pysqlite:///{tmp / (service.name + '.db')}",
        "REGISTRY_ADDR": NOWHERE,
        "BOARD_ADDR": NOWHERE,
        "EXECUTOR_ADDR": NOWHERE,
    }
    if service.name == "gateway":
        env.update({"HTTP_HOST": "127.0.0.1", "WASTELAND_HTTP_PORT": "0"})
    else:
        env.update({"METRICS_HOST": "127.0.0.1", "METRICS_PORT": str(free_port())})
    if service.name == "board-sync":
        env["REGISTRY_ADDR"] = ""  # no registry to re-track from
    if service.name == "executor":
        env["WORK_DIR"] = str(tmp / "work")
    if service.name == "control-server":
        env.update({"WL_BINARY": str(VENV_BIN / "wl"), "WORK_DIR": str(tmp / "work")})
    return env


@pytest.fixture(params=["grpc", "http/protobuf"])
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    protocol: Protocol = request.param
    with otlp_receiver(protocol) as running:
        yield running


def health_check(proc: Proc, service: str) -> None:
    with grpc.insecure_channel(proc.addr) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=10
        )
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("service", SERVICES, ids=[s.name for s in SERVICES])
def test_the_service_exports_spans_and_serves_metrics_that_move(
    service: Service, receiver: Receiver, tmp_path: Path
) -> None:
    env = environment(service, tmp_path, receiver)
    argv = [str(VENV_BIN / service.script)]
    with started(service.name, argv, env=env, cwd=tmp_path) as proc:
        if service.name == "gateway":
            metrics_url = f"{proc.url}/metrics"
            before = scrape(metrics_url)
            # /readyz asks every backend for its health: client spans, and a 503.
            assert httpx.get(f"{proc.url}/readyz", timeout=30).status_code == 503
            after = scrape(metrics_url)
            labels = {"method": "GET", "route": "/readyz", "status": "503"}
            assert after.value("wasteland_http_requests_total", **labels) == (
                before.value("wasteland_http_requests_total", **labels) + 1
            )
            assert after.value(
                "wasteland_http_request_duration_seconds_count", route="/readyz"
            ) > before.value("wasteland_http_request_duration_seconds_count", route="/readyz")
        else:
            metrics_url = f"http://127.0.0.1:{env['METRICS_PORT']}/metrics"
            before = scrape(metrics_url)
            health_check(proc, service.health_service)
            health_check(proc, service.health_service)
            after = scrape(metrics_url)
            labels = {"grpc_service": "grpc.health.v1.Health", "grpc_method": "Check"}
            handled = "grpc_server_handled_total"
            assert after.value(handled, grpc_code="OK", **labels) == (
                before.value(handled, grpc_code="OK", **labels) + 2
            )
            assert after.value("grpc_server_handling_seconds_count", **labels) == (
                before.value("grpc_server_handling_seconds_count", **labels) + 2
            )
            assert after.has("process_cpu_seconds_total")

        # gRPC services: the server span of our Check; the gateway: its client spans of the
        # Checks /readyz made (FastAPI adds spans of its own, which may come first).
        def exported(spans: list[ReceivedSpan]) -> bool:
            return any(
                s.service == service.name and s.name == "/grpc.health.v1.Health/Check"
                for s in spans
            )

        receiver.sink.wait_for(exported, timeout=30)
    assert proc.popen.returncode == 0
