"""Kubernetes runtime (one Deployment scaled 0↔1 plus a Service per wasteland).

Not built yet: it arrives with the Helm chart. Selecting ``RUNTIME=kubernetes`` starts
the executor, and every call that needs a workload answers UNIMPLEMENTED.
"""

from __future__ import annotations

from wasteland_common import errors

from .runtime import Endpoint

MESSAGE = "kubernetes runtime arrives with the Helm chart issue"


class KubernetesRuntime:
    """Placeholder implementing the Runtime protocol by refusing."""

    async def ensure_running(self, wasteland_id: str, upstream: str) -> Endpoint:
        raise errors.Unimplemented(MESSAGE)

    async def stop(self, wasteland_id: str) -> None:
        raise errors.Unimplemented(MESSAGE)

    async def healthy(self, endpoint: Endpoint) -> bool:
        raise errors.Unimplemented(MESSAGE)

    def running(self) -> list[str]:
        return []

    async def shutdown(self) -> None:
        return None
