"""Kilo site admins read every wasteland and change nothing, on every route.

An admin without a membership of their own reads a wasteland as ``viewer`` (the
registry's answer) and may not change it: every POST, PUT, PATCH and DELETE under
``/v1/wastelands/{wasteland_id}/…`` answers 403 PERMISSION_DENIED for them before any
handler, rate limit or backend sees the request. An admin who is also an owner or
member keeps that member's rights. The registry and the executor refuse such changes
too; this guard makes the rule hold at the edge for every route of the app, including
routes added later, without a line in their handlers.

Creating a wasteland (the one mutating route outside a wasteland) is decided by the
registry as for any user: the admin flag grants nothing there either.
"""

from __future__ import annotations

import grpc
from fastapi import Request
from wasteland.v1 import common_pb2, registry_pb2

from .auth import caller
from .errors import ApiError

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READ_ONLY = "site admins may read this wasteland but not change it"


async def read_only_admins(request: Request) -> None:
    """App-wide dependency: PERMISSION_DENIED for a change by an admin without standing."""
    if request.method not in MUTATING_METHODS or not request.url.path.startswith("/v1/"):
        return
    who = await caller(request)
    wasteland_id = request.path_params.get("wasteland_id")
    if not who.principal.is_admin or not wasteland_id:
        return
    clients = request.app.state.deps.clients
    resp = await clients.registry.GetWasteland(
        registry_pb2.GetWastelandRequest(wasteland_id=str(wasteland_id)),
        **clients.opts(who.token),
    )
    # The registry answers "viewer" to an admin exactly when the admin flag is all
    # their standing (a member gets their member's role).
    if resp.wasteland.my_role == common_pb2.MEMBER_ROLE_VIEWER:
        raise ApiError(grpc.StatusCode.PERMISSION_DENIED, READ_ONLY)
