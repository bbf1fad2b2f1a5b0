"""Telling the executor to stop and remove a wasteland's workload (when the wasteland is
deleted).

The registry owns the wasteland's lifecycle, so a delete stops everything that belongs
to it before it answers: board-sync stops tracking it, the executor stops its workload.
The executor accepts the stop from the registry's service identity alone (the wasteland
is no longer visible to any user by then).
"""

from __future__ import annotations

import logging
from typing import Protocol

import grpc
from wasteland.v1 import executor_pb2, executor_pb2_grpc
from wasteland_common.grpc_client import Channels, ServiceCredentials

log = logging.getLogger(__name__)


class WorkloadNotifier(Protocol):
    """What the registry tells the executor."""

    async def stop(self, wasteland_id: str) -> bool:
        """Stop the wasteland's workload now; whether the executor confirmed it (never
        raises: the executor's idle reconcile is the backstop)."""


class NoWorkloads:
    """A notifier that tells nobody (tests, or a registry without an executor)."""

    async def stop(self, wasteland_id: str) -> bool:
        return True


class GrpcWorkloads:
    """Calls the executor's StopRuntime as service "registry"."""

    def __init__(
        self, channels: Channels, address: str, credentials: ServiceCredentials, timeout: float
    ) -> None:
        self._channels = channels
        self._address = address
        self._credentials = credentials
        self._timeout = timeout

    async def stop(self, wasteland_id: str) -> bool:
        stub = executor_pb2_grpc.ExecutorServiceStub(self._channels.get(self._address))
        try:
            await stub.StopRuntime(
                # Only ever called for a deleted wasteland: remove its workload too.
                executor_pb2.StopRuntimeRequest(wasteland_id=wasteland_id, remove=True),
                metadata=self._credentials.metadata(),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "the executor did not stop the workload of %s (%s); its idle reconcile will",
                wasteland_id,
                exc.code().name,
            )
            return False
        return True
