"""Fixtures: fake backends on real gRPC ports, the gateway app over them, a fake clock."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from wasteland_common.auth import mint_user_token
from wasteland_common.settings import DEV_JWT_SECRET
from wl_gateway.app import create_app, policies_of
from wl_gateway.clients import GatewayClients
from wl_gateway.idempotency import IdempotencyStore
from wl_gateway.ratelimit import RateLimiter
from wl_gateway.settings import GatewaySettings

from .fakes import AUDIENCE, Backends, start_backends

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # wasteland_common.auth silences PyJWT's key-length advice at import, but pytest's
    # "error" warning filter is re-applied per test; the dev secret is short on purpose.
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(
                pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
            )


class FakeClock:
    """Wall-clock time that only moves when a test says so."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    # Near real time, because the fake backends check JWT expiry against the real clock.
    return FakeClock(time.time())


@pytest.fixture
async def backends() -> AsyncIterator[Backends]:
    started = await start_backends()
    try:
        yield started
    finally:
        await started.stop()


def settings_for(backends: Backends, database_url: str, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "REGISTRY_ADDR": backends.addr("registry"),
        "BOARD_ADDR": backends.addr("board"),
        "EXECUTOR_ADDR": backends.addr("executor"),
        "DATABASE_URL": database_url,
        "KILO_JWT_AUDIENCE": AUDIENCE,
        # Generous: the fakes answer at once, but a loaded 2-core machine can stall the one
        # event loop they share with the app for seconds (a test about deadlines sets its
        # own).
        "RPC_TIMEOUT_SECONDS": 60,
        "ACTION_TIMEOUT_SECONDS": 60,
        "EVENTS_PING_SECONDS": 60,
        **overrides,
    }
    return GatewaySettings(**values)


AppFactory = Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture
async def make_app(
    backends: Backends, clock: FakeClock, tmp_path: Path
) -> AsyncIterator[AppFactory]:
    """Build gateway apps over the fake backends; each gets an httpx client.

    Apps built with the same ``database_url`` share rate-limit counters and
    idempotency keys, like replicas. ``idempotency`` replaces the key store.
    """
    opened: list[tuple[FastAPI, GatewayClients, RateLimiter, httpx.AsyncClient]] = []

    async def build(
        database_url: str | None = None,
        *,
        idempotency: IdempotencyStore | None = None,
        **overrides: Any,
    ) -> tuple[FastAPI, httpx.AsyncClient]:
        url = database_url or f"sqlite+pysqlite:///{tmp_path / 'gateway.db'}"
        settings = settings_for(backends, url, **overrides)
        clients = GatewayClients.from_settings(settings)
        limiter = RateLimiter.from_url(url, policies_of(settings), clock)
        app = create_app(settings, clients, limiter=limiter, idempotency=idempotency, clock=clock)
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway.test"
        )
        opened.append((app, clients, limiter, http))
        return app, http

    yield build
    for app, clients, limiter, http in opened:
        await app.state.deps.access.stop()
        await http.aclose()
        await clients.close()
        limiter.close()
        app.state.idempotency.close()


@pytest.fixture
async def api(make_app: AppFactory) -> httpx.AsyncClient:
    """An HTTP client of one gateway app over the fake backends."""
    _, http = await make_app()
    return http


def routes_of(app: FastAPI) -> list[tuple[str, str]]:
    """(METHOD, path) of every route the app serves, however its routers are nested."""
    return [
        (method, context.path)
        for context in iter_route_contexts(app.routes)
        if context.path is not None
        for method in sorted(context.methods or ())
        if method != "HEAD"
    ]


def bearer(user: str, **kwargs: Any) -> dict[str, str]:
    """Authorization header of a valid Kilo JWT for ``user``."""
    return {"Authorization": "Bearer " + mint_user_token(user, secret=DEV_JWT_SECRET, **kwargs)}


@pytest.fixture
def alice() -> dict[str, str]:
    return bearer("alice")


@pytest.fixture
def bob() -> dict[str, str]:
    return bearer("bob")
