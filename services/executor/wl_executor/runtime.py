"""The one small interface the executor drives workloads through.

Two implementations: local processes (``runtime_local``, the embedded default) and
Kubernetes (``runtime_kubernetes``). The executor's own state machine (sleeping,
starting, running, stopping, failed) lives in the database; a runtime starts and stops
workloads and reports what is actually awake (:meth:`Runtime.observe`), which the
reconcile loop compares with the database, level by level, on every pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
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


@dataclass(frozen=True)
class Workload:
    """One awake workload (asked to run) as the runtime observes it right now."""

    wasteland_id: str
    # The instance that answers; None while none does (starting, restarting, hung).
    ready: Endpoint | None
    # Since when the workload has been (re)starting without answering, when known; None
    # means "long enough to judge it".
    unready_since: datetime | None = None


class Runtime(Protocol):
    """Starts, stops and observes one workload (control server) per wasteland."""

    # A label for metrics and logs ("local", "kubernetes").
    name: str
    # True when workloads outlive the executor process (a cluster): after a restart the
    # executor adopts what it finds instead of assuming everything stopped.
    outlives_executor: bool

    async def ensure_running(self, wasteland_id: str, upstream: str) -> Endpoint:
        """Return the live workload of ``wasteland_id``, starting it when there is none.

        Raises a ``wasteland_common.errors`` error (UNAVAILABLE) when it cannot start in
        its bounded time.
        """
        ...

    async def stop(self, wasteland_id: str) -> None:
        """Stop the workload (gracefully, then forcibly); no-op when none runs."""
        ...

    async def observe(self) -> Mapping[str, Workload]:
        """Every workload that is awake now, by wasteland id, whoever started it."""
        ...

    async def shutdown(self) -> None:
        """Release what this process holds (the local runtime stops its children)."""
        ...
