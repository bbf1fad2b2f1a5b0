"""Telling board-sync which wastelands to track (best effort).

board-sync re-reads ``ListActiveWastelands`` when it starts, so a missed call here only
delays tracking until its next start; the registry never fails a user's request
because board-sync is down.
"""

from __future__ import annotations

import logging
from typing import Protocol

import grpc
from wasteland.v1 import board_pb2, board_pb2_grpc
from wasteland_common.grpc_client import Channels, ServiceCredentials

log = logging.getLogger(__name__)


class BoardNotifier(Protocol):
    """What the registry tells board-sync."""

    async def track(self, wasteland_id: str, upstream: str) -> None:
        """Start (or keep) tracking ``upstream`` for ``wasteland_id``; never raises."""

    async def untrack(self, wasteland_id: str) -> None:
        """Stop tracking ``wasteland_id``; never raises."""


class NoBoard:
    """A notifier that tells nobody (tests, or a registry without board-sync)."""

    async def track(self, wasteland_id: str, upstream: str) -> None:
        return None

    async def untrack(self, wasteland_id: str) -> None:
        return None


class GrpcBoard:
    """Calls board-sync's TrackWasteland / UntrackWasteland as service "registry"."""

    def __init__(
        self, channels: Channels, address: str, credentials: ServiceCredentials, timeout: float
    ) -> None:
        self._channels = channels
        self._address = address
        self._credentials = credentials
        self._timeout = timeout

    def _stub(self) -> board_pb2_grpc.BoardServiceStub:
        return board_pb2_grpc.BoardServiceStub(self._channels.get(self._address))

    async def track(self, wasteland_id: str, upstream: str) -> None:
        try:
            await self._stub().TrackWasteland(
                board_pb2.TrackWastelandRequest(wasteland_id=wasteland_id, upstream=upstream),
                metadata=self._credentials.metadata(),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "board-sync TrackWasteland failed for %s (%s); it re-tracks at its next start",
                wasteland_id,
                exc.code().name,
            )

    async def untrack(self, wasteland_id: str) -> None:
        try:
            await self._stub().UntrackWasteland(
                board_pb2.UntrackWastelandRequest(wasteland_id=wasteland_id),
                metadata=self._credentials.metadata(),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "board-sync UntrackWasteland failed for %s (%s)", wasteland_id, exc.code().name
            )
