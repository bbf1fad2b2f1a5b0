"""Calling a registry over a real gRPC channel with minted tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2
from wasteland.v1 import registry_pb2_grpc
from wasteland_common.auth import OrgRole, mint_service_token, mint_user_token

TIMEOUT = 30.0
# Long enough that PyJWT does not warn (tests turn warnings into errors).
USER_SECRET = "registry-tests-kilo-jwt-secret-0123456789"
SERVICE_SECRET = "registry-tests-service-jwt-secret-0123456789"
# Test modules mint their metadata at import, and the whole suite can take longer than a
# real service token's five minutes between collection and a test's run.
TOKEN_TTL = 24 * 3600


def metadata(
    user: str | None = None,
    *,
    service: str | None = "gateway",
    orgs: Sequence[tuple[str, OrgRole]] = (),
    admin: bool = False,
) -> list[tuple[str, str]]:
    """Metadata as a calling service would send it (user JWT and/or service JWT)."""
    items: list[tuple[str, str]] = []
    if service:
        token = mint_service_token(service, secret=SERVICE_SECRET, ttl_seconds=TOKEN_TTL)
        items.append(("x-service-authorization", f"Bearer {token}"))
    if user:
        jwt = mint_user_token(
            user, secret=USER_SECRET, orgs=orgs, is_admin=admin, ttl_seconds=TOKEN_TTL
        )
        items.append(("authorization", f"Bearer {jwt}"))
    return items


@dataclass
class Registry:
    """A stub on a channel to a running registry."""

    channel: grpc.aio.Channel
    stub: Any

    @classmethod
    def connect(cls, port: int) -> Registry:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        return cls(channel, registry_pb2_grpc.RegistryServiceStub(channel))

    async def call(self, method: str, request: Any, md: list[tuple[str, str]]) -> Any:
        return await getattr(self.stub, method)(request, metadata=md, timeout=TIMEOUT)

    async def fails(
        self, method: str, request: Any, md: list[tuple[str, str]]
    ) -> grpc.aio.AioRpcError:
        try:
            await self.call(method, request, md)
        except grpc.aio.AioRpcError as exc:
            return exc
        raise AssertionError(f"{method} succeeded")


def bad_fields(error: grpc.aio.AioRpcError) -> list[str]:
    """The field names of a BadRequest detail in a failed call's status."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            fields: list[str] = []
            for detail in status.details:
                bad = error_details_pb2.BadRequest()
                if detail.Unpack(bad):
                    fields += [v.field for v in bad.field_violations]
            return fields
    return []
