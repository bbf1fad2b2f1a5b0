"""What callers see of, and ask of, a wasteland's workload: status, wake, stop."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from wasteland.v1 import common_pb2, executor_pb2
from wasteland_common import activity, errors
from wasteland_common.auth import CallerIdentity
from wasteland_common.db import run_in_session

from . import access, reconcile, store
from .deps import ExecutorDeps
from .runtime import Endpoint

STATES: dict[str, common_pb2.RuntimeState] = {
    "sleeping": common_pb2.RUNTIME_STATE_SLEEPING,
    "starting": common_pb2.RUNTIME_STATE_STARTING,
    "running": common_pb2.RUNTIME_STATE_RUNNING,
    "stopping": common_pb2.RUNTIME_STATE_STOPPING,
    "failed": common_pb2.RUNTIME_STATE_FAILED,
}
OWNING_ROLES = (common_pb2.MEMBER_ROLE_OWNER, common_pb2.MEMBER_ROLE_MAINTAINER)


async def describe(deps: ExecutorDeps, wasteland_id: str) -> Any:
    """The RuntimeStatus of ``wasteland_id`` (SLEEPING when it never ran); the `wl`
    version comes from the live workload when it answers."""
    record = await run_in_session(deps.sessions, store.get_runtime, wasteland_id)
    status = executor_pb2.RuntimeStatus(
        wasteland_id=wasteland_id, state=common_pb2.RUNTIME_STATE_SLEEPING
    )
    if record is None:
        return status
    status.state = STATES[record.state]
    status.instance_id = record.instance_id or ""
    if record.last_activity_at is not None:
        status.last_activity_at.FromDatetime(record.last_activity_at)
    if record.started_at is not None:
        status.started_at.FromDatetime(record.started_at)
    if record.state == "running" and record.endpoint and record.instance_id:
        with contextlib.suppress(ValueError):
            info = await deps.peers.control_info(
                Endpoint.parse(record.endpoint, record.instance_id)
            )
            if info is not None:
                status.wl_version = info.wl_version
    return status


async def runtime_status(deps: ExecutorDeps, caller: CallerIdentity, wasteland_id: str) -> Any:
    """GetRuntime: the workload's status for a user who may see the wasteland."""
    _, user_token = access.user_call(caller)
    wasteland_id = access.wasteland_id(wasteland_id)
    await deps.peers.get_wasteland(user_token, wasteland_id)
    return await describe(deps, wasteland_id)


async def wake_for_user(deps: ExecutorDeps, caller: CallerIdentity, wasteland_id: str) -> Any:
    """WakeRuntime: start waking the workload ahead of an action and report its status.

    Waits a short while for the wake; a slow wake continues in the background (the
    answer then says STARTING). A refusal within that time (cap, start failure) is
    raised. A site admin without a membership reads but never wakes (PERMISSION_DENIED).
    """
    principal, user_token = access.user_call(caller)
    activity.actor_var.set(principal.user_id)  # the wake is this user's doing
    wasteland_id = access.wasteland_id(wasteland_id)
    wasteland = await deps.peers.get_wasteland(user_token, wasteland_id)
    if principal.is_admin and wasteland.my_role == common_pb2.MEMBER_ROLE_VIEWER:
        # The registry answers "viewer" to an admin exactly when the admin flag is all
        # their standing (an admin who is also a member gets their member's role).
        raise errors.PermissionDenied(
            "site admins may read this wasteland but not wake its workload"
        )
    if not wasteland.upstream:
        raise errors.FailedPrecondition("the wasteland has no commons yet")
    task = deps.spawn(reconcile.wake(deps, wasteland_id, wasteland.upstream))
    done, _ = await asyncio.wait({task}, timeout=deps.limits.wake_wait_seconds)
    if done:
        task.result()
    return await describe(deps, wasteland_id)


async def stop_for_caller(deps: ExecutorDeps, caller: CallerIdentity, wasteland_id: str) -> Any:
    """StopRuntime: internal services (the gateway on delete) or the wasteland's owner."""
    service = caller.require_service(*access.KNOWN_SERVICES)
    wasteland_id = access.wasteland_id(wasteland_id)
    if caller.principal is None:
        if service not in access.STOPPING_SERVICES:
            raise errors.PermissionDenied("this service may not stop workloads")
    else:
        principal, user_token = access.user_call(caller)
        activity.actor_var.set(principal.user_id)
        wasteland = await deps.peers.get_wasteland(user_token, wasteland_id)
        if wasteland.my_role not in OWNING_ROLES:
            raise errors.PermissionDenied("only the wasteland's owners may stop its workload")
    await reconcile.stop_now(deps, wasteland_id)
    return await describe(deps, wasteland_id)
