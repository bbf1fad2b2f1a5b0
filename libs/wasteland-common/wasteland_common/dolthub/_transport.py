"""The connection pool of :class:`~wasteland_common.dolthub.DoltHubClient`.

httpx's own transport, with two differences:

- proxies come from the environment (``HTTPS_PROXY``, ``NO_PROXY``…), as
  ``httpx.AsyncClient`` would take them, since the client talks to the transport directly;
- the pool's network streams answer httpcore's "is this idle connection readable?" from
  a socket looked up once. httpcore asks it of every pooled connection on every request
  and response; anyio's stream rebuilds its whole attribute table for each answer (a
  ``getpeername`` call included), which was a sixth of an idle poll's CPU in board-sync
  (profiled with cProfile against the sandbox).
"""

# httpcore's network interface takes `timeout` arguments; these classes implement it.
# ruff: noqa: ASYNC109

from __future__ import annotations

import select
import socket
import ssl
import typing
import urllib.request
from urllib.parse import urlsplit

import httpcore
import httpx


def environment_proxy(base_url: str) -> str | None:
    """The proxy the environment names for ``base_url`` (None: connect directly)."""
    parts = urlsplit(base_url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy is None or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


def pool(limits: httpx.Limits, base_url: str) -> httpx.AsyncHTTPTransport:
    """An httpx transport for ``base_url`` (see the module)."""
    proxy = environment_proxy(base_url)
    transport = httpx.AsyncHTTPTransport(limits=limits, proxy=proxy)
    if proxy is None:
        # httpx takes no network backend, so its pool is replaced with the same one
        # over ours; should httpx rename the attribute, this only loses the speed-up.
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )
    return transport


def _readable(sock: socket.socket | None) -> bool:
    """Whether ``sock`` has something to read (or is gone): an idle HTTP/1.1 connection
    that is readable was closed by the server."""
    if sock is None or sock.fileno() == -1:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class _Stream(httpcore.AsyncNetworkStream):
    """anyio's stream, with its raw socket looked up once."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            return _readable(self._socket)
        return self._inner.get_extra_info(info)


class _Backend(httpcore.AsyncNetworkBackend):
    """anyio's network backend, handing out :class:`_Stream` s."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(
            await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
