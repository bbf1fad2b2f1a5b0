"""In-process stand-ins for the executor's peers, implementing the proto services.

They run behind the shared gRPC bootstrap (so their domain errors reach the executor as
real rich statuses) and check the caller's identity the way the real services do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import grpc
from wasteland.v1 import (
    activity_pb2,
    activity_pb2_grpc,
    board_pb2,
    board_pb2_grpc,
    common_pb2,
    control_pb2,
    control_pb2_grpc,
    registry_pb2,
    registry_pb2_grpc,
)
from wasteland_common import errors
from wasteland_common.auth import Authenticator
from wl_executor.runtime import Endpoint, Workload

JWT_SECRET = "user-secret-for-executor-tests-0123456789"
SERVICE_SECRET = "service-secret-for-executor-tests-0123456789"
TOKEN = "dolt-secret-7f3a9c2e1b44"  # a shape the log redaction patterns do not know
UPSTREAM = "hop/wl-commons"


def authenticator() -> Authenticator:
    return Authenticator(
        user_secret=JWT_SECRET, audience="wasteland", service_secret=SERVICE_SECRET
    )


@dataclass
class RegistryState:
    """What the fake registry knows: visible wastelands per user and credentials."""

    # wasteland_id -> {user_id: role}
    members: dict[str, dict[str, common_pb2.MemberRole]] = field(default_factory=dict)
    credentials: dict[tuple[str, str], tuple[str, str, str]] = field(default_factory=dict)
    registered: set[tuple[str, str]] = field(default_factory=set)
    recorded_rigs: list[tuple[str, str, str]] = field(default_factory=list)
    authorize_calls: int = 0
    # wasteland_id -> its upstream credential's token
    upstream_tokens: dict[str, str] = field(default_factory=dict)


class FakeRegistry(registry_pb2_grpc.RegistryServiceServicer):  # type: ignore[misc]
    def __init__(self, state: RegistryState) -> None:
        self.state = state
        self.auth = authenticator()

    def _wasteland(self, wasteland_id: str, user_id: str) -> Any:
        roles = self.state.members.get(wasteland_id)
        if roles is None or user_id not in roles:
            raise errors.NotFound("wasteland not found")
        return common_pb2.Wasteland(
            wasteland_id=wasteland_id,
            name=wasteland_id,
            upstream=UPSTREAM,
            status=common_pb2.WASTELAND_STATUS_ACTIVE,
            my_role=roles[user_id],
        )

    async def GetWasteland(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = self.auth.identify(context.invocation_metadata())
        user = caller.require_user()
        return registry_pb2.GetWastelandResponse(
            wasteland=self._wasteland(request.wasteland_id, user.user_id)
        )

    async def AuthorizeAction(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = self.auth.identify(context.invocation_metadata())
        caller.require_service("executor")
        user = caller.require_user()
        self.state.authorize_calls += 1
        wasteland = self._wasteland(request.wasteland_id, user.user_id)
        credential = self.state.credentials.get((request.wasteland_id, user.user_id))
        upstream_token = self.state.upstream_tokens.get(request.wasteland_id, "")
        pull_kinds = (common_pb2.OPERATION_KIND_MERGE_PULL, common_pb2.OPERATION_KIND_CLOSE_PULL)
        if credential is None and request.kind in pull_kinds and upstream_token:
            credential = ("", "", "")
        if credential is None:
            raise errors.FailedPrecondition("connect DoltHub first")
        token, org, rig = credential
        return registry_pb2.AuthorizeActionResponse(
            wasteland=wasteland,
            role=wasteland.my_role,
            user_id=user.user_id,
            rig_handle=rig,
            dolthub_org=org,
            dolthub_token=token,
            rig_registered=(request.wasteland_id, user.user_id) in self.state.registered,
            upstream_token=upstream_token,
        )

    async def RecordRig(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = self.auth.identify(context.invocation_metadata())
        caller.require_service("executor")
        self.state.recorded_rigs.append((request.wasteland_id, request.user_id, request.rig_handle))
        self.state.registered.add((request.wasteland_id, request.user_id))
        return registry_pb2.RecordRigResponse(
            member=common_pb2.Member(user_id=request.user_id, rig_handle=request.rig_handle)
        )


@dataclass
class BoardState:
    refreshed: list[str] = field(default_factory=list)
    fail: bool = False
    # Activities recorded through ActivityService, in arrival order.
    activities: list[Any] = field(default_factory=list)


class FakeActivity(activity_pb2_grpc.ActivityServiceServicer):  # type: ignore[misc]
    """board-sync's activity log: keeps each event id once."""

    def __init__(self, state: BoardState) -> None:
        self.state = state
        self.auth = authenticator()

    async def RecordActivity(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self.auth.identify(context.invocation_metadata()).require_service("executor")
        known = {a.event_id for a in self.state.activities}
        if request.activity.event_id not in known:
            self.state.activities.append(request.activity)
        return activity_pb2.RecordActivityResponse(
            activity=request.activity, recorded=request.activity.event_id not in known
        )


class FakeBoard(board_pb2_grpc.BoardServiceServicer):  # type: ignore[misc]
    def __init__(self, state: BoardState) -> None:
        self.state = state
        self.auth = authenticator()

    async def RefreshWasteland(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = self.auth.identify(context.invocation_metadata())
        caller.require_service("gateway", "executor", "registry")
        self.state.refreshed.append(request.wasteland_id)
        if self.state.fail:
            raise errors.Unavailable("DoltHub is unreachable; try again later", retry_after=30)
        return board_pb2.RefreshWastelandResponse(head_commit="abc", changed=True)


@dataclass
class ControlState:
    """Calls the fake control server received; ``held`` wanted ids wait for ``release``."""

    calls: list[Any] = field(default_factory=list)
    held: set[str] = field(default_factory=set)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    taken: set[str] = field(default_factory=set)
    raise_code: dict[str, errors.DomainError] = field(default_factory=dict)
    # The upstream pull request a successful action reports (empty: none).
    pull_request_url: str = ""


class FakeControl(control_pb2_grpc.ControlServiceServicer):  # type: ignore[misc]
    def __init__(self, state: ControlState) -> None:
        self.state = state
        self.auth = authenticator()

    async def RunOperation(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = self.auth.identify(context.invocation_metadata())
        caller.require_service("executor")
        copy = control_pb2.RunOperationRequest()
        copy.CopyFrom(request)
        self.state.calls.append(copy)
        if request.wanted_id in self.state.raise_code:
            raise self.state.raise_code[request.wanted_id]
        if request.wanted_id in self.state.held:
            await self.state.release.wait()
        rig = request.credential.rig_handle
        if request.wanted_id in self.state.taken:
            result = common_pb2.OperationResult(
                operation_id=request.operation_id,
                status=common_pb2.OPERATION_STATUS_FAILED,
                kind=request.kind,
                wanted_id=request.wanted_id,
                error=f"{request.wanted_id} is already claimed",
                error_code="ABORTED",
            )
        else:
            result = common_pb2.OperationResult(
                operation_id=request.operation_id,
                status=common_pb2.OPERATION_STATUS_SUCCEEDED,
                kind=request.kind,
                wanted_id=request.wanted_id,
                branch=f"wl/{rig}/{request.wanted_id}",
                rig_handle=rig if request.kind == common_pb2.OPERATION_KIND_JOIN else "",
                pull_request_url=self.state.pull_request_url,
            )
        return control_pb2.RunOperationResponse(result=result)

    async def GetInfo(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = self.auth.identify(context.invocation_metadata())
        caller.require_service("executor")
        return control_pb2.GetInfoResponse(wl_version="0.9-test", instance_id="fake-control")


class FakeRuntime:
    """Runtime whose every workload is the one in-process fake control server."""

    name = "fake"
    outlives_executor = False

    def __init__(self, control_port: int) -> None:
        self.port = control_port
        self.alive: dict[str, Endpoint] = {}
        self.starts = 0
        self.fail_start = False
        self.unhealthy: set[str] = set()
        # When the unhealthy workloads started (re)starting; None: long ago.
        self.unready_since: datetime | None = None

    async def ensure_running(self, wasteland_id: str, upstream: str) -> Endpoint:
        if wasteland_id in self.alive:
            return self.alive[wasteland_id]
        if self.fail_start:
            raise errors.Unavailable("the wasteland's workload exited while starting")
        self.starts += 1
        endpoint = Endpoint("127.0.0.1", self.port, f"fake-{wasteland_id}-{self.starts}")
        self.alive[wasteland_id] = endpoint
        return endpoint

    async def stop(self, wasteland_id: str) -> None:
        self.alive.pop(wasteland_id, None)

    async def healthy(self, endpoint: Endpoint) -> bool:
        return any(
            e.instance_id == endpoint.instance_id and w not in self.unhealthy
            for w, e in self.alive.items()
        )

    def running(self) -> list[str]:
        return sorted(self.alive)

    async def observe(self) -> dict[str, Workload]:
        return {
            w: Workload(wasteland_id=w, ready=e, unready_since=None)
            if w not in self.unhealthy
            else Workload(wasteland_id=w, ready=None, unready_since=self.unready_since)
            for w, e in self.alive.items()
        }

    async def shutdown(self) -> None:
        self.alive.clear()
