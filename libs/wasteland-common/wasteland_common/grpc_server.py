"""The one way a service starts its gRPC server.

``serve`` builds a ``grpc.aio`` server with the shared interceptor (request id and log
context, caller identity, domain-error mapping), gRPC health checking, reflection and
graceful shutdown on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from . import logs, metrics
from .auth import REQUEST_ID_METADATA_KEY
from .errors import DomainError

log = logging.getLogger(__name__)


def rich_status(error: DomainError) -> grpc.Status:
    """A ``google.rpc.Status`` for ``error`` with BadRequest/RetryInfo details."""
    status = status_pb2.Status(code=error.code.value[0], message=error.message)
    if error.violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ]
        )
        status.details.add().Pack(bad)
    if error.retry_after is not None:
        retry = error_details_pb2.RetryInfo(
            retry_delay=duration_pb2.Duration(seconds=max(1, int(error.retry_after)))
        )
        status.details.add().Pack(retry)
    return rpc_status.to_status(status)


def _internal() -> grpc.Status:
    return rpc_status.to_status(status_pb2.Status(code=code_pb2.INTERNAL, message="internal error"))


def map_exception(exc: BaseException) -> grpc.Status | None:
    """Translate an exception escaping a handler into a status; None = let it propagate."""
    if isinstance(exc, DomainError):
        return rich_status(exc)
    from .dolthub_errors import to_domain  # local: avoids importing httpx at module import

    mapped = to_domain(exc)
    if mapped is not None:
        return rich_status(mapped)
    return None


class ServiceInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Sets the request id / log context and maps errors for every unary handler."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        metadata = dict(handler_call_details.invocation_metadata or ())
        request_id = str(metadata.get(REQUEST_ID_METADATA_KEY) or uuid.uuid4().hex)

        def wrap_unary(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
            async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
                token = logs.request_id_var.set(request_id)
                wtoken = logs.wasteland_id_var.set(getattr(request, "wasteland_id", "") or "")
                try:
                    return await fn(request, context)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if isinstance(exc, grpc.aio.AbortError) or type(exc).__name__ == "AbortError":
                        raise
                    status = map_exception(exc)
                    if status is None:
                        log.exception("unhandled error in %s", method)
                        status = _internal()
                    elif status.code == grpc.StatusCode.UNAVAILABLE:
                        log.warning("%s unavailable: %s", method, exc)
                    await context.abort_with_status(status)
                finally:
                    logs.request_id_var.reset(token)
                    logs.wasteland_id_var.reset(wtoken)

            return wrapped

        def wrap_stream(fn: Callable[..., Any]) -> Callable[..., Any]:
            async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
                token = logs.request_id_var.set(request_id)
                try:
                    async for item in fn(request, context):
                        yield item
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    status = map_exception(exc)
                    if status is None:
                        log.exception("unhandled error in %s", method)
                        status = _internal()
                    await context.abort_with_status(status)
                finally:
                    logs.request_id_var.reset(token)

            return wrapped

        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                wrap_unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                wrap_stream(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


@dataclass
class RunningServer:
    """A started server and the port it is bound to."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer

    async def stop(self, grace: float) -> None:
        """Report NOT_SERVING, stop taking calls and drain in-flight ones."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


# gRPC sets SO_REUSEPORT by default: a second server bound to a port already in use then
# silently shares it, and calls land on whichever process the kernel picks (another
# stack's registry would answer with its own secrets). A port belongs to one server;
# binding a taken one must fail.
SERVER_OPTIONS: tuple[tuple[str, int], ...] = (("grpc.so_reuseport", 0),)


async def start(
    *,
    register: Callable[[grpc.aio.Server], None],
    service_names: Iterable[str],
    host: str,
    port: int,
) -> RunningServer:
    """Start a server with health, reflection and the shared interceptor."""
    # The metrics interceptor is the outer one: it sees the status the inner one set.
    server = grpc.aio.server(
        interceptors=[metrics.GrpcMetricsInterceptor(), ServiceInterceptor()],
        options=SERVER_OPTIONS,
    )
    register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = list(service_names)
    reflection.enable_server_reflection(
        [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    for name in [*names, ""]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(server=server, port=bound, health=health_servicer)


async def serve_forever(
    running: RunningServer,
    *,
    name: str,
    host: str,
    grace: float,
    on_stop: Callable[[], Awaitable[None]] | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
) -> None:
    """Serve ``/metrics`` when ``metrics_port`` is set, print the address, wait for
    SIGTERM/SIGINT, then shut down gracefully."""
    metrics_server = metrics.maybe_serve(metrics_host, metrics_port, service=name)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    log.info("%s listening on %s:%d", name, host, running.port)
    print(f"{name} listening on {host}:{running.port}", flush=True)  # noqa: T201 - readiness line
    await stop.wait()
    log.info("%s shutting down", name)
    await running.stop(grace)
    if on_stop is not None:
        await on_stop()
    if metrics_server is not None:
        metrics_server.close()
