"""The executor's Prometheus metrics, and the HTTP endpoint that exposes them.

One registry per process (not prometheus_client's global one), so several executors in
one test process do not collide. Served at ``/metrics`` on ``METRICS_PORT`` when set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from threading import Thread
from typing import Literal
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Histogram, start_http_server

log = logging.getLogger(__name__)

WAKE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
WakeOutcome = Literal["woke", "failed"]


def _wake_histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram(
        "wasteland_executor_wake_duration_seconds",
        "Cold-start duration of a wasteland's workload: from the wake decision until its "
        "control server answers (or the wake fails).",
        labelnames=("runtime", "outcome"),
        buckets=WAKE_BUCKETS,
        registry=registry,
    )


@dataclass
class Metrics:
    """Every metric the executor records."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    wake_duration: Histogram = field(init=False)

    def __post_init__(self) -> None:
        self.wake_duration = _wake_histogram(self.registry)

    def observe_wake(self, runtime: str, outcome: WakeOutcome, seconds: float) -> None:
        """Record one cold start."""
        self.wake_duration.labels(runtime=runtime, outcome=outcome).observe(seconds)


@dataclass
class MetricsServer:
    """The running ``/metrics`` endpoint."""

    server: WSGIServer
    thread: Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(metrics: Metrics, host: str, port: int) -> MetricsServer:
    """Serve ``metrics`` on ``host:port`` (0 = any free port) in a background thread."""
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    running = MetricsServer(server=server, thread=thread)
    log.info("executor metrics on http://%s:%d/metrics", host, running.port)
    return running
