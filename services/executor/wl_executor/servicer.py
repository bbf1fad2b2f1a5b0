"""ExecutorService: thin gRPC handlers over ``operations`` and ``workloads``."""

from __future__ import annotations

from typing import Any

import grpc
from wasteland.v1 import executor_pb2, executor_pb2_grpc
from wasteland_common.auth import Authenticator

from . import operations, workloads
from .deps import ExecutorDeps

SERVICE_NAME = "wasteland.v1.ExecutorService"


class ExecutorServicer(executor_pb2_grpc.ExecutorServiceServicer):  # type: ignore[misc]
    """Identify the caller, call one domain function, wrap the answer."""

    def __init__(self, deps: ExecutorDeps, authenticator: Authenticator) -> None:
        self._deps = deps
        self._auth = authenticator

    async def Execute(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = self._auth.identify(context.invocation_metadata())
        result = await operations.execute(self._deps, caller, request)
        return executor_pb2.ExecuteResponse(result=result)

    async def GetOperation(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = self._auth.identify(context.invocation_metadata())
        result = await operations.get_operation(self._deps, caller, request.operation_id)
        return executor_pb2.GetOperationResponse(result=result)

    async def GetRuntime(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = self._auth.identify(context.invocation_metadata())
        status = await workloads.runtime_status(self._deps, caller, request.wasteland_id)
        return executor_pb2.GetRuntimeResponse(runtime=status)

    async def WakeRuntime(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = self._auth.identify(context.invocation_metadata())
        status = await workloads.wake_for_user(self._deps, caller, request.wasteland_id)
        return executor_pb2.WakeRuntimeResponse(runtime=status)

    async def StopRuntime(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = self._auth.identify(context.invocation_metadata())
        status = await workloads.stop_for_caller(
            self._deps, caller, request.wasteland_id, remove=request.remove
        )
        return executor_pb2.StopRuntimeResponse(runtime=status)
