"""The one small interface the executor drives workloads through.

Two implementations: local processes (``runtime_local``, the embedded default) and
Kubernetes (``runtime_kubernetes``). The executor's own state machine (sleeping,
starting, running, stopping, failed) lives in the database; a runtime only starts,
stops and probes the workload itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Endpoint:
    """Where a wasteland's control server answers, and which boot of it this is."""

    host: str
    port: int
    instance_id: str

    @property
    def address(self) -> str:
        """``host:port`` for a gRPC channel."""
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, address: str, instance_id: str) -> Endpoint:
        """The endpoint of a stored ``host:port``; ValueError when malformed."""
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"not a host:port address: {address!r}")
        return cls(host=host, port=int(port), instance_id=instance_id)


class Runtime(Protocol):
    """Starts, stops and probes one workload (control server) per wasteland."""

    async def ensure_running(self, wasteland_id: str, upstream: str) -> Endpoint:
        """Return the live workload of ``wasteland_id``, starting it when there is none.

        Raises a ``wasteland_common.errors`` error (UNAVAILABLE) when it cannot start.
        """
        ...

    async def stop(self, wasteland_id: str) -> None:
        """Stop the workload (gracefully, then forcibly); no-op when none runs."""
        ...

    async def healthy(self, endpoint: Endpoint) -> bool:
        """Whether the workload at ``endpoint`` is alive and answers SERVING."""
        ...

    def running(self) -> list[str]:
        """Wasteland ids whose workload this runtime currently has alive."""
        ...

    async def shutdown(self) -> None:
        """Stop every workload this runtime started (graceful executor shutdown)."""
        ...
