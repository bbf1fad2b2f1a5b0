"""A tiny OTLP trace receiver on loopback, over gRPC or HTTP (protobuf), for tests.

It stands in for an OpenTelemetry collector: it accepts ``ExportTraceServiceRequest``s,
remembers each span's service name and span name, and lets a test wait (on a condition,
not a timer) until the spans it expects have arrived.
"""

from __future__ import annotations

import contextlib
import gzip
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

Protocol = Literal["grpc", "http/protobuf"]
TRACES_PATH = "/v1/traces"


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as the receiver got it."""

    service: str
    name: str
    kind: int


@dataclass
class SpanSink:
    """Everything received so far, with a condition to wait on."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: int = 0
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def add(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        received = []
        for resource_spans in request.resource_spans:
            service = ""
            for attribute in resource_spans.resource.attributes:
                if attribute.key == "service.name":
                    service = attribute.value.string_value
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(ReceivedSpan(service, span.name, span.kind))
        with self._changed:
            self.requests += 1
            self.spans.extend(received)
            self._changed.notify_all()

    def wait_for(
        self, predicate: Callable[[list[ReceivedSpan]], bool], timeout: float
    ) -> list[ReceivedSpan]:
        """The spans once ``predicate`` holds for them; AssertionError after ``timeout``."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self.spans), timeout):
                raise AssertionError(f"expected spans did not arrive; got {self.spans}")
            return list(self.spans)

    def of(self, service: str) -> list[ReceivedSpan]:
        with self._changed:
            return [s for s in self.spans if s.service == service]


@dataclass(frozen=True)
class Receiver:
    """A running receiver: point ``OTEL_EXPORTER_OTLP_ENDPOINT`` at ``endpoint``."""

    protocol: Protocol
    endpoint: str
    sink: SpanSink

    def environment(self) -> dict[str, str]:
        """Variables that make a service export here, flushing spans quickly."""
        return {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": self.protocol,
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    def __init__(self, sink: SpanSink) -> None:
        self._sink = sink

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._sink.add(request)
        return trace_service_pb2.ExportTraceServiceResponse()


def _http_handler(sink: SpanSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path != TRACES_PATH:
                self.send_error(404)
                return
            request = trace_service_pb2.ExportTraceServiceRequest()
            request.ParseFromString(body)
            sink.add(request)
            answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextlib.contextmanager
def otlp_receiver(protocol: Protocol) -> Iterator[Receiver]:
    """Run a receiver for ``protocol`` on a free loopback port until the block ends."""
    sink = SpanSink()
    if protocol == "grpc":
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(sink), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        try:
            yield Receiver(protocol, f"http://127.0.0.1:{port}", sink)
        finally:
            server.stop(grace=None)
        return
    http = ThreadingHTTPServer(("127.0.0.1", 0), _http_handler(sink))
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(protocol, f"http://127.0.0.1:{http.server_address[1]}", sink)
    finally:
        http.shutdown()
        http.server_close()
        thread.join(timeout=5)
