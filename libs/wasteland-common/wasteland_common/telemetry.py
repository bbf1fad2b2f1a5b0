"""OpenTelemetry setup: a tracer provider, its span exporter and W3C context propagation
over gRPC.

``OTEL_TRACES_EXPORTER`` picks the exporter. With ``otlp`` the protocol (``grpc`` or
``http/protobuf``) and the collector endpoint come from the standard
``OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`` / ``…_ENDPOINT`` settings, resolved here by the
OpenTelemetry rules; headers, timeout, compression and certificates are read by the
exporter itself from their standard ``OTEL_EXPORTER_OTLP_*`` variables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from .settings import CommonSettings, OtlpProtocol

# The OpenTelemetry specification's default transport.
DEFAULT_PROTOCOL: OtlpProtocol = "http/protobuf"
_HTTP_TRACES_PATH = "v1/traces"

_configured = False


@dataclass(frozen=True)
class TraceExport:
    """Where a service's spans go."""

    exporter: Literal["none", "console", "otlp"] = "none"
    protocol: OtlpProtocol = DEFAULT_PROTOCOL
    # The collector URL the exporter posts to; None = the exporter's default.
    endpoint: str | None = None

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> TraceExport:
        """Resolve the OTLP settings: the traces-specific ones win; a generic endpoint
        gets ``/v1/traces`` appended for ``http/protobuf`` (as the specification says)."""
        protocol = (
            settings.otel_exporter_otlp_traces_protocol
            or settings.otel_exporter_otlp_protocol
            or DEFAULT_PROTOCOL
        )
        endpoint = settings.otel_exporter_otlp_traces_endpoint
        if endpoint is None and settings.otel_exporter_otlp_endpoint is not None:
            endpoint = settings.otel_exporter_otlp_endpoint
            if protocol == "http/protobuf":
                endpoint = endpoint.rstrip("/") + "/" + _HTTP_TRACES_PATH
        return cls(exporter=settings.otel_traces_exporter, protocol=protocol, endpoint=endpoint)

    def environment(self) -> dict[str, str]:
        """Variables that make a child process (a local control server) export the same
        way; the resolved endpoint travels as the traces-specific one."""
        env: dict[str, str] = {
            "OTEL_TRACES_EXPORTER": self.exporter,
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": self.protocol,
        }
        if self.endpoint is not None:
            env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = self.endpoint
        return env


def span_exporter(export: TraceExport) -> SpanExporter | None:
    """The exporter ``export`` describes (None for ``none``)."""
    if export.exporter == "console":
        return ConsoleSpanExporter()
    if export.exporter != "otlp":
        return None
    if export.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpanExporter,
        )

        return GrpcSpanExporter(endpoint=export.endpoint)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

    return HttpSpanExporter(endpoint=export.endpoint)


def configure(service: str, settings: CommonSettings | TraceExport) -> None:
    """Install a tracer provider for ``service`` once, exporting as ``settings`` say, and
    instrument gRPC servers and clients (trace context travels in gRPC metadata).

    Spans are batched; the provider flushes them when the process exits. With no
    exporter (``OTEL_TRACES_EXPORTER=none``, the default) nothing is installed: spans
    nobody exports cost every request a span per HTTP request, per gRPC call made and
    per gRPC call served (a measurable share of a board read), and trace context is only
    worth forwarding when traces are recorded — set the exporter on every service to
    trace across them."""
    global _configured
    if _configured:
        return
    export = settings if isinstance(settings, TraceExport) else TraceExport.from_settings(settings)
    exporter = span_exporter(export)
    _configured = True
    if exporter is None:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    from opentelemetry.instrumentation.grpc import (
        GrpcAioInstrumentorClient,
        GrpcAioInstrumentorServer,
    )

    GrpcAioInstrumentorServer().instrument()
    GrpcAioInstrumentorClient().instrument()
