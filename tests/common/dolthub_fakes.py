"""Faithful fakes for DoltHub client tests: an httpx.MockTransport that records every
request, and virtual time (the client's injected clock and sleep)."""

from __future__ import annotations

import random
from collections.abc import Callable
from types import TracebackType
from typing import Any

import httpx
from wasteland_common.dolthub import DoltHubClient

BASE = "https://dolthub.test/api/v1alpha1"

Handler = Callable[[httpx.Request], httpx.Response]


class FakeTime:
    """A clock that only moves when the client sleeps."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Fake:
    """Builds clients over an httpx.MockTransport and records what they sent."""

    def __init__(self, *, token: str, seed: int, start: float) -> None:
        self.token = token
        self.seed = seed
        self.time = FakeTime(start)
        self.requests: list[httpx.Request] = []
        self._transports: list[httpx.MockTransport] = []

    def client(
        self, handler: Handler, *, token: str | object | None = ..., **kw: Any
    ) -> DoltHubClient:
        def record(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return handler(request)

        transport = httpx.MockTransport(record)
        self._transports.append(transport)
        return DoltHubClient(
            BASE,
            token=self.token if token is ... else token,  # type: ignore[arg-type]
            transport=transport,
            sleep=self.time.sleep,
            clock=self.time.clock,
            rng=random.Random(self.seed),
            **kw,
        )

    async def __aenter__(self) -> Fake:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for transport in self._transports:
            await transport.aclose()
