"""Typed settings read from the environment once at start (twelve-factor).

Each service subclasses :class:`CommonSettings` and adds its own fields. Every default is
the embedded one that ``make run`` uses; docs/settings.md lists them all.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

OtlpProtocol = Literal["grpc", "http/protobuf"]


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


HttpUrlText = Annotated[str, AfterValidator(_http_url)]

DEV_JWT_SECRET = "dev-secret-change-me"  # noqa: S105 - the documented local default
DEV_SERVICE_SECRET = "dev-service-secret-change-me-not-for-production"  # noqa: S105 - local default


class CommonSettings(BaseSettings):
    """Settings every service reads."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    log_format: Literal["json", "text"] = Field(default="json", alias="LOG_FORMAT")
    kilo_jwt_secret: SecretStr = Field(default=SecretStr(DEV_JWT_SECRET), alias="KILO_JWT_SECRET")
    # When set, a token carrying `aud` must name this audience.
    kilo_jwt_audience: str = Field(default="wasteland", alias="KILO_JWT_AUDIENCE")
    service_jwt_secret: SecretStr = Field(
        default=SecretStr(DEV_SERVICE_SECRET), alias="SERVICE_JWT_SECRET"
    )
    dolthub_api_url: str = Field(
        default="https://www.dolthub.com/api/v1alpha1", alias="DOLTHUB_API_URL"
    )
    otel_traces_exporter: Literal["none", "console", "otlp"] = Field(
        default="none", alias="OTEL_TRACES_EXPORTER"
    )
    # The OTLP collector, by the OpenTelemetry rules: the traces-specific variable wins;
    # the generic endpoint gets /v1/traces appended for http/protobuf. Unset: the
    # exporter's default (localhost:4317 for grpc, localhost:4318 for http/protobuf).
    otel_exporter_otlp_protocol: OtlpProtocol | None = Field(
        default=None, alias="OTEL_EXPORTER_OTLP_PROTOCOL"
    )
    otel_exporter_otlp_traces_protocol: OtlpProtocol | None = Field(
        default=None, alias="OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
    )
    otel_exporter_otlp_endpoint: HttpUrlText | None = Field(
        default=None, alias="OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    otel_exporter_otlp_traces_endpoint: HttpUrlText | None = Field(
        default=None, alias="OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    # Prometheus metrics of the gRPC services: a small HTTP listener serving /metrics.
    # Unset: no listener (the embedded default: many processes share one host); 0: any
    # free port (logged). The gateway serves /metrics on its HTTP port instead.
    metrics_port: int | None = Field(default=None, ge=0, le=65535, alias="METRICS_PORT")
    metrics_host: str = Field(default="127.0.0.1", alias="METRICS_HOST")
    grpc_host: str = Field(default="127.0.0.1", alias="GRPC_HOST")
    grpc_port: int = Field(default=0, ge=0, le=65535, alias="GRPC_PORT")
    shutdown_grace_seconds: float = Field(default=10.0, ge=0, alias="SHUTDOWN_GRACE_SECONDS")
    # Where the other services listen (host:port); unused ones may stay empty.
    registry_addr: str = Field(default="127.0.0.1:7401", alias="REGISTRY_ADDR")
    board_addr: str = Field(default="127.0.0.1:7402", alias="BOARD_ADDR")
    executor_addr: str = Field(default="127.0.0.1:7403", alias="EXECUTOR_ADDR")
