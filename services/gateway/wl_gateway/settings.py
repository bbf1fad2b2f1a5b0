"""The gateway's typed settings, read from the environment once at start."""

from __future__ import annotations

from pydantic import Field
from wasteland_common.settings import CommonSettings


class GatewaySettings(CommonSettings):
    """Everything the gateway reads from its environment (defaults: the embedded mode)."""

    http_port: int = Field(default=8080, ge=0, le=65535, alias="WASTELAND_HTTP_PORT")
    http_host: str = Field(default="127.0.0.1", alias="HTTP_HOST")
    # Comma-separated origins allowed by CORS; empty: no CORS headers at all.
    cors_origins: str = Field(default="", alias="CORS_ORIGINS")
    rate_limit_claim: int = Field(default=10, ge=1, alias="RATE_LIMIT_CLAIM")
    rate_limit_done: int = Field(default=10, ge=1, alias="RATE_LIMIT_DONE")
    rate_limit_post: int = Field(default=5, ge=1, alias="RATE_LIMIT_POST")
    rate_limit_browse: int = Field(default=60, ge=1, alias="RATE_LIMIT_BROWSE")
    rate_limit_window_seconds: int = Field(default=60, ge=1, alias="RATE_LIMIT_WINDOW_SECONDS")
    # Holds the shared rate-limit counters and idempotency keys (shared by replicas).
    database_url: str = Field(default="sqlite+pysqlite:///.run/gateway.db", alias="DATABASE_URL")
    migrate_on_start: bool = Field(default=True, alias="MIGRATE_ON_START")
    # How long an Idempotency-Key is remembered after its first use.
    idempotency_ttl_seconds: float = Field(default=86_400.0, gt=0, alias="IDEMPOTENCY_TTL_SECONDS")
    rpc_timeout_seconds: float = Field(default=10.0, gt=0, alias="RPC_TIMEOUT_SECONDS")
    # Deadline of Execute/WakeRuntime: longer than the executor's 20 s wait budget.
    action_timeout_seconds: float = Field(default=30.0, gt=0, alias="ACTION_TIMEOUT_SECONDS")
    # Deadline of CreateWasteland: provisioning forks the template on DoltHub and polls.
    provision_timeout_seconds: float = Field(default=120.0, gt=0, alias="PROVISION_TIMEOUT_SECONDS")
    # How long one /events stream lasts before the client reconnects (SSE retries itself).
    events_max_seconds: float = Field(default=3600.0, gt=0, alias="EVENTS_MAX_SECONDS")
    # Seconds between SSE keep-alive comments.
    events_ping_seconds: float = Field(default=15.0, gt=0, alias="EVENTS_PING_SECONDS")
    # Larger request bodies answer 413 before they are read into memory.
    max_body_bytes: int = Field(default=1_048_576, ge=1024, alias="MAX_BODY_BYTES")
    readiness_timeout_seconds: float = Field(default=2.0, gt=0, alias="READINESS_TIMEOUT_SECONDS")
    # Prometheus metrics at /metrics on the HTTP port (keep it off the public Ingress).
    # Board reads' access decisions are cached this long at most (0: no cache); the
    # registry's access-change stream drops them sooner (see wl_gateway.access).
    access_cache_ttl_seconds: float = Field(default=30.0, ge=0, alias="ACCESS_CACHE_TTL_SECONDS")
    access_cache_max_entries: int = Field(default=10_000, ge=1, alias="ACCESS_CACHE_MAX_ENTRIES")
    metrics_enabled: bool = Field(default=True, alias="METRICS_ENABLED")

    @property
    def cors_origin_list(self) -> list[str]:
        """The configured CORS origins, blanks dropped."""
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]
