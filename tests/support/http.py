"""HTTP helpers for tests."""

from __future__ import annotations

from collections.abc import Callable

import httpx


class RecordingTransport(httpx.AsyncHTTPTransport):
    """A real connection pool that shows every request to ``hook`` before sending it."""

    def __init__(self, hook: Callable[[httpx.Request], None]) -> None:
        super().__init__()
        self._hook = hook

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._hook(request)
        return await super().handle_async_request(request)
