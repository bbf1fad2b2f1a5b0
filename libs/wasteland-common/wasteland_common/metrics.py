"""Prometheus metrics shared by every service, and the listener that serves them.

The metric objects live here (and, for what one service alone measures, in that
service's ``metrics`` module) so that every place that records a value imports the same
object. ``docs/operations.md`` says what each series means and when to alert on it.

- gRPC server calls: :class:`GrpcMetricsInterceptor`, installed by ``grpc_server.start``
  for every service (names follow the grpc-ecosystem convention, so the usual dashboards
  work).
- HTTP requests of the gateway: recorded by its middleware with the route *template*.
- DoltHub calls: recorded once per logical call in the shared DoltHub client.

Labels never carry ids, names or paths with ids in them, so cardinality stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

import grpc
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger(__name__)

# Latency buckets in seconds: local calls are milliseconds, DoltHub and wl calls seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

GRPC_SERVER_STARTED = Counter(
    "grpc_server_started_total",
    "gRPC calls started on the server.",
    ["grpc_type", "grpc_service", "grpc_method"],
)
GRPC_SERVER_HANDLED = Counter(
    "grpc_server_handled_total",
    "gRPC calls completed on the server, by status code.",
    ["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
)
GRPC_SERVER_HANDLING_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time from the start of a gRPC call to its status, on the server.",
    ["grpc_type", "grpc_service", "grpc_method"],
    buckets=LATENCY_BUCKETS,
)

HTTP_REQUESTS = Counter(
    "wasteland_http_requests_total",
    "HTTP requests answered by the gateway, by route template and status code.",
    ["method", "route", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "wasteland_http_request_duration_seconds",
    "Time to answer an HTTP request (for /events: the stream's length).",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)

DOLTHUB_REQUESTS = Counter(
    "wasteland_dolthub_requests_total",
    "Logical DoltHub API calls (retries included in one call), by operation and outcome.",
    ["operation", "outcome"],
)
DOLTHUB_REQUEST_SECONDS = Histogram(
    "wasteland_dolthub_request_duration_seconds",
    "Time of one logical DoltHub call, retries and their waits included.",
    ["operation"],
    buckets=LATENCY_BUCKETS,
)
DOLTHUB_RETRIES = Counter(
    "wasteland_dolthub_retries_total",
    "DoltHub requests sent again after a retryable failure.",
    ["operation"],
)

# The outcomes of a DoltHub call (the ``outcome`` label).
DOLTHUB_OUTCOMES = (
    "ok",  # 2xx/3xx (an SQL error inside a 200 answer still counts as ok here)
    "not_found",  # 404
    "denied",  # 401, 403
    "client_error",  # other 4xx
    "rate_limited",  # 429 after the retries
    "server_error",  # 5xx after the retries
    "transport_error",  # no answer: connect/read failure or timeout
)


def dolthub_outcome(status: int | None) -> str:
    """The ``outcome`` label of a DoltHub call that ended with HTTP ``status`` (None: no
    answer at all)."""
    if status is None:
        return "transport_error"
    if status < 400:
        return "ok"
    if status == 404:
        return "not_found"
    if status in (401, 403):
        return "denied"
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    return "client_error"


def record_dolthub_call(operation: str, status: int | None, seconds: float) -> None:
    """Count one logical DoltHub call and its duration."""
    DOLTHUB_REQUESTS.labels(operation, dolthub_outcome(status)).inc()
    DOLTHUB_REQUEST_SECONDS.labels(operation).observe(max(0.0, seconds))


# ------------------------------------------------------------------ gRPC server calls


def _split_method(full_method: str) -> tuple[str, str]:
    """``/pkg.Service/Method`` → (``pkg.Service``, ``Method``)."""
    _, _, rest = full_method.partition("/")
    service, _, method = rest.partition("/")
    return service or "unknown", method or "unknown"


def _code_name(context: Any, default: grpc.StatusCode) -> str:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    if isinstance(code, int):  # grpc.aio may report the integer value
        for candidate in grpc.StatusCode:
            if candidate.value[0] == code:
                return str(candidate.name)
    return str(default.name)


class GrpcMetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Counts and times every unary and server-streaming call a service answers.

    The status comes from the call context, so a status set by an inner interceptor
    (the domain-error mapping) or by the handler is what gets counted."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        service, method = _split_method(handler_call_details.method)

        def finish(kind: str, context: Any, started: float, ended: grpc.StatusCode) -> None:
            # The code the handler or an inner interceptor set wins over how it ended.
            code = _code_name(context, ended)
            if code == "OK" and ended != grpc.StatusCode.OK:
                code = str(ended.name)
            GRPC_SERVER_HANDLED.labels(kind, service, method, code).inc()
            GRPC_SERVER_HANDLING_SECONDS.labels(kind, service, method).observe(
                time.perf_counter() - started
            )

        if handler.unary_unary is not None:
            inner_unary = handler.unary_unary

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                GRPC_SERVER_STARTED.labels("unary", service, method).inc()
                started = time.perf_counter()
                ended = grpc.StatusCode.UNKNOWN
                try:
                    result = await inner_unary(request, context)
                    ended = grpc.StatusCode.OK
                    return result
                except asyncio.CancelledError:
                    ended = grpc.StatusCode.CANCELLED
                    raise
                finally:
                    finish("unary", context, started, ended)

            return grpc.unary_unary_rpc_method_handler(
                unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                GRPC_SERVER_STARTED.labels("server_stream", service, method).inc()
                started = time.perf_counter()
                ended = grpc.StatusCode.UNKNOWN
                try:
                    async for item in inner_stream(request, context):
                        yield item
                    ended = grpc.StatusCode.OK
                except asyncio.CancelledError:
                    ended = grpc.StatusCode.CANCELLED
                    raise
                finally:
                    finish("server_stream", context, started, ended)

            return grpc.unary_stream_rpc_method_handler(
                stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


# ------------------------------------------------------------------ the /metrics listener


def exposition(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """The text exposition of ``registry`` and its content type (for an HTTP route)."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


@dataclass
class MetricsServer:
    """A running metrics listener (a daemon thread serving ``/metrics``)."""

    host: str
    port: int
    _server: WSGIServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve(host: str, port: int, *, service: str) -> MetricsServer:
    """Serve the default registry on ``host:port`` (0 = any free port) and log where."""
    server, thread = start_http_server(port, addr=host)
    bound = int(server.server_address[1])
    running = MetricsServer(host=host, port=bound, _server=server, _thread=thread)
    # Not "listening on": that phrase is the gRPC readiness line process managers wait for.
    log.info("%s metrics served at %s", service, running.url)
    return running


def maybe_serve(host: str, port: int | None, *, service: str) -> MetricsServer | None:
    """:func:`serve` when a port is configured (``METRICS_PORT``), else None."""
    if port is None:
        return None
    return serve(host, port, service=service)
