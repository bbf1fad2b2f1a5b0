"""ControlService handlers: authorise the executor, validate, delegate, answer."""

from __future__ import annotations

import grpc
from wasteland.v1 import control_pb2, control_pb2_grpc
from wasteland_common import logs
from wasteland_common.auth import Authenticator

from . import operations
from .info import Info
from .operations import Operations

CALLER = "executor"


class ControlServicer(control_pb2_grpc.ControlServiceServicer):  # type: ignore[misc]
    """Only the executor's service identity may call."""

    def __init__(
        self,
        *,
        auth: Authenticator,
        ops: Operations,
        info: Info,
        served_upstream: str,
        wasteland_id: str = "",
    ) -> None:
        self._auth = auth
        self._ops = ops
        self._info = info
        self._served_upstream = served_upstream
        self._wasteland_id = wasteland_id

    def _authorize(self, context: grpc.aio.ServicerContext) -> None:
        self._auth.identify(context.invocation_metadata()).require_service(CALLER)
        if self._wasteland_id:
            # The shared interceptor resets this after the call.
            logs.wasteland_id_var.set(self._wasteland_id)

    async def RunOperation(
        self, request: control_pb2.RunOperationRequest, context: grpc.aio.ServicerContext
    ) -> control_pb2.RunOperationResponse:
        self._authorize(context)
        op = operations.parse_request(request, served_upstream=self._served_upstream)
        result = await self._ops.run(op)
        return control_pb2.RunOperationResponse(result=result)

    async def GetInfo(
        self, request: control_pb2.GetInfoRequest, context: grpc.aio.ServicerContext
    ) -> control_pb2.GetInfoResponse:
        self._authorize(context)
        return self._info.snapshot(in_flight=self._ops.in_flight)
