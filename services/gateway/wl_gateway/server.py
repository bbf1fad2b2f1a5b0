"""Bootstrap of the gateway: settings, logging, telemetry, clients, the app, uvicorn.

Prints ``gateway listening on http://HOST:PORT`` once it accepts connections (tests
and ``make run`` wait for that line); SIGTERM/SIGINT stop it gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator

import uvicorn
from wasteland_common import logs, telemetry

from .app import create_app
from .clients import GatewayClients
from .settings import GatewaySettings

__all__ = ["GatewaySettings", "main", "serve"]

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn, announcing the address once its sockets accept connections."""

    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self.url = url

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises SIGTERM after its shutdown, which would kill the process
        # before our own cleanup runs; handle the signals on the loop instead.
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.handle_exit, sig, None)
                installed.append(sig)
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            log.info("gateway listening on %s", self.url)
            print(f"gateway listening on {self.url}", flush=True)  # noqa: T201 - readiness line


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on accepted sockets whose
    # proto is IPPROTO_TCP, and without it every keep-alive response stalls ~40 ms on
    # Nagle + delayed ACK (measured with make bench).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


async def serve(settings: GatewaySettings) -> None:
    """Serve the API until SIGTERM/SIGINT, then close every channel and pool."""
    clients = GatewayClients.from_settings(settings)
    app = create_app(settings, clients)
    sock = _bind(settings.http_host, settings.http_port)
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=max(1, int(settings.shutdown_grace_seconds)),
        proxy_headers=False,
    )
    server = _Server(config, f"http://{settings.http_host}:{port}")
    try:
        await server.serve(sockets=[sock])
    finally:
        await app.state.deps.access.stop()
        await clients.close()
        app.state.deps.limiter.close()
        app.state.idempotency.close()
        with contextlib.suppress(OSError):
            sock.close()


def main() -> None:
    """Console entry point ``wl-gateway``."""
    settings = GatewaySettings()
    logs.configure("gateway", settings.log_level, settings.log_format)
    telemetry.configure("gateway", settings)
    # Alembic narrates every plugin it loads at INFO; only problems are worth a line.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    print(  # noqa: T201 - the documented local secret is printed so developers can mint JWTs
        "gateway verifying Kilo JWTs with the configured KILO_JWT_SECRET"
        + (
            " (the local default)"
            if settings.kilo_jwt_secret.get_secret_value() == "dev-secret-change-me"
            else ""
        ),
        flush=True,
    )
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
