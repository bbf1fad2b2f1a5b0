"""The executor's calls to other services, each with a deadline and our service identity.

A peer's domain error (it carries a rich ``google.rpc.Status``) passes through to our
caller with its code, message, field violations and retry hint; a transport failure
becomes UNAVAILABLE. Nothing here logs a request or response: AuthorizeAction answers
carry a decrypted DoltHub token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2
from wasteland.v1 import (
    board_pb2,
    board_pb2_grpc,
    common_pb2,
    control_pb2,
    control_pb2_grpc,
    registry_pb2,
    registry_pb2_grpc,
)
from wasteland_common import errors
from wasteland_common.grpc_client import Channels, ServiceCredentials
from wasteland_common.logs import redact

from .runtime import Endpoint

log = logging.getLogger(__name__)

DETAILS_KEY = "grpc-status-details-bin"
# Transport-level outcomes: the peer never answered with a decision of its own.
_TRANSPORT = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.UNKNOWN,
}


def _rich_status(exc: grpc.aio.AioRpcError) -> Any:
    metadata = exc.trailing_metadata()
    if not metadata:
        return None
    for key, value in metadata:
        if key == DETAILS_KEY and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except Exception:  # a malformed detail is ignored, not fatal
                return None
    return None


def from_rpc_error(exc: grpc.aio.AioRpcError, peer: str) -> errors.DomainError:
    """The domain error to answer our caller with after ``peer`` failed a call."""
    code = exc.code()
    rich = _rich_status(exc)
    if rich is None and code in _TRANSPORT:
        log.warning("%s call failed: %s", peer, code.name)
        return errors.Unavailable(f"{peer} is unavailable; try again later", retry_after=5)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        # We validated the user's JWT ourselves with the same secret, so this means the
        # peer refused our service identity: a deployment fault, not the user's.
        log.error("%s refused the executor's credentials", peer)
        return errors.DomainError(f"{peer} refused the call", code=grpc.StatusCode.INTERNAL)
    violations: list[errors.FieldViolation] = []
    retry_after: float | None = None
    message = redact(exc.details() or code.name.lower())
    if rich is not None:
        message = redact(rich.message or message)
        for detail in rich.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations.extend(
                    errors.FieldViolation(v.field, redact(v.description))
                    for v in bad.field_violations
                )
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                info = error_details_pb2.RetryInfo()
                detail.Unpack(info)
                retry_after = float(info.retry_delay.seconds) or 1.0
    if code == grpc.StatusCode.UNAVAILABLE and retry_after is None:
        retry_after = 5.0
    return errors.DomainError(message, violations, retry_after, code)


@dataclass
class Peers:
    """Clients of the registry, board-sync and the wasteland control servers."""

    channels: Channels
    credentials: ServiceCredentials
    registry_addr: str
    board_addr: str
    call_timeout: float = 10.0
    board_refresh_timeout: float = 15.0
    control_info_timeout: float = 3.0
    _control: dict[str, grpc.aio.Channel] = field(default_factory=dict)

    # --- registry -------------------------------------------------------------------

    async def authorize_action(
        self, user_token: str, wasteland_id: str, kind: common_pb2.OperationKind, wanted_id: str
    ) -> registry_pb2.AuthorizeActionResponse:
        """registry.AuthorizeAction for the calling user (the answer holds their token)."""
        stub = registry_pb2_grpc.RegistryServiceStub(self.channels.get(self.registry_addr))
        request = registry_pb2.AuthorizeActionRequest(
            wasteland_id=wasteland_id, kind=kind, wanted_id=wanted_id
        )
        try:
            answer: registry_pb2.AuthorizeActionResponse = await stub.AuthorizeAction(
                request,
                metadata=self.credentials.metadata(user_token),
                timeout=self.call_timeout,
            )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, "the registry") from None
        return answer

    async def get_wasteland(self, user_token: str, wasteland_id: str) -> common_pb2.Wasteland:
        """registry.GetWasteland as the user: the access check (NOT_FOUND passes through)."""
        stub = registry_pb2_grpc.RegistryServiceStub(self.channels.get(self.registry_addr))
        try:
            reply = await stub.GetWasteland(
                registry_pb2.GetWastelandRequest(wasteland_id=wasteland_id),
                metadata=self.credentials.metadata(user_token),
                timeout=self.call_timeout,
            )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, "the registry") from None
        wasteland: common_pb2.Wasteland = reply.wasteland
        return wasteland

    async def record_rig(
        self, user_token: str | None, wasteland_id: str, user_id: str, rig_handle: str
    ) -> None:
        """registry.RecordRig after a join registered ``rig_handle``."""
        stub = registry_pb2_grpc.RegistryServiceStub(self.channels.get(self.registry_addr))
        try:
            await stub.RecordRig(
                registry_pb2.RecordRigRequest(
                    wasteland_id=wasteland_id, user_id=user_id, rig_handle=rig_handle
                ),
                metadata=self.credentials.metadata(user_token),
                timeout=self.call_timeout,
            )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, "the registry") from None

    async def record_town(
        self, wasteland_id: str, town_id: str, *, registered: bool, pull_request_url: str
    ) -> None:
        """registry.RecordTown after a town's registration succeeded or failed."""
        stub = registry_pb2_grpc.RegistryServiceStub(self.channels.get(self.registry_addr))
        try:
            await stub.RecordTown(
                registry_pb2.RecordTownRequest(
                    wasteland_id=wasteland_id,
                    town_id=town_id,
                    registered=registered,
                    pull_request_url=pull_request_url,
                ),
                metadata=self.credentials.metadata(None),
                timeout=self.call_timeout,
            )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, "the registry") from None

    # --- board-sync -----------------------------------------------------------------

    async def refresh_board(
        self, wasteland_id: str, change: board_pb2.VerifiedChange | None = None
    ) -> None:
        """board-sync.RefreshWasteland (returns once the cache holds the new head, or the
        verified ``change`` in its pending overlay).

        A service call: it acts for no user, so no user JWT (which may have expired
        during a long operation) can make it fail.
        """
        stub = board_pb2_grpc.BoardServiceStub(self.channels.get(self.board_addr))
        try:
            await stub.RefreshWasteland(
                board_pb2.RefreshWastelandRequest(wasteland_id=wasteland_id, change=change),
                metadata=self.credentials.metadata(None),
                timeout=self.board_refresh_timeout,
            )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, "board-sync") from None

    # --- control servers ------------------------------------------------------------

    def _control_stub(self, endpoint: Endpoint) -> control_pb2_grpc.ControlServiceStub:
        channel = self._control.get(endpoint.address)
        if channel is None:
            channel = grpc.aio.insecure_channel(endpoint.address)
            self._control[endpoint.address] = channel
        return control_pb2_grpc.ControlServiceStub(channel)

    async def run_operation(
        self, endpoint: Endpoint, request: control_pb2.RunOperationRequest, *, limit: float
    ) -> common_pb2.OperationResult:
        """control.RunOperation; a failed call comes back as a FAILED OperationResult.

        Only the executor's service identity is sent: the control server needs no user
        JWT (the user was authorized by the registry) and is not given the user secret.
        """
        try:
            reply = await self._control_stub(endpoint).RunOperation(
                request, metadata=self.credentials.metadata(None), timeout=limit
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                failure: errors.DomainError = errors.DeadlineExceeded(
                    "the operation did not finish in time; check the board before retrying"
                )
            else:
                failure = from_rpc_error(exc, "the wasteland's workload")
            return common_pb2.OperationResult(
                operation_id=request.operation_id,
                status=common_pb2.OPERATION_STATUS_FAILED,
                kind=request.kind,
                wanted_id=request.wanted_id,
                error=failure.message,
                error_code=failure.code.name,
            )
        result: common_pb2.OperationResult = reply.result
        return result

    async def control_info(self, endpoint: Endpoint) -> control_pb2.GetInfoResponse | None:
        """control.GetInfo, or None when the workload does not answer."""
        try:
            info: control_pb2.GetInfoResponse = await self._control_stub(endpoint).GetInfo(
                control_pb2.GetInfoRequest(),
                metadata=self.credentials.metadata(None),
                timeout=self.control_info_timeout,
            )
        except grpc.aio.AioRpcError as exc:
            log.info("GetInfo on %s failed: %s", endpoint.address, exc.code().name)
            return None
        return info

    async def forget_control(self, endpoint: Endpoint) -> None:
        """Close the channel to a workload that stopped."""
        channel = self._control.pop(endpoint.address, None)
        if channel is not None:
            await channel.close()

    async def close(self) -> None:
        """Close every channel."""
        for channel in self._control.values():
            await channel.close()
        self._control.clear()
        await self.channels.close()
