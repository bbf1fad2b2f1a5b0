"""The gateway's gRPC clients: one reused channel per service, stubs, deadlines, metadata.

Every call carries the gateway's service token, the user's Kilo JWT (when acting for a
user) and the request id, and a deadline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grpc_health.v1 import health_pb2_grpc
from wasteland.v1 import activity_pb2_grpc, board_pb2_grpc, executor_pb2_grpc, registry_pb2_grpc
from wasteland_common.grpc_client import Channels, ServiceCredentials

from .settings import GatewaySettings

SERVICE_NAME = "gateway"
# Readiness: the dependency as shown to operators → (address, gRPC service to check).
REGISTRY_SERVICE = "wasteland.v1.RegistryService"
BOARD_SERVICE = "wasteland.v1.BoardService"
EXECUTOR_SERVICE = "wasteland.v1.ExecutorService"


@dataclass(frozen=True)
class HealthTarget:
    """A backend whose gRPC health the readiness check asks."""

    stub: Any
    service: str


@dataclass
class GatewayClients:
    """Stubs of registry, board-sync and executor, and how to call them."""

    registry: Any
    board: Any
    executor: Any
    # board-sync's ActivityService (the activity log and the event stream).
    activity: Any
    health: Mapping[str, HealthTarget]
    credentials: ServiceCredentials
    rpc_timeout: float
    action_timeout: float
    channels: Channels

    @classmethod
    def connect(
        cls,
        *,
        registry_addr: str,
        board_addr: str,
        executor_addr: str,
        service_secret: str,
        rpc_timeout: float = 10.0,
        action_timeout: float = 30.0,
    ) -> GatewayClients:
        """Clients over lazily connecting channels (nothing is dialled here)."""
        channels = Channels()
        registry_ch = channels.get(registry_addr)
        board_ch = channels.get(board_addr)
        executor_ch = channels.get(executor_addr)
        return cls(
            registry=registry_pb2_grpc.RegistryServiceStub(registry_ch),
            board=board_pb2_grpc.BoardServiceStub(board_ch),
            activity=activity_pb2_grpc.ActivityServiceStub(board_ch),
            executor=executor_pb2_grpc.ExecutorServiceStub(executor_ch),
            health={
                "registry": HealthTarget(health_pb2_grpc.HealthStub(registry_ch), REGISTRY_SERVICE),
                "board-sync": HealthTarget(health_pb2_grpc.HealthStub(board_ch), BOARD_SERVICE),
                "executor": HealthTarget(health_pb2_grpc.HealthStub(executor_ch), EXECUTOR_SERVICE),
            },
            credentials=ServiceCredentials(SERVICE_NAME, service_secret),
            rpc_timeout=rpc_timeout,
            action_timeout=action_timeout,
            channels=channels,
        )

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> GatewayClients:
        """Clients for the addresses and deadlines in ``settings``."""
        return cls.connect(
            registry_addr=settings.registry_addr,
            board_addr=settings.board_addr,
            executor_addr=settings.executor_addr,
            service_secret=settings.service_jwt_secret.get_secret_value(),
            rpc_timeout=settings.rpc_timeout_seconds,
            action_timeout=settings.action_timeout_seconds,
        )

    def metadata(self, user_token: str | None) -> Sequence[tuple[str, str]]:
        """Outgoing metadata: service token, the user's token, the request id."""
        return self.credentials.metadata(user_token)

    def opts(self, user_token: str | None, *, timeout: float | None = None) -> dict[str, Any]:
        """Keyword arguments of one call: metadata and the deadline (the RPC default)."""
        return {
            "metadata": self.metadata(user_token),
            "timeout": self.rpc_timeout if timeout is None else timeout,
        }

    def action_opts(self, user_token: str | None) -> dict[str, Any]:
        """Keyword arguments of an action call (longer deadline than the wait budget)."""
        return self.opts(user_token, timeout=self.action_timeout)

    async def close(self) -> None:
        """Close every channel."""
        await self.channels.close()
