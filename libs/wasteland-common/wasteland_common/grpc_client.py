"""Calling other services: one reused channel per address, metadata and deadlines."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from . import logs
from .auth import (
    REQUEST_ID_METADATA_KEY,
    SERVICE_METADATA_KEY,
    USER_METADATA_KEY,
    mint_service_token,
)

DEFAULT_DEADLINE = 10.0


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
    """Builds outgoing metadata: the caller's user token, our service token, request id."""

    def __init__(self, service: str, secret: str) -> None:
        self._service = service
        self._secret = secret

    def metadata(self, user_token: str | None = None) -> Sequence[tuple[str, str]]:
        """Metadata for one call, forwarding ``user_token`` when acting for a user."""
        items = [
            (
                SERVICE_METADATA_KEY,
                "Bearer " + mint_service_token(self._service, secret=self._secret),
            ),
        ]
        if user_token:
            items.append((USER_METADATA_KEY, "Bearer " + user_token))
        if rid := logs.request_id_var.get():
            items.append((REQUEST_ID_METADATA_KEY, rid))
        return items
