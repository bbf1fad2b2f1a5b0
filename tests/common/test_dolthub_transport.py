"""The DoltHub client's own connection pool (``wasteland_common.dolthub._transport``):
over real sockets, a connection the server closed while idle is never reused, and
proxies come from the environment as httpx's client would take them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from wasteland_common.dolthub import DoltHubClient, RetryPolicy
from wasteland_common.dolthub._transport import environment_proxy

BODY = json.dumps(
    {
        "query_execution_status": "Success",
        "query_execution_message": "",
        "schema": [{"columnName": "h", "columnType": "varchar"}],
        "rows": [{"h": "abc123"}],
    }
).encode()


class OneShotServer:
    """Answers one HTTP/1.1 request per connection with keep-alive headers, then closes
    the connection: the client only learns it is gone by finding it readable."""

    def __init__(self) -> None:
        self.connections = 0
        self.closed = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(BODY)}\r\n\r\n".encode()
            + BODY
        )
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        self.closed.set()


@pytest.fixture
async def one_shot() -> AsyncIterator[tuple[OneShotServer, str]]:
    server = OneShotServer()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield server, f"http://127.0.0.1:{port}/api/v1alpha1"
    finally:
        listener.close()
        await listener.wait_closed()


async def test_a_connection_the_server_closed_while_idle_is_not_reused(
    one_shot: tuple[OneShotServer, str],
) -> None:
    server, url = one_shot
    # One attempt: a reused dead connection would fail the read instead of being retried.
    async with DoltHubClient(url, retry=RetryPolicy(attempts=1)) as client:
        assert await client.head_commit("hop", "wl-commons") == "abc123"
        await server.closed.wait()
        # The close may still be in flight on loopback; the pool must see it either way.
        for _ in range(3):
            server.closed.clear()
            assert await client.head_commit("hop", "wl-commons") == "abc123"
            await server.closed.wait()
    assert server.connections == 4


def test_the_environment_names_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    assert environment_proxy("https://www.dolthub.com/api/v1alpha1") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert environment_proxy("https://www.dolthub.com/api/v1alpha1") == (
        "http://proxy.internal:3128"
    )
    assert environment_proxy("http://127.0.0.1:8080/api/v1alpha1") is None
    monkeypatch.setenv("NO_PROXY", "www.dolthub.com")
    assert environment_proxy("https://www.dolthub.com/api/v1alpha1") is None
