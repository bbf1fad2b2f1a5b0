"""Request ids, one access log line per request, and the last-resort error answer.

The outermost middleware: it gives each request an id (the client's ``X-Request-Id`` when
it is sane, else a fresh one), puts it into the log context (from where the gRPC
clients forward it as ``x-request-id``), echoes it on every response, and turns anything
that escaped the exception handlers into the ``INTERNAL`` envelope, logged once.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from wasteland_common import logs

from .errors import internal_error_body

log = logging.getLogger("wl_gateway.access")
HEADER = "X-Request-Id"
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def new_request_id() -> str:
    """A fresh request id."""
    return uuid.uuid4().hex


def accepted_request_id(value: str | None, generate: Callable[[], str] = new_request_id) -> str:
    """The client's request id if it is short and plain, else a generated one."""
    if value is not None and _SANE.fullmatch(value):
        return value
    return generate()


class RequestIdMiddleware:
    """See the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = None
        for key, value in scope.get("headers", ()):
            if key.lower() == b"x-request-id":
                raw = value.decode("latin-1")
                break
        request_id = accepted_request_id(raw)
        token = logs.request_id_var.set(request_id)
        started = time.monotonic()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                headers[HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if status == 0:
                body = internal_error_body()
                status = 500
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (HEADER.lower().encode(), request_id.encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
        finally:
            log.info(
                "%s %s %d",
                scope.get("method"),
                scope.get("path"),
                status,
                extra={"status": status, "duration_ms": round((time.monotonic() - started) * 1000)},
            )
            logs.request_id_var.reset(token)
