"""Calling other services: one reused channel per address, metadata and deadlines."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import grpc

from . import logs
from .auth import (
    REQUEST_ID_METADATA_KEY,
    SERVICE_METADATA_KEY,
    USER_METADATA_KEY,
    mint_service_token,
)

DEFAULT_DEADLINE = 10.0
# A service token lives 5 minutes; one is reused for a minute, so every call it rides on
# still has at least 4 minutes left (clock skew, long calls) and verifiers can remember it.
SERVICE_TOKEN_TTL_SECONDS = 300
SERVICE_TOKEN_REUSE_SECONDS = 60


class Channels:
    """Keeps one ``grpc.aio`` channel per target for the process's lifetime."""

    def __init__(self) -> None:
        self._channels: dict[str, grpc.aio.Channel] = {}

    def get(self, target: str) -> grpc.aio.Channel:
        """The shared channel to ``target`` (host:port)."""
        channel = self._channels.get(target)
        if channel is None:
            channel = grpc.aio.insecure_channel(
                target,
                options=[
                    ("grpc.keepalive_time_ms", 30_000),
                    ("grpc.enable_retries", 1),
                ],
            )
            self._channels[target] = channel
        return channel

    async def close(self) -> None:
        """Close every channel."""
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()


class ServiceCredentials:
    """Builds outgoing metadata: the caller's user token, our service token, request id.

    The service token is minted once and reused for ``SERVICE_TOKEN_REUSE_SECONDS``
    (minting is a signature per call otherwise, and the receivers remember a token they
    verified until its expiry)."""

    def __init__(self, service: str, secret: str, now: Callable[[], float] = time.time) -> None:
        self._service = service
        self._secret = secret
        self._now = now
        self._header = ""
        self._minted_at = float("-inf")

    def _service_header(self) -> str:
        now = self._now()
        if not self._minted_at <= now < self._minted_at + SERVICE_TOKEN_REUSE_SECONDS:
            token = mint_service_token(
                self._service,
                secret=self._secret,
                ttl_seconds=SERVICE_TOKEN_TTL_SECONDS,
                now=lambda: now,
            )
            self._header = "Bearer " + token
            self._minted_at = now
        return self._header

    def metadata(self, user_token: str | None = None) -> Sequence[tuple[str, str]]:
        """Metadata for one call, forwarding ``user_token`` when acting for a user."""
        items = [(SERVICE_METADATA_KEY, self._service_header())]
        if user_token:
            items.append((USER_METADATA_KEY, "Bearer " + user_token))
        if rid := logs.request_id_var.get():
            items.append((REQUEST_ID_METADATA_KEY, rid))
        return items
