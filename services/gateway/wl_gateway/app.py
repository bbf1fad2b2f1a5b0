"""The public HTTP API: every route of ``api.md`` is listed in this file.

Handlers are thin: parse (FastAPI + ``schemas``), call one gRPC method (board reads call
the registry first as the access check), build the JSON. Errors are raised, never
caught here: ``errors.install`` maps them to the envelope and status ``api.md`` defines.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import grpc
from fastapi import APIRouter, Body, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from grpc_health.v1 import health_pb2
from sse_starlette import EventSourceResponse
from wasteland.v1 import activity_pb2, board_pb2, common_pb2, executor_pb2, registry_pb2
from wasteland_common import enums
from wasteland_common.activity import ActivityKindName, kind_number
from wasteland_common.vocabulary import PullStateName

from . import schemas
from .access import AccessCache, AccessFollower
from .admins import read_only_admins
from .auth import Caller, TokenVerifier, bearer_scheme, caller, precheck
from .bodylimit import BodyLimitMiddleware
from .clients import GatewayClients
from .errors import ApiError, code_by_name, install
from .httpmetrics import HttpMetricsMiddleware
from .httpmetrics import router as metrics_router
from .idempotency import IdempotencyMiddleware, IdempotencyStore
from .ratelimit import Clock, Operation, Policy, RateLimiter
from .requestid import RequestIdMiddleware
from .settings import GatewaySettings

log = logging.getLogger(__name__)

API_TITLE = "Hosted Wasteland API"
API_VERSION = "1.0.0"


@dataclass(frozen=True)
class Deps:
    """What the handlers work with; stored on ``app.state.deps``."""

    settings: GatewaySettings
    clients: GatewayClients
    limiter: RateLimiter
    # Board reads' access decisions, dropped on the registry's access changes.
    access: AccessFollower


async def get_deps(request: Request) -> Deps:
    """FastAPI dependency: the app's ``Deps`` (async: a plain ``def`` dependency would
    run in the thread pool, a thread hand-off on every request)."""
    deps: Deps = request.app.state.deps
    return deps


DepsDep = Annotated[Deps, Depends(get_deps)]
CallerDep = Annotated[Caller, Depends(caller)]

# ------------------------------------------------------------------ parameter shapes
WastelandId = Annotated[
    str, Path(min_length=1, max_length=schemas.ID_MAX, pattern=schemas.ID_PATTERN)
]
WantedId = Annotated[str, Path(min_length=1, max_length=schemas.ID_MAX, pattern=schemas.ID_PATTERN)]
OperationId = Annotated[
    str, Path(min_length=1, max_length=schemas.ID_MAX, pattern=schemas.ID_PATTERN)
]
TownId = Annotated[str, Path(min_length=1, max_length=schemas.ID_MAX, pattern=schemas.ID_PATTERN)]
PullId = Annotated[str, Path(min_length=1, max_length=20, pattern=schemas.PULL_ID_PATTERN)]
UserId = Annotated[str, Path(min_length=1, max_length=schemas.ID_MAX, pattern=r"^[^\s/]+$")]
PageSize = Annotated[int, Query(ge=1, le=schemas.PAGE_SIZE_MAX)]
PageToken = Annotated[str, Query(max_length=1000)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        pattern=schemas.IDEMPOTENCY_KEY_PATTERN,
        description=(
            "A repeat with the same key and body returns the first result; the same key"
            " with a different body is 400"
        ),
    ),
]

_E = schemas.ErrorEnvelope
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": _E, "description": "Invalid request (the field is named in details)"},
    401: {"model": _E, "description": "Authentication required / invalid token"},
    403: {"model": _E, "description": "Not allowed"},
    404: {"model": _E, "description": "Not found (or not visible to the caller)"},
    409: {"model": _E, "description": "Conflict (ALREADY_EXISTS, ABORTED)"},
    429: {"model": _E, "description": "Rate limited; see Retry-After"},
    500: {"model": _E, "description": "Internal error"},
    503: {"model": _E, "description": "A dependency is unavailable; see Retry-After"},
    504: {"model": _E, "description": "A dependency did not answer in time"},
}
RUNNING_RESPONSE: dict[int | str, dict[str, Any]] = {
    202: {
        "model": schemas.OperationResult,
        "description": 'Still running: {operation_id, status: "running"}; poll the operation',
    }
}

router = APIRouter(responses=ERROR_RESPONSES, dependencies=[Depends(bearer_scheme)])
service_router = APIRouter()


def limited(operation: Operation) -> Callable[..., Awaitable[None]]:
    """A dependency counting the request against the caller's ``operation`` limit."""

    async def check_limit(request: Request, response: Response, who: CallerDep, d: DepsDep) -> None:
        decision = await d.limiter.check(who.user_id, operation)
        headers = decision.headers()
        request.state.ratelimit_headers = headers
        if not decision.allowed:
            raise ApiError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"rate limit for {operation} exceeded; retry in {decision.reset_seconds} s",
                headers=headers,
            )
        response.headers.update(headers)

    return check_limit


# --------------------------------------------------------------------------- helpers
async def visible_wasteland(d: Deps, who: Caller, wasteland_id: str) -> Any:
    """The wasteland if the caller may see it (NOT_FOUND otherwise, from the registry)."""
    resp = await d.clients.registry.GetWasteland(
        registry_pb2.GetWastelandRequest(wasteland_id=wasteland_id), **d.clients.opts(who.token)
    )
    return resp.wasteland


async def board_access(d: Deps, who: Caller, wasteland_id: str) -> Any:
    """``visible_wasteland`` for board reads, answered from the access cache when it
    holds this token's answer (see ``access``)."""
    cache = d.access.cache
    d.access.ensure_started()
    found = cache.get(who.token, wasteland_id)
    if found is not None:
        return found
    epoch = cache.epoch
    wasteland = await visible_wasteland(d, who, wasteland_id)
    cache.put(who.token, wasteland_id, wasteland, epoch)
    return wasteland


def json_response(fields: dict[str, Any], sub_response: Response) -> Response:
    """A 200 JSON answer encoded straight from a ``schemas.*_fields`` dict (see
    ``schemas.json_bytes``), carrying the headers dependencies set on ``sub_response``
    (the rate-limit headers), as FastAPI would for a response model."""
    answer = Response(content=schemas.json_bytes(fields), media_type="application/json")
    answer.headers.raw.extend(sub_response.headers.raw)
    return answer


def _raise_if_failed(result: Any) -> None:
    """A finished-but-failed operation that names a status code answers as that error."""
    if result.status != common_pb2.OPERATION_STATUS_FAILED or not result.error_code:
        return
    code = code_by_name(result.error_code)
    if code is None or code == grpc.StatusCode.OK:
        return
    headers = {"Retry-After": "5"} if code == grpc.StatusCode.UNAVAILABLE else {}
    raise ApiError(code, result.error or code.name, headers=headers)


async def run_action(
    d: Deps,
    who: Caller,
    response: Response,
    wasteland_id: str,
    kind: common_pb2.OperationKind,
    *,
    wanted_id: str = "",
    args: Any = None,
    idempotency_key: str | None = None,
) -> Any:
    """Execute an action; 202 when it is still running. Returns the proto result."""
    request = executor_pb2.ExecuteRequest(
        wasteland_id=wasteland_id,
        kind=kind,
        wanted_id=wanted_id,
        args=args if args is not None else common_pb2.OperationArgs(),
        idempotency_key=idempotency_key or "",
    )
    resp = await d.clients.executor.Execute(request, **d.clients.action_opts(who.token))
    result = resp.result
    _raise_if_failed(result)
    if result.status == common_pb2.OPERATION_STATUS_RUNNING:
        response.status_code = 202
    return result


async def find_member(d: Deps, who: Caller, wasteland_id: str) -> Any | None:
    """The caller's membership record, or None."""
    token = ""
    for _ in range(100):  # bounded: 100 pages of 200 members
        resp = await d.clients.registry.ListMembers(
            registry_pb2.ListMembersRequest(
                wasteland_id=wasteland_id, page_size=schemas.PAGE_SIZE_MAX, page_token=token
            ),
            **d.clients.opts(who.token),
        )
        for m in resp.members:
            if m.user_id == who.user_id:
                return m
        token = resp.next_page_token
        if not token:
            return None
    return None


# ======================================================================== wastelands
@router.post("/v1/wastelands", status_code=201, response_model=schemas.Wasteland)
async def create_wasteland(
    body: schemas.CreateWastelandIn, who: CallerDep, d: DepsDep
) -> schemas.Wasteland:
    """Create a wasteland joined to ``upstream``, or with a new commons provisioned from
    the template with the creator's DoltHub credential (``dolthub_token`` here, else the
    one they connected last) in ``dolthub_org`` (default: that credential's org). The
    creator's credential becomes the wasteland's upstream credential and their rig is
    registered on the new commons. ``status`` is ``provisioning`` until it is done (the
    call waits a while for it), then ``active`` or ``failed`` with ``status_reason``."""
    request = registry_pb2.CreateWastelandRequest(
        name=body.name,
        owner=common_pb2.Owner(
            type=enums.require_number(common_pb2.OwnerType, body.owner.type),
            user_id=who.user_id if body.owner.type == "user" else "",
            org_id=body.owner.org_id or "",
        ),
        visibility=enums.require_number(common_pb2.Visibility, body.visibility),
        upstream=body.upstream or "",
        dolthub_org=body.dolthub_org or "",
        dolthub_token=body.dolthub_token or "",
    )
    resp = await d.clients.registry.CreateWasteland(
        request, **d.clients.opts(who.token, timeout=d.settings.provision_timeout_seconds)
    )
    return schemas.wasteland(resp.wasteland)


@router.post("/v1/wastelands/{wasteland_id}/provisioning:retry", response_model=schemas.Wasteland)
async def retry_provisioning(
    wasteland_id: WastelandId, who: CallerDep, d: DepsDep
) -> schemas.Wasteland:
    """Run the provisioning of a ``failed`` wasteland again (its owners); every step
    tolerates having been done before."""
    resp = await d.clients.registry.RetryProvisioning(
        registry_pb2.RetryProvisioningRequest(wasteland_id=wasteland_id),
        **d.clients.opts(who.token, timeout=d.settings.provision_timeout_seconds),
    )
    return schemas.wasteland(resp.wasteland)


@router.get("/v1/wastelands", response_model=schemas.WastelandList)
async def list_wastelands(
    who: CallerDep,
    d: DepsDep,
    org_id: Annotated[str | None, Query(min_length=1, max_length=schemas.ID_MAX)] = None,
    page_size: PageSize = schemas.PAGE_SIZE_DEFAULT,
    page_token: PageToken = "",
) -> schemas.WastelandList:
    """The org's wastelands (``org_id``) or the caller's personal ones."""
    resp = await d.clients.registry.ListWastelands(
        registry_pb2.ListWastelandsRequest(
            org_id=org_id or "", page_size=page_size, page_token=page_token
        ),
        **d.clients.opts(who.token),
    )
    return schemas.WastelandList(
        wastelands=[schemas.wasteland(w) for w in resp.wastelands],
        next_page_token=resp.next_page_token,
    )


@router.get("/v1/wastelands/{wasteland_id}", response_model=schemas.Wasteland)
async def get_wasteland(wasteland_id: WastelandId, who: CallerDep, d: DepsDep) -> schemas.Wasteland:
    """One wasteland (404 when the caller may not see it)."""
    return schemas.wasteland(await visible_wasteland(d, who, wasteland_id))


@router.patch("/v1/wastelands/{wasteland_id}", response_model=schemas.Wasteland)
async def update_wasteland(
    wasteland_id: WastelandId, body: schemas.UpdateWastelandIn, who: CallerDep, d: DepsDep
) -> schemas.Wasteland:
    """Rename a wasteland or change its visibility."""
    changes: dict[str, Any] = {}
    if body.name is not None:
        changes["name"] = body.name
    if body.visibility is not None:
        changes["visibility"] = enums.require_number(common_pb2.Visibility, body.visibility)
    request = registry_pb2.UpdateWastelandRequest(wasteland_id=wasteland_id, **changes)
    resp = await d.clients.registry.UpdateWasteland(request, **d.clients.opts(who.token))
    return schemas.wasteland(resp.wasteland)


@router.delete("/v1/wastelands/{wasteland_id}", status_code=204, response_class=Response)
async def delete_wasteland(wasteland_id: WastelandId, who: CallerDep, d: DepsDep) -> None:
    """Soft-delete a wasteland; the registry stops its runtime and board tracking before
    it answers."""
    await d.clients.registry.DeleteWasteland(
        registry_pb2.DeleteWastelandRequest(wasteland_id=wasteland_id),
        **d.clients.opts(who.token, timeout=d.clients.action_timeout),
    )


# ======================================================================== credential
@router.put("/v1/wastelands/{wasteland_id}/credential", response_model=schemas.CredentialStatus)
async def put_credential(
    wasteland_id: WastelandId, body: schemas.PutCredentialIn, who: CallerDep, d: DepsDep
) -> schemas.CredentialStatus:
    """Connect the caller's DoltHub token (validated by the registry; never returned)."""
    resp = await d.clients.registry.PutCredential(
        registry_pb2.PutCredentialRequest(
            wasteland_id=wasteland_id,
            dolthub_token=body.dolthub_token,
            dolthub_org=body.dolthub_org,
            rig_handle=body.rig_handle or "",
        ),
        **d.clients.opts(who.token),
    )
    return schemas.credential_status(resp.credential)


@router.get("/v1/wastelands/{wasteland_id}/credential", response_model=schemas.CredentialStatus)
async def get_credential(
    wasteland_id: WastelandId, who: CallerDep, d: DepsDep
) -> schemas.CredentialStatus:
    """Whether the caller has connected DoltHub (``{connected: false}`` if not)."""
    resp = await d.clients.registry.GetCredential(
        registry_pb2.GetCredentialRequest(wasteland_id=wasteland_id), **d.clients.opts(who.token)
    )
    return schemas.credential_status(resp.credential)


@router.delete("/v1/wastelands/{wasteland_id}/credential", status_code=204, response_class=Response)
async def delete_credential(wasteland_id: WastelandId, who: CallerDep, d: DepsDep) -> None:
    """Forget the caller's DoltHub token."""
    await d.clients.registry.DeleteCredential(
        registry_pb2.DeleteCredentialRequest(wasteland_id=wasteland_id), **d.clients.opts(who.token)
    )


# =============================================================== upstream credential
@router.put(
    "/v1/wastelands/{wasteland_id}/upstream-credential",
    response_model=schemas.UpstreamCredentialStatus,
)
async def put_upstream_credential(
    wasteland_id: WastelandId, body: schemas.PutUpstreamCredentialIn, who: CallerDep, d: DepsDep
) -> schemas.UpstreamCredentialStatus:
    """Connect the wasteland's upstream credential (owners and maintainers): a token that
    can write the upstream, checked with a write that changes nothing; never returned."""
    resp = await d.clients.registry.PutUpstreamCredential(
        registry_pb2.PutUpstreamCredentialRequest(
            wasteland_id=wasteland_id, dolthub_token=body.dolthub_token
        ),
        **d.clients.opts(who.token, timeout=d.clients.action_timeout),
    )
    return schemas.upstream_credential_status(resp.credential)


@router.get(
    "/v1/wastelands/{wasteland_id}/upstream-credential",
    response_model=schemas.UpstreamCredentialStatus,
)
async def get_upstream_credential(
    wasteland_id: WastelandId, who: CallerDep, d: DepsDep
) -> schemas.UpstreamCredentialStatus:
    """Whether the wasteland has an upstream credential (members)."""
    resp = await d.clients.registry.GetUpstreamCredential(
        registry_pb2.GetUpstreamCredentialRequest(wasteland_id=wasteland_id),
        **d.clients.opts(who.token),
    )
    return schemas.upstream_credential_status(resp.credential)


@router.delete(
    "/v1/wastelands/{wasteland_id}/upstream-credential", status_code=204, response_class=Response
)
async def delete_upstream_credential(wasteland_id: WastelandId, who: CallerDep, d: DepsDep) -> None:
    """Forget the wasteland's upstream credential (owners and maintainers)."""
    await d.clients.registry.DeleteUpstreamCredential(
        registry_pb2.DeleteUpstreamCredentialRequest(wasteland_id=wasteland_id),
        **d.clients.opts(who.token),
    )


# ================================================================== members and rigs
@router.get("/v1/wastelands/{wasteland_id}/members", response_model=schemas.MemberList)
async def list_members(
    wasteland_id: WastelandId,
    who: CallerDep,
    d: DepsDep,
    page_size: PageSize = schemas.PAGE_SIZE_DEFAULT,
    page_token: PageToken = "",
) -> schemas.MemberList:
    """The wasteland's members."""
    resp = await d.clients.registry.ListMembers(
        registry_pb2.ListMembersRequest(
            wasteland_id=wasteland_id, page_size=page_size, page_token=page_token
        ),
        **d.clients.opts(who.token),
    )
    return schemas.MemberList(
        members=[schemas.member(m) for m in resp.members], next_page_token=resp.next_page_token
    )


@router.post(
    "/v1/wastelands/{wasteland_id}/members", status_code=201, response_model=schemas.Member
)
async def add_member(
    wasteland_id: WastelandId, body: schemas.AddMemberIn, who: CallerDep, d: DepsDep
) -> schemas.Member:
    """Add a member (maintainers and owners)."""
    resp = await d.clients.registry.AddMember(
        registry_pb2.AddMemberRequest(
            wasteland_id=wasteland_id,
            user_id=body.user_id,
            role=enums.require_number(common_pb2.MemberRole, body.role),
            trust_level=body.trust_level,
        ),
        **d.clients.opts(who.token),
    )
    return schemas.member(resp.member)


@router.patch("/v1/wastelands/{wasteland_id}/members/{user_id}", response_model=schemas.Member)
async def update_member(
    wasteland_id: WastelandId,
    user_id: UserId,
    body: schemas.UpdateMemberIn,
    who: CallerDep,
    d: DepsDep,
) -> schemas.Member:
    """Change a member's role or trust level."""
    changes: dict[str, Any] = {}
    if body.role is not None:
        changes["role"] = enums.require_number(common_pb2.MemberRole, body.role)
    if body.trust_level is not None:
        changes["trust_level"] = body.trust_level
    request = registry_pb2.UpdateMemberRequest(
        wasteland_id=wasteland_id, user_id=user_id, **changes
    )
    resp = await d.clients.registry.UpdateMember(request, **d.clients.opts(who.token))
    return schemas.member(resp.member)


@router.delete(
    "/v1/wastelands/{wasteland_id}/members/{user_id}", status_code=204, response_class=Response
)
async def remove_member(
    wasteland_id: WastelandId, user_id: UserId, who: CallerDep, d: DepsDep
) -> None:
    """Remove a member (an owner cannot remove themself)."""
    await d.clients.registry.RemoveMember(
        registry_pb2.RemoveMemberRequest(wasteland_id=wasteland_id, user_id=user_id),
        **d.clients.opts(who.token),
    )


@router.post(
    "/v1/wastelands/{wasteland_id}/join",
    response_model=schemas.Member,
    responses=RUNNING_RESPONSE,
)
async def join(
    wasteland_id: WastelandId,
    who: CallerDep,
    d: DepsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    body: Annotated[schemas.JoinIn | None, Body()] = None,
) -> schemas.Member | JSONResponse:
    """Register the caller's rig (fork + ``wl join``); answers the caller's Member."""
    args = body or schemas.JoinIn()
    result = await run_action(
        d,
        who,
        response,
        wasteland_id,
        common_pb2.OPERATION_KIND_JOIN,
        args=common_pb2.OperationArgs(
            rig_handle=args.rig_handle or "",
            display_name=args.display_name or "",
            owner_email=args.owner_email or "",
        ),
        idempotency_key=idempotency_key,
    )
    if result.status == common_pb2.OPERATION_STATUS_RUNNING:
        return JSONResponse(
            schemas.operation_result(result).model_dump(mode="json"),
            status_code=202,
        )
    found = await find_member(d, who, wasteland_id)
    if found is None:
        # The registry records the rig right after the join; until it shows, answer what
        # joining makes the caller (a contributor with the registered rig).
        return schemas.Member(
            user_id=who.user_id,
            role="contributor",
            trust_level=1,
            rig_handle=result.rig_handle or args.rig_handle,
            joined_at=None,
            source="explicit",
        )
    joined = schemas.member(found)
    if joined.rig_handle is None and result.rig_handle:
        joined.rig_handle = result.rig_handle
    return joined


@router.get("/v1/wastelands/{wasteland_id}/rigs", response_model=schemas.RigList)
async def list_rigs(
    wasteland_id: WastelandId,
    who: CallerDep,
    d: DepsDep,
    page_size: PageSize = schemas.PAGE_SIZE_DEFAULT,
    page_token: PageToken = "",
) -> schemas.RigList:
    """The commons' rigs, from the board cache."""
    await visible_wasteland(d, who, wasteland_id)
    resp = await d.clients.board.ListRigs(
        board_pb2.ListRigsRequest(
            wasteland_id=wasteland_id, page_size=page_size, page_token=page_token
        ),
        **d.clients.opts(who.token),
    )
    return schemas.RigList(
        rigs=[schemas.rig(r) for r in resp.rigs], next_page_token=resp.next_page_token
    )


# ====================================================================== wanted board
@router.get(
    "/v1/wastelands/{wasteland_id}/wanted",
    response_model=schemas.WantedPage,
    dependencies=[Depends(limited("browse"))],
)
async def browse(
    wasteland_id: WastelandId,
    who: CallerDep,
    d: DepsDep,
    response: Response,
    status: schemas.WantedStatus | None = None,
    type: schemas.WantedType | None = None,
    priority: Annotated[int | None, Query(ge=0, le=4)] = None,
    project: Annotated[str | None, Query(max_length=schemas.NAME_MAX)] = None,
    tag: Annotated[str | None, Query(max_length=schemas.TAG_MAX)] = None,
    q: Annotated[str | None, Query(max_length=schemas.TITLE_MAX)] = None,
    mine: Literal["true", "false"] | None = None,
    sort: schemas.SortOrder | None = None,
    page_size: PageSize = schemas.PAGE_SIZE_DEFAULT,
    page_token: PageToken = "",
) -> Response:
    """Browse the wanted board from the cache (never wakes a workload); the caller's own
    pending posts are included, marked pending."""
    wasteland = await board_access(d, who, wasteland_id)
    request = board_pb2.BrowseRequest(
        wasteland_id=wasteland_id,
        status=status or "",
        type=type or "",
        project=project or "",
        tag=tag or "",
        q=q or "",
        sort=enums.require_number(board_pb2.BrowseSort, sort)
        if sort
        else "BROWSE_SORT_UNSPECIFIED",
        page_size=page_size,
        page_token=page_token,
        viewer_rig_handle=wasteland.my_rig_handle,
    )
    if priority is not None:
        request.priority = priority
    if mine == "true":
        if not wasteland.my_rig_handle:
            # No rig yet: nothing can be posted or claimed by it.
            return json_response(schemas.EMPTY_WANTED_PAGE, response)
        request.rig_handle = wasteland.my_rig_handle
    resp = await d.clients.board.Browse(request, **d.clients.opts(who.token))
    return json_response(schemas.wanted_page_fields(resp), response)


@router.get("/v1/wastelands/{wasteland_id}/wanted:counts", response_model=schemas.WantedCounts)
async def count_wanted(
    wasteland_id: WastelandId, who: CallerDep, d: DepsDep, response: Response
) -> Response:
    """How many items are in each status (as the caller's board shows them)."""
    wasteland = await board_access(d, who, wasteland_id)
    resp = await d.clients.board.CountWanted(
        board_pb2.CountWantedRequest(
            wasteland_id=wasteland_id, viewer_rig_handle=wasteland.my_rig_handle
        ),
        **d.clients.opts(who.token),
    )
    return json_response(schemas.wanted_counts_fields(resp.by_status), response)


@router.get("/v1/wastelands/{wasteland_id}/wanted/{wanted_id}", response_model=schemas.WantedDetail)
async def get_wanted(
    wasteland_id: WastelandId, wanted_id: WantedId, who: CallerDep, d: DepsDep, response: Response
) -> Response:
    """One wanted item with its completions and stamps."""
    wasteland = await board_access(d, who, wasteland_id)
    resp = await d.clients.board.GetWantedItem(
        board_pb2.GetWantedItemRequest(
            wasteland_id=wasteland_id,
            wanted_id=wanted_id,
            viewer_rig_handle=wasteland.my_rig_handle,
        ),
        **d.clients.opts(who.token),
    )
    return json_response(schemas.wanted_detail_fields(resp), response)


@router.get("/v1/wastelands/{wasteland_id}/completions", response_model=schemas.CompletionList)
async def list_completions(
    wasteland_id: WastelandId,
    who: CallerDep,
    d: DepsDep,
    status: Annotated[str | None, Query(pattern=r"^[a-z_]{1,32}$")] = None,
    page_size: PageSize = schemas.PAGE_SIZE_DEFAULT,
    page_token: PageToken = "",
) -> schemas.CompletionList:
    """Completions, optionally of one status."""
    await visible_wasteland(d, who, wasteland_id)
    resp = await d.clients.board.ListCompletions(
        board_pb2.ListCompletionsRequest(
            wasteland_id=wasteland_id,
            status=status or "",
            page_size=page_size,
            page_token=page_token,
        ),
        **d.clients.opts(who.token),
    )
    return schemas.CompletionList(
        completions=[schemas.completion(c) for c in resp.completions],
        next_page_token=resp.next_page_token,
    )


@router.get(
    "/v1/wastelands/{wasteland_id}/events",
    response_class=Response,
    responses={
        200: {
            "description": (
                "Server-Sent Events from the wasteland's durable event log: `event: board`"
                ' with data `{"wanted_id", "status", "observed_at"}` per change of an'
                " item's shown status, and `event: activity` with an `Activity` per"
                " activity record. Each event has an `id`; a client that reconnects with"
                " `Last-Event-ID` receives every event after it (board changes are kept"
                " BOARD_EVENT_RETENTION_HOURS). Every gateway and board-sync replica"
                " delivers every event."
            ),
            "content": {
                "text/event-stream": {
                    "schema": {
                        "oneOf": [
                            schemas.BoardEvent.model_json_schema(),
                            schemas.Activity.model_json_schema(),
                        ]
                    }
                }
            },
        }
    },
)
async def events(
    wasteland_id: WastelandId,
    who: CallerDep,
    d: DepsDep,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            pattern=r"^[0-9]{1,18}$",
            description="Resume after this event (browsers send it when they reconnect)",
        ),
    ] = None,
) -> Response:
    """Stream the wasteland's board changes and activity as they happen."""
    await visible_wasteland(d, who, wasteland_id)
    call = d.clients.activity.WatchEvents(
        activity_pb2.WatchEventsRequest(wasteland_id=wasteland_id, after=last_event_id or ""),
        metadata=d.clients.metadata(who.token),
        timeout=d.settings.events_max_seconds,
    )
    # board-sync sends its headers once the subscription exists, so a client that has
    # this response's headers sees every later event. A refusal (or an unreachable
    # board-sync) ends the call instead: wait_for_connection raises it, so it answers
    # with its error status now, not a 200 that ends at once.
    await call.initial_metadata()
    await call.wait_for_connection()
    return EventSourceResponse(_events(call), ping=d.settings.events_ping_seconds, send_timeout=30)


async def _events(call: Any) -> AsyncIterator[dict[str, str]]:
    try:
        async for event in call:
            which = event.WhichOneof("event")
            if which == "board":
                data = schemas.board_event(event.board).model_dump_json()
            elif which == "activity" and (entry := schemas.activity(event.activity)):
                data = entry.model_dump_json()
            else:
                continue
            yield {"event": which, "id": event.cursor, "data": data}
    except grpc.aio.AioRpcError as exc:
        # The stream ended (deadline, board-sync restart); the client reconnects.
        if exc.code() not in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
            log.warning("event stream ended: %s", exc.code().name)
    finally:
        call.cancel()


@router.get("/v1/wastelands/{wasteland_id}/activity", response_model=schemas.ActivityList)
async def list_activity(
    wasteland_id: WastelandId,
    who: CallerDep,
    d: DepsDep,
    kind: ActivityKindName | None = None,
    page_size: PageSize = schemas.PAGE_SIZE_DEFAULT,
    page_token: PageToken = "",
) -> schemas.ActivityList:
    """The wasteland's activity log, newest first (members and readers)."""
    await visible_wasteland(d, who, wasteland_id)
    resp = await d.clients.activity.ListActivity(
        activity_pb2.ListActivityRequest(
            wasteland_id=wasteland_id,
            kind=kind_number(kind) if kind else activity_pb2.ACTIVITY_KIND_UNSPECIFIED,
            page_size=page_size,
            page_token=page_token,
        ),
        **d.clients.opts(who.token),
    )
    return schemas.ActivityList(
        events=[e for e in map(schemas.activity, resp.events) if e is not None],
        next_page_token=resp.next_page_token,
    )


# =========================================================================== actions


@router.post(
    "/v1/wastelands/{wasteland_id}/wanted",
    dependencies=[Depends(limited("post"))],
    response_model=schemas.OperationResult,
    responses=RUNNING_RESPONSE,
)
async def post_wanted(
    wasteland_id: WastelandId,
    body: schemas.PostWantedIn,
    who: CallerDep,
    d: DepsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> schemas.OperationResult:
    """Post a new wanted item."""
    args = common_pb2.OperationArgs(
        title=body.title,
        description=body.description or "",
        project=body.project or "",
        type=body.type,
        priority=body.priority,
        effort_level=body.effort_level or "",
        tags=body.tags or [],
    )
    result = await run_action(
        d, who, response, wasteland_id, common_pb2.OPERATION_KIND_POST,
        args=args, idempotency_key=idempotency_key,
    )  # fmt: skip
    return schemas.operation_result(result)


@router.post(
    "/v1/wastelands/{wasteland_id}/wanted/{wanted_id}/claim",
    dependencies=[Depends(limited("claim"))],
    response_model=schemas.OperationResult,
    responses=RUNNING_RESPONSE,
)
async def claim(
    wasteland_id: WastelandId,
    wanted_id: WantedId,
    who: CallerDep,
    d: DepsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> schemas.OperationResult:
    """Claim an open item (409 ABORTED "already claimed" when someone was first)."""
    result = await run_action(
        d, who, response, wasteland_id, common_pb2.OPERATION_KIND_CLAIM,
        wanted_id=wanted_id, idempotency_key=idempotency_key,
    )  # fmt: skip
    return schemas.operation_result(result)


@router.post(
    "/v1/wastelands/{wasteland_id}/wanted/{wanted_id}/unclaim",
    response_model=schemas.OperationResult,
    responses=RUNNING_RESPONSE,
)
async def unclaim(
    wasteland_id: WastelandId,
    wanted_id: WantedId,
    who: CallerDep,
    d: DepsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> schemas.OperationResult:
    """Give a claimed item back."""
    result = await run_action(
        d, who, response, wasteland_id, common_pb2.OPERATION_KIND_UNCLAIM,
        wanted_id=wanted_id, idempotency_key=idempotency_key,
    )  # fmt: skip
    return schemas.operation_result(result)


@router.post(
    "/v1/wastelands/{wasteland_id}/wanted/{wanted_id}/done",
    dependencies=[Depends(limited("done"))],
    response_model=schemas.OperationResult,
    responses=RUNNING_RESPONSE,
)
async def done(
    wasteland_id: WastelandId,
    wanted_id: WantedId,
    body: schemas.DoneIn,
    who: CallerDep,
    d: DepsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> schemas.OperationResult:
    """Submit evidence that a claimed item is done."""
    result = await run_action(
        d, who, response, wasteland_id, common_pb2.OPERATION_KIND_DONE,
        wanted_id=wanted_id, args=common_pb2.OperationArgs(evidence=body.evidence),
        idempotency_key=idempotency_key,
    )  # fmt: skip
    return schemas.operation_result(result)


@router.post(
    "/v1/wastelands/{wasteland_id}/wanted/{wanted_id}/accept",
    response_model=schemas.OperationResult,
    responses=RUNNING_RESPONSE,
)
async def accept(
    wasteland_id: WastelandId,
    wanted_id: WantedId,
    body: schemas.AcceptIn,
    who: CallerDep,
    d: DepsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> schemas.OperationResult:
    """Accept a completion and stamp the completer."""
    args = common_pb2.OperationArgs(
        quality=body.quality,
        reliability=body.reliability,
        severity=body.severity or "",
        skill_tags=body.skill_tags or [],
        message=body.message or "",
    )
    result = await run_action(
        d, who, response, wasteland_id, common_pb2.OPERATION_KIND_ACCEPT,
        wanted_id=wanted_id, args=args, idempotency_key=idempotency_key,
    )  # fmt: skip
    return schemas.operation_result(result)


@router.post(
    "/v1/wastelands/{wasteland_id}/wanted/{wanted_id}/reject",
    response_model=schemas.OperationResult,
    responses=RUNNING_RESPONSE,
)
async def reject(
    wasteland_id: WastelandId,
    wanted_id: WantedId,
    who: CallerDep,
    d: DepsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    body: Annotated[schemas.RejectIn | None, Body()] = None,
) -> schemas.OperationResult:
    """Reject a completion; the item returns to ``claimed``."""
    reason = body.reason if body is not None else None
    result = await run_action(
        d, who, response, wasteland_id, common_pb2.OPERATION_KIND_REJECT,
        wanted_id=wanted_id, args=common_pb2.OperationArgs(reason=reason or ""),
        idempotency_key=idempotency_key,
    )  # fmt: skip
    return schemas.operation_result(result)


@router.post(
    "/v1/wastelands/{wasteland_id}/wanted/{wanted_id}/close",
    response_model=schemas.OperationResult,
    responses=RUNNING_RESPONSE,
)
async def close(
    wasteland_id: WastelandId,
    wanted_id: WantedId,
    who: CallerDep,
    d: DepsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> schemas.OperationResult:
    """Close an item in review without a stamp."""
    result = await run_action(
        d, who, response, wasteland_id, common_pb2.OPERATION_KIND_CLOSE,
        wanted_id=wanted_id, idempotency_key=idempotency_key,
    )  # fmt: skip
    return schemas.operation_result(result)


@router.post(
    "/v1/wastelands/{wasteland_id}/sync",
    response_model=schemas.OperationResult,
    responses=RUNNING_RESPONSE,
)
async def sync(
    wasteland_id: WastelandId,
    who: CallerDep,
    d: DepsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> schemas.OperationResult:
    """Bring the caller's fork up to date through the wasteland's upstream credential (a
    pull request upstream:main → fork:main merged with the caller's own token), remove the
    caller's `wl/<rig>/*` branches whose pull requests were merged or closed, and refresh
    the board; ``fork_sync`` says what it did. 400 FAILED_PRECONDITION when the wasteland
    has no upstream credential."""
    result = await run_action(
        d, who, response, wasteland_id, common_pb2.OPERATION_KIND_SYNC,
        idempotency_key=idempotency_key,
    )  # fmt: skip
    return schemas.operation_result(result)


# ====================================================================== review inbox
@router.get(
    "/v1/wastelands/{wasteland_id}/pulls",
    response_model=schemas.PullList,
    dependencies=[Depends(limited("browse"))],
)
async def list_pulls(
    wasteland_id: WastelandId,
    who: CallerDep,
    d: DepsDep,
    state: PullStateName = "open",
    page_size: PageSize = schemas.PAGE_SIZE_DEFAULT,
    page_token: PageToken = "",
) -> schemas.PullList:
    """The upstream's pull requests into `main` (open ones oldest first, closed and merged
    ones newest first), each classified from its diff, read through the DoltHub SQL API by
    board-sync (never by waking the workload)."""
    await visible_wasteland(d, who, wasteland_id)
    resp = await d.clients.board.ListPulls(
        board_pb2.ListPullsRequest(
            wasteland_id=wasteland_id,
            state=enums.require_number(board_pb2.PullState, state),
            page_size=page_size,
            page_token=page_token,
        ),
        **d.clients.opts(who.token),
    )
    return schemas.PullList(
        pulls=[schemas.pull(p) for p in resp.pulls], next_page_token=resp.next_page_token
    )


async def _pull(d: Deps, who: Caller, wasteland_id: str, pull_id: str) -> schemas.Pull:
    resp = await d.clients.board.GetPull(
        board_pb2.GetPullRequest(wasteland_id=wasteland_id, pull_id=pull_id),
        **d.clients.opts(who.token),
    )
    return schemas.pull(resp.pull, with_changes=True)


@router.get(
    "/v1/wastelands/{wasteland_id}/pulls/{pull_id}",
    response_model=schemas.Pull,
    dependencies=[Depends(limited("browse"))],
)
async def get_pull(
    wasteland_id: WastelandId, pull_id: PullId, who: CallerDep, d: DepsDep
) -> schemas.Pull:
    """One upstream pull request with its row changes."""
    await visible_wasteland(d, who, wasteland_id)
    return await _pull(d, who, wasteland_id, pull_id)


async def _decide(
    d: Deps,
    who: Caller,
    response: Response,
    wasteland_id: str,
    pull_id: str,
    kind: common_pb2.OperationKind,
    *,
    confirm: bool = False,
    idempotency_key: str | None,
) -> schemas.Pull | JSONResponse:
    result = await run_action(
        d, who, response, wasteland_id, kind,
        args=common_pb2.OperationArgs(pull_id=pull_id, confirm=confirm),
        idempotency_key=idempotency_key,
    )  # fmt: skip
    if result.status == common_pb2.OPERATION_STATUS_RUNNING:
        return JSONResponse(
            status_code=202, content=schemas.operation_result(result).model_dump(mode="json")
        )
    return await _pull(d, who, wasteland_id, pull_id)


@router.post(
    "/v1/wastelands/{wasteland_id}/pulls/{pull_id}/merge",
    response_model=schemas.Pull,
    responses=RUNNING_RESPONSE,
)
async def merge_pull(
    wasteland_id: WastelandId,
    pull_id: PullId,
    who: CallerDep,
    d: DepsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    body: Annotated[schemas.MergePullIn | None, Body()] = None,
) -> schemas.Pull | JSONResponse:
    """Merge an upstream pull request (maintainers and owners) with the caller's own
    DoltHub token when it can write the upstream, else the wasteland's upstream credential;
    verified on DoltHub, then the board is refreshed. 403 when it stamps the caller's own
    work; 400 when it carries warnings and `confirm` is not true, or its diff cannot be
    read; 409 when it conflicts with the upstream."""
    return await _decide(
        d, who, response, wasteland_id, pull_id, common_pb2.OPERATION_KIND_MERGE_PULL,
        confirm=body.confirm if body is not None else False, idempotency_key=idempotency_key,
    )  # fmt: skip


@router.post(
    "/v1/wastelands/{wasteland_id}/pulls/{pull_id}/close",
    response_model=schemas.Pull,
    responses=RUNNING_RESPONSE,
)
async def close_pull(
    wasteland_id: WastelandId,
    pull_id: PullId,
    who: CallerDep,
    d: DepsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> schemas.Pull | JSONResponse:
    """Close an upstream pull request without merging it (maintainers and owners), with
    the caller's own token or the wasteland's upstream credential; the board is refreshed."""
    return await _decide(
        d, who, response, wasteland_id, pull_id, common_pb2.OPERATION_KIND_CLOSE_PULL,
        idempotency_key=idempotency_key,
    )  # fmt: skip


@router.get("/v1/operations/{operation_id}", response_model=schemas.OperationResult)
async def get_operation(
    operation_id: OperationId, who: CallerDep, d: DepsDep
) -> schemas.OperationResult:
    """The state of an operation answered earlier with 202."""
    resp = await d.clients.executor.GetOperation(
        executor_pb2.GetOperationRequest(operation_id=operation_id), **d.clients.opts(who.token)
    )
    return schemas.operation_result(resp.result)


# =========================================================================== runtime
@router.get("/v1/wastelands/{wasteland_id}/runtime", response_model=schemas.Runtime)
async def get_runtime(wasteland_id: WastelandId, who: CallerDep, d: DepsDep) -> schemas.Runtime:
    """The state of the wasteland's workload."""
    await visible_wasteland(d, who, wasteland_id)
    resp = await d.clients.executor.GetRuntime(
        executor_pb2.GetRuntimeRequest(wasteland_id=wasteland_id), **d.clients.opts(who.token)
    )
    return schemas.runtime(resp.runtime)


@router.post(
    "/v1/wastelands/{wasteland_id}/runtime:wake", status_code=202, response_model=schemas.Runtime
)
async def wake_runtime(wasteland_id: WastelandId, who: CallerDep, d: DepsDep) -> schemas.Runtime:
    """Wake the workload ahead of an action."""
    await visible_wasteland(d, who, wasteland_id)
    resp = await d.clients.executor.WakeRuntime(
        executor_pb2.WakeRuntimeRequest(wasteland_id=wasteland_id),
        **d.clients.action_opts(who.token),
    )
    return schemas.runtime(resp.runtime)


# ============================================================================= towns
@router.post(
    "/v1/wastelands/{wasteland_id}/towns",
    status_code=201,
    response_model=schemas.Town,
    responses=RUNNING_RESPONSE,
)
async def connect_town(
    wasteland_id: WastelandId,
    body: schemas.ConnectTownIn,
    who: CallerDep,
    d: DepsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> schemas.Town | JSONResponse:
    """Connect a Gastown town as an agent rig under the caller's rig: recorded here, then
    registered on DoltHub (a ``rigs`` row with ``rig_type=agent`` and a ``rig_links`` row,
    on a branch of the caller's fork, by pull request, verified like an action). A
    registration that fails disconnects the town again."""
    resp = await d.clients.registry.ConnectTown(
        registry_pb2.ConnectTownRequest(
            wasteland_id=wasteland_id,
            town_id=body.town_id,
            rig_handle=body.rig_handle,
            owner_email=body.owner_email,
        ),
        **d.clients.opts(who.token, timeout=d.clients.action_timeout),
    )
    town = schemas.town(resp.town)
    try:
        result = await run_action(
            d,
            who,
            response,
            wasteland_id,
            common_pb2.OPERATION_KIND_REGISTER_TOWN,
            args=common_pb2.OperationArgs(
                town_id=body.town_id, rig_handle=body.rig_handle, owner_email=body.owner_email
            ),
            idempotency_key=idempotency_key,
        )
    except BaseException:
        # Refused before it ran (or it failed): the town is not connected after all.
        await _forget_town(d, who, wasteland_id, body.town_id)
        raise
    if result.status == common_pb2.OPERATION_STATUS_RUNNING:
        return JSONResponse(
            schemas.operation_result(result).model_dump(mode="json"), status_code=202
        )
    town.pull_request_url = result.pull_request_url or None
    return town


async def _forget_town(d: Deps, who: Caller, wasteland_id: str, town_id: str) -> None:
    try:
        await d.clients.registry.DisconnectTown(
            registry_pb2.DisconnectTownRequest(wasteland_id=wasteland_id, town_id=town_id),
            **d.clients.opts(who.token),
        )
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:  # the executor forgot it already
            log.warning("disconnecting town %s after a failed registration: %s", town_id, exc)


@router.get("/v1/wastelands/{wasteland_id}/towns", response_model=schemas.TownList)
async def list_towns(wasteland_id: WastelandId, who: CallerDep, d: DepsDep) -> schemas.TownList:
    """The towns connected to the wasteland."""
    resp = await d.clients.registry.ListTowns(
        registry_pb2.ListTownsRequest(wasteland_id=wasteland_id), **d.clients.opts(who.token)
    )
    return schemas.TownList(towns=[schemas.town(t) for t in resp.towns])


@router.delete(
    "/v1/wastelands/{wasteland_id}/towns/{town_id}", status_code=204, response_class=Response
)
async def disconnect_town(
    wasteland_id: WastelandId, town_id: TownId, who: CallerDep, d: DepsDep
) -> None:
    """Disconnect a town from the service. Its agent rig stays registered on the commons
    (removing a rig from DoltHub is the commons maintainers' decision)."""
    await d.clients.registry.DisconnectTown(
        registry_pb2.DisconnectTownRequest(wasteland_id=wasteland_id, town_id=town_id),
        **d.clients.opts(who.token),
    )


# ================================================================== service routes
@service_router.get("/healthz", response_model=schemas.Health)
async def healthz() -> schemas.Health:
    """The process is up."""
    return schemas.Health(status="ok")


@service_router.get(
    "/readyz",
    response_model=schemas.Readiness,
    responses={503: {"model": schemas.Readiness, "description": "A dependency is down"}},
)
async def readyz(d: DepsDep, response: Response) -> schemas.Readiness:
    """Whether registry, board-sync, executor and the counter database are reachable."""

    async def probe(target: Any) -> str:
        try:
            resp = await target.stub.Check(
                health_pb2.HealthCheckRequest(service=target.service),
                timeout=d.settings.readiness_timeout_seconds,
            )
        except grpc.aio.AioRpcError as exc:
            return "unavailable" if exc.code() != grpc.StatusCode.NOT_FOUND else "unknown"
        return "serving" if resp.status == health_pb2.HealthCheckResponse.SERVING else "not_serving"

    async def database() -> str:
        try:
            await asyncio.wait_for(
                asyncio.to_thread(d.limiter.ping), d.settings.readiness_timeout_seconds
            )
        except Exception:  # any failure means "not ready"; the reason is logged
            log.warning("readiness: rate-limit database unreachable", exc_info=True)
            return "unavailable"
        return "serving"

    names = list(d.clients.health)
    results = await asyncio.gather(*(probe(d.clients.health[n]) for n in names), database())
    checks = dict(zip([*names, "database"], results, strict=True))
    ready = all(v == "serving" for v in checks.values())
    if not ready:
        response.status_code = 503
    return schemas.Readiness(status="ready" if ready else "unavailable", checks=checks)


# ===================================================================== application
def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI 3.1 document with our error envelope instead of FastAPI's 422."""

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=API_TITLE,
            version=API_VERSION,
            openapi_version="3.1.0",
            description="The public HTTP API of Hosted Wasteland (design/api.md).",
            routes=app.routes,
        )
        for path, path_item in doc.get("paths", {}).items():
            for method, operation in path_item.items():
                operation.get("responses", {}).pop("422", None)
                if method.upper() in IDEMPOTENT_METHODS and path.startswith("/v1/"):
                    _document_idempotency_key(operation)
        schemas_section = doc.get("components", {}).get("schemas", {})
        schemas_section.pop("HTTPValidationError", None)
        schemas_section.pop("ValidationError", None)
        app.openapi_schema = doc
        return doc

    return build


IDEMPOTENT_METHODS = frozenset({"POST", "PUT", "DELETE"})
IDEMPOTENCY_KEY_DOC: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "A repeat by the same user with the same key and the same request returns the first"
        " (successful) result without doing the work again (`Idempotent-Replayed: true`);"
        " the same key with a different request is 400. Keys expire after"
        " IDEMPOTENCY_TTL_SECONDS (24 h by default)."
    ),
    "schema": {"type": "string", "maxLength": 200, "pattern": schemas.IDEMPOTENCY_KEY_PATTERN},
}


def _document_idempotency_key(operation: dict[str, Any]) -> None:
    """Every POST, PUT and DELETE honours the header (the middleware does), so each one
    documents it, whether or not its handler reads it."""
    params = operation.setdefault("parameters", [])
    for param in params:
        if param.get("in") == "header" and param.get("name", "").lower() == "idempotency-key":
            param["description"] = IDEMPOTENCY_KEY_DOC["description"]
            return
    params.append(dict(IDEMPOTENCY_KEY_DOC))


def policies_of(settings: GatewaySettings) -> dict[str, Policy]:
    """The rate-limit policy of each limited operation."""
    window = settings.rate_limit_window_seconds
    return {
        "claim": Policy(settings.rate_limit_claim, window),
        "done": Policy(settings.rate_limit_done, window),
        "post": Policy(settings.rate_limit_post, window),
        # The hot path: a quarter of the limit is leased at a time (see ratelimit).
        "browse": Policy(
            settings.rate_limit_browse, window, lease=max(1, settings.rate_limit_browse // 4)
        ),
    }


def longest_request_seconds(settings: GatewaySettings) -> float:
    """The longest a request can keep the gateway busy: its slowest backend deadline,
    twice (a delete stops the runtime after the registry call)."""
    return 2 * max(
        settings.provision_timeout_seconds,
        settings.action_timeout_seconds,
        settings.rpc_timeout_seconds,
    )


def idempotency_lease_seconds(settings: GatewaySettings) -> float:
    """How long a running request holds its Idempotency-Key before another replica may
    presume it dead and run the request itself: well past any request's deadline."""
    return 2 * longest_request_seconds(settings) + 60


def create_app(
    settings: GatewaySettings,
    clients: GatewayClients,
    *,
    limiter: RateLimiter | None = None,
    idempotency: IdempotencyStore | None = None,
    clock: Clock = time.time,
) -> FastAPI:
    """The gateway application over ``clients``.

    ``limiter`` and ``idempotency`` default to tables in ``settings.database_url``
    (migrated when ``MIGRATE_ON_START``); ``clock`` drives rate-limit windows, token
    expiry and idempotency-key expiry.
    """
    if limiter is None:
        limiter = RateLimiter.from_url(
            settings.database_url,
            policies_of(settings),
            clock,
            migrate=settings.migrate_on_start,
        )
    app = FastAPI(
        title=API_TITLE,
        version=API_VERSION,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        # Site admins change nothing, whichever route (today's or a later one) they try.
        dependencies=[Depends(read_only_admins)],
    )
    if idempotency is None:
        idempotency = IdempotencyStore.from_url(
            settings.database_url,
            clock,
            ttl_seconds=settings.idempotency_ttl_seconds,
            lease_seconds=idempotency_lease_seconds(settings),
            migrate=settings.migrate_on_start,
        )
    app.state.idempotency = idempotency
    follower = AccessFollower(
        AccessCache(
            ttl_seconds=settings.access_cache_ttl_seconds,
            max_entries=settings.access_cache_max_entries,
        ),
        clients.registry,
        # A watch has no deadline; the service token is minted per (re)connection.
        lambda: {"metadata": clients.metadata(None)},
    )
    app.state.deps = Deps(settings=settings, clients=clients, limiter=limiter, access=follower)
    app.state.token_verifier = TokenVerifier(
        secret=settings.kilo_jwt_secret.get_secret_value(),
        audience=settings.kilo_jwt_audience,
        now=clock,
    )
    app.include_router(router)
    app.include_router(service_router)
    if settings.metrics_enabled:
        app.include_router(metrics_router)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    install(app, precheck=precheck)
    # Inside CORS and the body limit, outside the exception handlers: a replayed answer
    # gets CORS headers, and the middleware sees error responses like any other.
    app.add_middleware(
        IdempotencyMiddleware,
        store=idempotency,
        verifier=app.state.token_verifier,
        wait_seconds=longest_request_seconds(settings) + 10,
    )
    if origins := settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id"],
            expose_headers=["X-Request-Id", "Retry-After", "RateLimit", "RateLimit-Policy"],
            max_age=600,
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Outside the handlers and the body limit: every response, errors included, has the id.
    app.add_middleware(RequestIdMiddleware)
    # Outside even that, so the last-resort 500 is counted too.
    app.add_middleware(HttpMetricsMiddleware)
    return app
