"""Serving the sandbox: in a background thread (tests) or in the foreground (the CLI)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn

from .app import API_PREFIX, create_app
from .config import SandboxConfig


@dataclass(frozen=True)
class RunningSandbox:
    """A sandbox serving on ``host:port``; ``api_url`` is the DoltHub API base URL."""

    host: str
    port: int
    server: uvicorn.Server

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + API_PREFIX


def _bound_port(server: uvicorn.Server) -> int:
    for listener in getattr(server, "servers", []):
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("the server has no listening socket")


def _uvicorn_config(config: SandboxConfig) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(config),
        host=config.host,
        port=config.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )


@contextlib.contextmanager
def run_in_thread(config: SandboxConfig, *, timeout: float = 30.0) -> Iterator[RunningSandbox]:
    """Serve the sandbox from a daemon thread until the ``with`` block ends.

    ``config.port`` may be 0: the sandbox then listens on a free port (see ``.port``)."""
    server = uvicorn.Server(_uvicorn_config(config))
    thread = threading.Thread(target=server.run, name="dolthub-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("dolthub-sandbox did not start")
        time.sleep(0.01)
    try:
        yield RunningSandbox(config.host, _bound_port(server), server)
    finally:
        server.should_exit = True
        thread.join(timeout)


class _AnnouncingServer(uvicorn.Server):
    """Prints the readiness line once the socket is bound."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            host = self.config.host
            # The readiness line process supervisors wait for (stdout, not the log).
            print(f"dolthub-sandbox listening on http://{host}:{_bound_port(self)}", flush=True)  # noqa: T201


def serve_forever(config: SandboxConfig) -> None:
    """Serve in the foreground until SIGINT/SIGTERM."""
    asyncio.run(_AnnouncingServer(_uvicorn_config(config)).serve())
