"""JSON shapes of the public API (``api.md``): request models, response models, and the
builders that turn protobuf messages into responses.

Requests are validated strictly (types are not coerced; lengths, patterns and enums are
checked) and unknown extra fields are ignored. Responses use exactly the field names of
``api.md``; enums are lower-case strings, times RFC 3339 UTC, absent optional values null.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import to_json
from wasteland.v1 import board_pb2, common_pb2
from wasteland_common import enums, review
from wasteland_common.activity import ActivityKindName, kind_word
from wasteland_common.vocabulary import (
    OperationKindName,
    OperationStatusName,
    PullStateName,
    RuntimeStateName,
)

# ---------------------------------------------------------------------------- limits
NAME_MAX = 100
TITLE_MAX = 200
DESCRIPTION_MAX = 10_000
URL_MAX = 2_000
ID_MAX = 200
TEXT_MAX = 2_000
TAG_MAX = 64
TAGS_MAX = 20
TOKEN_MAX = 1_000
EMAIL_MAX = 254
PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 200

# DoltHub owners/databases and rig handles (what hosted `wl` accepts).
HANDLE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
UPSTREAM_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]{1,189}$"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$"
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$"

WantedStatus = Literal["open", "claimed", "in_review", "completed", "withdrawn"]
WANTED_STATUSES: tuple[WantedStatus, ...] = (
    "open",
    "claimed",
    "in_review",
    "completed",
    "withdrawn",
)
WantedType = Literal["feature", "bug", "design", "rfc", "docs", "inference"]
EffortLevel = Literal["trivial", "small", "medium", "large", "epic"]
Severity = Literal["leaf", "branch", "root"]
SortOrder = Literal["priority", "created", "updated"]
VisibilityName = Literal["public", "private"]
AssignableRole = Literal["maintainer", "contributor"]
RoleName = Literal["owner", "maintainer", "contributor", "viewer"]
WastelandStatusName = Literal["provisioning", "active", "failed", "deleted"]
RowChangeKind = Literal["added", "modified", "removed"]
PULL_ID_PATTERN = r"^[0-9]{1,20}$"


def _printable(value: str) -> str:
    if any(ch in value for ch in "\x00\r\n") or not value.isprintable():
        raise ValueError("must not contain control characters")
    return value


def _http_url(value: str) -> str:
    if not value.isprintable() or any(ch.isspace() for ch in value):
        raise ValueError("must be an http(s) URL without spaces")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise ValueError("must be an http(s) URL") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL")
    return value


Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX), AfterValidator(_printable)]
Handle = Annotated[str, Field(pattern=HANDLE_PATTERN)]
Email = Annotated[str, Field(max_length=EMAIL_MAX, pattern=EMAIL_PATTERN)]
Tag = Annotated[str, Field(min_length=1, max_length=TAG_MAX), AfterValidator(_printable)]
Text = Annotated[str, Field(max_length=TEXT_MAX)]
HttpUrl = Annotated[str, Field(min_length=1, max_length=URL_MAX), AfterValidator(_http_url)]


class _Body(BaseModel):
    """A request body: strict types, unknown fields ignored."""

    model_config = ConfigDict(strict=True, extra="ignore")


# --------------------------------------------------------------------------- requests
class OwnerIn(_Body):
    """Who will own a new wasteland: the caller, or an org the caller belongs to."""

    type: Literal["user", "org"]
    org_id: Annotated[str, Field(min_length=1, max_length=ID_MAX)] | None = Field(
        default=None, validate_default=True
    )

    @field_validator("org_id")
    @classmethod
    def _org_id_matches_type(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("type")
        if kind == "org" and value is None:
            raise ValueError('required when type is "org"')
        if kind == "user" and value is not None:
            raise ValueError('only allowed when type is "org"')
        return value


class CreateWastelandIn(_Body):
    """``POST /v1/wastelands``."""

    name: Name
    owner: OwnerIn
    visibility: VisibilityName
    upstream: Annotated[str, Field(max_length=130, pattern=UPSTREAM_PATTERN)] | None = Field(
        default=None, description='"owner/db" of an existing commons; absent: provision'
    )
    dolthub_org: Handle | None = Field(
        default=None,
        description="provisioning: the DoltHub org of the new commons (default: the credential's)",
    )
    dolthub_token: (
        Annotated[str, Field(min_length=1, max_length=TOKEN_MAX, pattern=r"^\S+$")] | None
    ) = Field(
        default=None,
        description="provisioning: your DoltHub token (default: the one you connected last)",
    )


class UpdateWastelandIn(_Body):
    """``PATCH /v1/wastelands/{wasteland_id}``."""

    name: Name | None = None
    visibility: VisibilityName | None = None


class PutCredentialIn(_Body):
    """``PUT /v1/wastelands/{id}/credential``."""

    dolthub_token: Annotated[str, Field(min_length=1, max_length=TOKEN_MAX, pattern=r"^\S+$")]
    dolthub_org: Handle
    rig_handle: Handle | None = None


class PutUpstreamCredentialIn(_Body):
    """``PUT /v1/wastelands/{id}/upstream-credential``."""

    dolthub_token: Annotated[str, Field(min_length=1, max_length=TOKEN_MAX, pattern=r"^\S+$")]


class AddMemberIn(_Body):
    """``POST /v1/wastelands/{id}/members``."""

    user_id: Annotated[str, Field(min_length=1, max_length=ID_MAX), AfterValidator(_printable)]
    role: AssignableRole
    trust_level: Annotated[int, Field(ge=0, le=3)]


class UpdateMemberIn(_Body):
    """``PATCH /v1/wastelands/{id}/members/{user_id}``."""

    role: AssignableRole | None = None
    trust_level: Annotated[int, Field(ge=0, le=3)] | None = None


class JoinIn(_Body):
    """``POST /v1/wastelands/{id}/join``."""

    rig_handle: Handle | None = None
    display_name: Name | None = None
    owner_email: Email | None = None


class ConnectTownIn(_Body):
    """``POST /v1/wastelands/{id}/towns``."""

    town_id: Annotated[str, Field(min_length=1, max_length=ID_MAX, pattern=ID_PATTERN)]
    rig_handle: Handle
    owner_email: Email


class PostWantedIn(_Body):
    """``POST /v1/wastelands/{id}/wanted`` (the ``post`` action)."""

    title: Annotated[str, Field(min_length=1, max_length=TITLE_MAX), AfterValidator(_printable)]
    description: Annotated[str, Field(max_length=DESCRIPTION_MAX)] | None = None
    project: Annotated[str, Field(max_length=NAME_MAX), AfterValidator(_printable)] | None = None
    type: WantedType
    priority: Annotated[int, Field(ge=0, le=4)]
    effort_level: EffortLevel | None = None
    tags: Annotated[list[Tag], Field(max_length=TAGS_MAX)] | None = None
    sandbox_required: bool | None = None
    sandbox_scope: dict[str, Any] | str | None = Field(
        default=None, description="JSON object (stored as JSON text in the commons)"
    )
    sandbox_min_tier: Annotated[str, Field(max_length=32), AfterValidator(_printable)] | None = None


class DoneIn(_Body):
    """``POST …/wanted/{wanted_id}/done``."""

    evidence: HttpUrl


class AcceptIn(_Body):
    """``POST …/wanted/{wanted_id}/accept``."""

    quality: Annotated[int, Field(ge=1, le=5)]
    reliability: Annotated[int, Field(ge=1, le=5)]
    severity: Severity | None = None
    skill_tags: Annotated[list[Tag], Field(max_length=TAGS_MAX)] | None = None
    message: Text | None = None


class MergePullIn(_Body):
    """``POST …/pulls/{pull_id}/merge`` (the body is optional)."""

    confirm: bool = Field(
        default=False,
        description="merge although the pull request carries warnings (otherwise 400)",
    )


class RejectIn(_Body):
    """``POST …/wanted/{wanted_id}/reject``."""

    reason: Text | None = None


# -------------------------------------------------------------------------- responses
class Owner(BaseModel):
    type: Literal["user", "org"] | None
    user_id: str | None = None
    org_id: str | None = None


class Wasteland(BaseModel):
    wasteland_id: str
    name: str
    owner: Owner
    visibility: VisibilityName | None
    upstream: str
    status: WastelandStatusName | None
    created_at: datetime | None
    updated_at: datetime | None
    my_role: RoleName
    runtime_state: RuntimeStateName
    dolthub_org: str | None = None
    status_reason: str | None = Field(default=None, description="why provisioning failed")


class WastelandList(BaseModel):
    wastelands: list[Wasteland]
    next_page_token: str


class CredentialStatus(BaseModel):
    connected: bool
    dolthub_org: str | None = None
    rig_handle: str | None = None
    token_hint: str | None = None
    connected_at: datetime | None = None
    fork_behind: bool | None = Field(
        default=None,
        description="Whether your fork's main lacks commits of the upstream main (null: unknown)",
    )
    fork_checked_at: datetime | None = None


class UpstreamCredentialStatus(BaseModel):
    connected: bool
    dolthub_user: str | None = None
    token_hint: str | None = None
    connected_at: datetime | None = None


class ForkSync(BaseModel):
    """What bringing the caller's fork up to date did."""

    fork_behind_before: bool | None = None
    fork_behind_after: bool | None = None
    pull_request_url: str | None = Field(
        default=None, description="The merged pull request upstream:main → fork:main, if one"
    )
    branches_removed: list[str] = Field(default_factory=list)


class Member(BaseModel):
    user_id: str
    role: RoleName | None
    trust_level: int
    rig_handle: str | None
    joined_at: datetime | None
    source: Literal["explicit", "org"] | None


class MemberList(BaseModel):
    members: list[Member]
    next_page_token: str


class Rig(BaseModel):
    handle: str
    display_name: str | None
    rig_type: str | None
    parent_rig: str | None
    trust_level: int
    registered_at: datetime | None
    dolthub_org: str | None = None


class RigList(BaseModel):
    rigs: list[Rig]
    next_page_token: str


class WantedItem(BaseModel):
    wanted_id: str
    title: str
    description: str | None
    project: str | None
    type: str | None
    priority: int
    tags: list[str]
    posted_by: str | None
    claimed_by: str | None
    status: str
    effort_level: str | None
    sandbox_required: bool
    sandbox_scope: str | None = Field(description="JSON text as stored in the commons")
    sandbox_min_tier: str | None
    created_at: datetime | None
    updated_at: datetime | None
    evidence_url: str | None = None
    pending: bool = Field(
        default=False,
        description="status/claimed_by come from an open pull request not merged upstream yet",
    )
    pending_pull_id: str | None = None


class WantedPage(BaseModel):
    items: list[WantedItem]
    next_page_token: str
    synced_at: datetime | None
    stale: bool


class Completion(BaseModel):
    completion_id: str
    wanted_id: str
    completed_by: str | None
    evidence: str | None
    validated_by: str | None
    stamp_id: str | None
    completed_at: datetime | None
    validated_at: datetime | None


class CompletionList(BaseModel):
    completions: list[Completion]
    next_page_token: str


class Stamp(BaseModel):
    stamp_id: str
    author: str | None
    subject: str | None
    quality: int
    reliability: int
    severity: str | None
    context_id: str | None
    skill_tags: list[str]
    message: str | None
    created_at: datetime | None


class WantedDetail(BaseModel):
    item: WantedItem
    completions: list[Completion]
    stamps: list[Stamp]


class WantedCounts(BaseModel):
    by_status: dict[str, int] = Field(
        description="open, claimed, in_review, completed and withdrawn are always present"
    )


class OperationResult(BaseModel):
    operation_id: str
    status: OperationStatusName | None
    kind: OperationKindName | None
    wanted_id: str | None = None
    item: WantedItem | None = None
    branch: str | None = None
    pull_request_url: str | None = None
    error: str | None = None
    error_code: str | None = None
    rig_handle: str | None = None
    fork_sync: ForkSync | None = None
    pull_id: str | None = None


class PullWarning(BaseModel):
    code: str = Field(description="done_not_by_claimer, claim_for_another_rig")
    message: str


class PullChange(BaseModel):
    table: str
    key: str = Field(description="the row's primary key")
    kind: RowChangeKind
    before: dict[str, str | None] | None = Field(
        default=None, description="the row when the branch was cut (absent when added)"
    )
    after: dict[str, str | None] | None = Field(
        default=None, description="the row the pull request proposes (absent when removed)"
    )


class Pull(BaseModel):
    pull_id: str
    title: str
    state: PullStateName
    kind: review.PullKind = Field(description="what it does to the commons, read from its diff")
    wanted_id: str | None
    author_rig: str | None
    from_branch: str
    created_at: datetime | None
    mergeable: bool | None = Field(
        description=(
            "whether it merges into the upstream's main as it is now: no row it changes was"
            " changed differently upstream since its branch was cut; null when its changes"
            " cannot be read, false once closed or merged"
        )
    )
    url: str
    warnings: list[PullWarning] = Field(
        description="what a maintainer should see first; merging needs confirm while any"
    )
    from_owner: str = Field(description="the DoltHub owner of the database it comes from")
    author: str | None = Field(description="the DoltHub user who opened it")
    stamp_subjects: list[str] = Field(
        description="whose work its stamps judge; none of them may merge it"
    )
    changes: list[PullChange] | None = Field(
        default=None, description="its row changes (in GET of one pull request, merge, close)"
    )


class PullList(BaseModel):
    pulls: list[Pull]
    next_page_token: str


class Runtime(BaseModel):
    state: RuntimeStateName
    last_activity_at: datetime | None
    wl_version: str | None
    started_at: datetime | None


class Town(BaseModel):
    town_id: str
    rig_handle: str
    owner_email: str | None
    parent_rig: str | None
    connected_by: str | None
    connected_at: datetime | None
    pull_request_url: str | None = None


class TownList(BaseModel):
    towns: list[Town]


class BoardEvent(BaseModel):
    """The JSON ``data`` of one ``board`` server-sent event."""

    wanted_id: str
    status: str
    observed_at: datetime | None = None


class Activity(BaseModel):
    """One entry of a wasteland's activity log; also the ``data`` of an ``activity``
    server-sent event."""

    event_id: str
    kind: ActivityKindName
    actor: str = Field(description='the Kilo user id, or "service:<name>" for a service')
    wanted_id: str | None
    pull_id: str | None
    detail: str
    request_id: str = Field(
        description="X-Request-Id of the request that caused it; empty when none did"
    )
    at: datetime


class ActivityList(BaseModel):
    events: list[Activity]
    next_page_token: str


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str]


class ErrorDetail(BaseModel):
    field: str
    description: str


class ErrorBody(BaseModel):
    code: str = Field(description="gRPC status code name, e.g. NOT_FOUND")
    message: str
    details: list[ErrorDetail]


class ErrorEnvelope(BaseModel):
    error: ErrorBody


# --------------------------------------------------------------------------- builders
def _opt(value: str) -> str | None:
    return value or None


def timestamp(ts: Any) -> datetime | None:
    """A protobuf Timestamp as an aware UTC datetime; None when unset (zero)."""
    if ts is None or (ts.seconds == 0 and ts.nanos == 0):
        return None
    try:
        return datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def runtime_state(value: int) -> RuntimeStateName:
    """The lower-case runtime state ("sleeping" when unknown)."""
    name = enums.word(common_pb2.RuntimeState, value)
    return name if name in ("starting", "running", "stopping", "failed") else "sleeping"  # type: ignore[return-value]


def _role(value: int) -> RoleName | None:
    return enums.word(common_pb2.MemberRole, value)  # type: ignore[return-value]


def wasteland(msg: Any) -> Wasteland:
    """A ``Wasteland`` response from ``common_pb2.Wasteland``."""
    owner_type = enums.word(common_pb2.OwnerType, msg.owner.type)
    return Wasteland(
        wasteland_id=msg.wasteland_id,
        name=msg.name,
        owner=Owner(
            type=owner_type,  # type: ignore[arg-type]
            user_id=_opt(msg.owner.user_id),
            org_id=_opt(msg.owner.org_id),
        ),
        visibility=enums.word(common_pb2.Visibility, msg.visibility),  # type: ignore[arg-type]
        upstream=msg.upstream,
        status=enums.word(common_pb2.WastelandStatus, msg.status),  # type: ignore[arg-type]
        created_at=timestamp(msg.created_at),
        updated_at=timestamp(msg.updated_at),
        my_role=_role(msg.my_role) or "viewer",
        runtime_state=runtime_state(msg.runtime_state),
        dolthub_org=_opt(msg.dolthub_org),
        status_reason=_opt(msg.status_reason),
    )


def credential_status(msg: Any) -> CredentialStatus:
    """A ``CredentialStatus`` (never the token: the message has no such field)."""
    if not msg.connected:
        return CredentialStatus(connected=False)
    return CredentialStatus(
        connected=True,
        dolthub_org=_opt(msg.dolthub_org),
        rig_handle=_opt(msg.rig_handle),
        token_hint=_opt(msg.token_hint),
        connected_at=timestamp(msg.connected_at),
        fork_behind=msg.fork_behind if msg.HasField("fork_behind") else None,
        fork_checked_at=timestamp(msg.fork_checked_at),
    )


def upstream_credential_status(msg: Any) -> UpstreamCredentialStatus:
    """An ``UpstreamCredentialStatus`` (never the token: the message has no such field)."""
    if not msg.connected:
        return UpstreamCredentialStatus(connected=False)
    return UpstreamCredentialStatus(
        connected=True,
        dolthub_user=_opt(msg.dolthub_user),
        token_hint=_opt(msg.token_hint),
        connected_at=timestamp(msg.connected_at),
    )


def fork_sync(msg: Any) -> ForkSync:
    """A ``ForkSync``."""
    return ForkSync(
        fork_behind_before=(msg.fork_behind_before if msg.HasField("fork_behind_before") else None),
        fork_behind_after=msg.fork_behind_after if msg.HasField("fork_behind_after") else None,
        pull_request_url=_opt(msg.pull_request_url),
        branches_removed=list(msg.branches_removed),
    )


def member(msg: Any) -> Member:
    """A ``Member`` response."""
    return Member(
        user_id=msg.user_id,
        role=_role(msg.role),
        trust_level=msg.trust_level,
        rig_handle=_opt(msg.rig_handle),
        joined_at=timestamp(msg.joined_at),
        source=enums.word(common_pb2.MemberSource, msg.source),  # type: ignore[arg-type]
    )


def rig(msg: Any) -> Rig:
    """A ``Rig`` response."""
    return Rig(
        handle=msg.handle,
        display_name=_opt(msg.display_name),
        rig_type=_opt(msg.rig_type),
        parent_rig=_opt(msg.parent_rig),
        trust_level=msg.trust_level,
        registered_at=timestamp(msg.registered_at),
        dolthub_org=_opt(msg.dolthub_org),
    )


def wanted_item_fields(msg: Any) -> dict[str, Any]:
    """The fields of a ``WantedItem`` response, in the model's order."""
    return {
        "wanted_id": msg.wanted_id,
        "title": msg.title,
        "description": msg.description or None,
        "project": msg.project or None,
        "type": msg.type or None,
        "priority": msg.priority,
        "tags": list(msg.tags),
        "posted_by": msg.posted_by or None,
        "claimed_by": msg.claimed_by or None,
        "status": msg.status,
        "effort_level": msg.effort_level or None,
        "sandbox_required": msg.sandbox_required,
        "sandbox_scope": msg.sandbox_scope or None,
        "sandbox_min_tier": msg.sandbox_min_tier or None,
        "created_at": timestamp(msg.created_at),
        "updated_at": timestamp(msg.updated_at),
        "evidence_url": msg.evidence_url or None,
        "pending": msg.pending,
        "pending_pull_id": msg.pending_pull_id or None,
    }


def wanted_item(msg: Any) -> WantedItem:
    """A ``WantedItem`` response."""
    return WantedItem(**wanted_item_fields(msg))


def completion_fields(msg: Any) -> dict[str, Any]:
    """The fields of a ``Completion`` response, in the model's order."""
    return {
        "completion_id": msg.completion_id,
        "wanted_id": msg.wanted_id,
        "completed_by": msg.completed_by or None,
        "evidence": msg.evidence or None,
        "validated_by": msg.validated_by or None,
        "stamp_id": msg.stamp_id or None,
        "completed_at": timestamp(msg.completed_at),
        "validated_at": timestamp(msg.validated_at),
    }


def completion(msg: Any) -> Completion:
    """A ``Completion`` response."""
    return Completion(**completion_fields(msg))


def stamp_fields(msg: Any) -> dict[str, Any]:
    """The fields of a ``Stamp`` response, in the model's order."""
    return {
        "stamp_id": msg.stamp_id,
        "author": msg.author or None,
        "subject": msg.subject or None,
        "quality": msg.quality,
        "reliability": msg.reliability,
        "severity": msg.severity or None,
        "context_id": msg.context_id or None,
        "skill_tags": list(msg.skill_tags),
        "message": msg.message or None,
        "created_at": timestamp(msg.created_at),
    }


def stamp(msg: Any) -> Stamp:
    """A ``Stamp`` response."""
    return Stamp(**stamp_fields(msg))


def wanted_counts_fields(by_status: Any) -> dict[str, Any]:
    """The fields of a ``WantedCounts`` response: every known status present (0 when
    none)."""
    counts: dict[str, int] = dict.fromkeys(WANTED_STATUSES, 0)
    counts.update({str(k): int(v) for k, v in dict(by_status).items()})
    return {"by_status": counts}


def wanted_counts(by_status: Any) -> WantedCounts:
    """Counts per status, every known status present (0 when none)."""
    return WantedCounts(**wanted_counts_fields(by_status))


# The hot board reads (browse, counts, one item) answer with JSON encoded straight from
# these field dicts: the same bytes FastAPI would produce from the response model (the
# same pydantic-core encoder, the fields in the model's order; tests/gateway checks it),
# without validating the response model and copying every value through it on each
# read. The routes keep ``response_model=`` for the OpenAPI document.
EMPTY_WANTED_PAGE: dict[str, Any] = {
    "items": [],
    "next_page_token": "",
    "synced_at": None,
    "stale": False,
}


def wanted_page_fields(resp: Any) -> dict[str, Any]:
    """The fields of a ``WantedPage`` response from ``board_pb2.BrowseResponse``."""
    return {
        "items": [wanted_item_fields(i) for i in resp.items],
        "next_page_token": resp.next_page_token,
        "synced_at": timestamp(resp.synced_at),
        "stale": resp.stale,
    }


def wanted_detail_fields(resp: Any) -> dict[str, Any]:
    """The fields of a ``WantedDetail`` response from ``board_pb2.GetWantedItemResponse``."""
    return {
        "item": wanted_item_fields(resp.item),
        "completions": [completion_fields(c) for c in resp.completions],
        "stamps": [stamp_fields(s) for s in resp.stamps],
    }


def json_bytes(fields: dict[str, Any]) -> bytes:
    """``fields`` (from the ``*_fields`` builders) as the response body."""
    return to_json(fields)


def operation_result(msg: Any) -> OperationResult:
    """An ``OperationResult`` response."""
    return OperationResult(
        operation_id=msg.operation_id,
        status=enums.word(common_pb2.OperationStatus, msg.status),  # type: ignore[arg-type]
        kind=enums.word(common_pb2.OperationKind, msg.kind),  # type: ignore[arg-type]
        wanted_id=_opt(msg.wanted_id),
        item=wanted_item(msg.item) if msg.HasField("item") else None,
        branch=_opt(msg.branch),
        pull_request_url=_opt(msg.pull_request_url),
        error=_opt(msg.error),
        error_code=_opt(msg.error_code),
        rig_handle=_opt(msg.rig_handle),
        fork_sync=fork_sync(msg.fork_sync) if msg.HasField("fork_sync") else None,
        pull_id=_opt(msg.pull_id),
    )


def _row(text: str) -> dict[str, str | None] | None:
    if not text:
        return None
    value = json.loads(text)
    if not isinstance(value, dict):
        return None
    return {str(k): v if v is None else str(v) for k, v in value.items()}


def pull(msg: Any, *, with_changes: bool = False) -> Pull:
    """A ``Pull`` response from ``board_pb2.Pull``."""
    return Pull(
        pull_id=msg.pull_id,
        title=msg.title,
        state=enums.word(board_pb2.PullState, msg.state) or "open",  # type: ignore[arg-type]
        kind=enums.word(board_pb2.PullKind, msg.kind) or "other",  # type: ignore[arg-type]
        wanted_id=_opt(msg.wanted_id),
        author_rig=_opt(msg.author_rig),
        from_branch=msg.from_branch,
        created_at=timestamp(msg.created_at),
        mergeable=msg.mergeable if msg.HasField("mergeable") else None,
        url=msg.url,
        warnings=[PullWarning(code=w.code, message=w.message) for w in msg.warnings],
        from_owner=msg.from_owner,
        author=_opt(msg.author),
        stamp_subjects=list(msg.stamp_subjects),
        changes=[
            PullChange(
                table=c.table,
                key=c.key,
                kind=c.kind,
                before=_row(c.before_json),
                after=_row(c.after_json),
            )
            for c in msg.changes
        ]
        if with_changes
        else None,
    )


def runtime(msg: Any) -> Runtime:
    """A ``Runtime`` response from ``executor_pb2.RuntimeStatus``."""
    return Runtime(
        state=runtime_state(msg.state),
        last_activity_at=timestamp(msg.last_activity_at),
        wl_version=_opt(msg.wl_version),
        started_at=timestamp(msg.started_at),
    )


def town(msg: Any) -> Town:
    """A ``Town`` response."""
    return Town(
        town_id=msg.town_id,
        rig_handle=msg.rig_handle,
        owner_email=_opt(msg.owner_email),
        parent_rig=_opt(msg.parent_rig),
        connected_by=_opt(msg.connected_by),
        connected_at=timestamp(msg.connected_at),
        pull_request_url=_opt(msg.pull_request_url),
    )


def board_event(msg: Any) -> BoardEvent:
    """The data of a ``board`` event."""
    return BoardEvent(
        wanted_id=msg.wanted_id, status=msg.status, observed_at=timestamp(msg.observed_at)
    )


def activity(msg: Any) -> Activity | None:
    """An ``Activity`` response; None for a kind this gateway does not know (a newer
    board-sync), which is left out rather than shown wrongly."""
    kind = kind_word(msg.kind)
    at = timestamp(msg.at)
    if kind is None or at is None:
        return None
    return Activity(
        event_id=msg.event_id,
        kind=kind,
        actor=msg.actor,
        wanted_id=_opt(msg.wanted_id),
        pull_id=_opt(msg.pull_id),
        detail=msg.detail,
        request_id=msg.request_id,
        at=at,
    )
