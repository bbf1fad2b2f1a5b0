"""How the OTLP settings resolve into one exporter (the OpenTelemetry rules)."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from pydantic import ValidationError
from wasteland_common.settings import CommonSettings
from wasteland_common.telemetry import TraceExport, span_exporter


def export(**env: Any) -> TraceExport:
    return TraceExport.from_settings(CommonSettings(**env))


def test_defaults_export_nothing_over_http_protobuf() -> None:
    assert export() == TraceExport("none", "http/protobuf", None)
    assert span_exporter(export()) is None


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        # The generic endpoint gets /v1/traces for HTTP, is used as is for gRPC.
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"},
            TraceExport("otlp", "http/protobuf", "http://collector:4318/v1/traces"),
        ),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"},
            TraceExport("otlp", "grpc", "http://c:4317"),
        ),
        # The traces-specific settings win and the endpoint is taken as is.
        (
            {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://generic:4318",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://traces.example/otlp",
            },
            TraceExport("otlp", "http/protobuf", "https://traces.example/otlp"),
        ),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, TraceExport("otlp", "grpc", None)),
    ],
)
def test_otlp_settings_resolve_by_the_specification(
    env: dict[str, str], expected: TraceExport
) -> None:
    assert export(OTEL_TRACES_EXPORTER="otlp", **env) == expected


def test_the_exporter_matches_the_protocol() -> None:
    grpc_exporter = span_exporter(TraceExport("otlp", "grpc", "http://127.0.0.1:4317"))
    http_exporter = span_exporter(TraceExport("otlp", "http/protobuf", None))
    try:
        assert isinstance(grpc_exporter, GrpcSpanExporter)
        assert isinstance(http_exporter, HttpSpanExporter)
        assert isinstance(span_exporter(TraceExport("console")), ConsoleSpanExporter)
    finally:
        for exporter in (grpc_exporter, http_exporter):
            assert exporter is not None
            exporter.shutdown()


def test_a_child_process_gets_the_resolved_export() -> None:
    resolved = export(
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4318",
    )
    assert resolved.environment() == {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces",
    }
    assert export().environment() == {
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
    }


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"},
        {"OTEL_TRACES_EXPORTER": "jaeger"},
        {"METRICS_PORT": "70000"},
    ],
)
def test_bad_values_are_refused_at_start(env: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        CommonSettings(**env)
