"""Domain values ⇄ protobuf messages and enums.

Parsing an enum from a request checks it: an unspecified value where one is required, or
a number the contract does not define, is INVALID_ARGUMENT naming the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar, cast

from google.protobuf.timestamp_pb2 import Timestamp
from wasteland.v1 import common_pb2
from wasteland_common import enums, errors
from wasteland_common.vocabulary import OperationKindName

from .credentials import CredentialStatus
from .members import MemberView
from .ownership import MemberSource, OwnerType, Role, StoredRole, Visibility
from .towns import TownView
from .upstream_credentials import UpstreamCredentialStatus
from .wastelands import Status, WastelandView

K = TypeVar("K", bound=str)

VISIBILITY: dict[int, Visibility] = {
    common_pb2.VISIBILITY_PUBLIC: "public",
    common_pb2.VISIBILITY_PRIVATE: "private",
}
OWNER_TYPE: dict[int, OwnerType] = {
    common_pb2.OWNER_TYPE_USER: "user",
    common_pb2.OWNER_TYPE_ORG: "org",
}
STATUS: dict[Status, common_pb2.WastelandStatus] = {
    "provisioning": common_pb2.WASTELAND_STATUS_PROVISIONING,
    "active": common_pb2.WASTELAND_STATUS_ACTIVE,
    "failed": common_pb2.WASTELAND_STATUS_FAILED,
    "deleted": common_pb2.WASTELAND_STATUS_DELETED,
}
ROLE: dict[Role, common_pb2.MemberRole] = {
    "owner": common_pb2.MEMBER_ROLE_OWNER,
    "maintainer": common_pb2.MEMBER_ROLE_MAINTAINER,
    "contributor": common_pb2.MEMBER_ROLE_CONTRIBUTOR,
    "viewer": common_pb2.MEMBER_ROLE_VIEWER,
}
# Roles a request may assign to a member.
ASSIGNABLE_ROLE: dict[int, StoredRole] = {
    common_pb2.MEMBER_ROLE_MAINTAINER: "maintainer",
    common_pb2.MEMBER_ROLE_CONTRIBUTOR: "contributor",
}
SOURCE: dict[MemberSource, common_pb2.MemberSource] = {
    "explicit": common_pb2.MEMBER_SOURCE_EXPLICIT,
    "org": common_pb2.MEMBER_SOURCE_ORG,
}
OPERATION_KIND = cast(dict[int, OperationKindName], enums.words(common_pb2.OperationKind))


def enum_value(value: int, table: dict[int, K], field: str, *, required: bool = True) -> K | None:
    """The domain value of enum number ``value``; None when unspecified and optional."""
    if value == 0 and not required:
        return None
    try:
        return table[value]
    except KeyError:
        choices = ", ".join(table.values())
        raise errors.invalid(field, f"must be one of: {choices}") from None


def required_enum(value: int, table: dict[int, K], field: str) -> K:
    """Like :func:`enum_value` for a field that must be set."""
    result = enum_value(value, table, field)
    assert result is not None
    return result


def timestamp(value: datetime | None) -> Timestamp | None:
    """A protobuf Timestamp (None stays unset)."""
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def wasteland(w: WastelandView) -> Any:
    """The ``Wasteland`` message (``runtime_state`` is the executor's to fill)."""
    owner = common_pb2.Owner(
        type=common_pb2.OWNER_TYPE_USER if w.owner_type == "user" else common_pb2.OWNER_TYPE_ORG,
        user_id=w.owner_user_id or "",
        org_id=w.owner_org_id or "",
    )
    return common_pb2.Wasteland(
        wasteland_id=w.wasteland_id,
        name=w.name,
        owner=owner,
        visibility=common_pb2.VISIBILITY_PUBLIC
        if w.visibility == "public"
        else common_pb2.VISIBILITY_PRIVATE,
        upstream=w.upstream,
        status=STATUS[w.status],
        created_at=timestamp(w.created_at),
        updated_at=timestamp(w.updated_at),
        my_role=ROLE[w.my_role] if w.my_role else common_pb2.MEMBER_ROLE_UNSPECIFIED,
        dolthub_org=w.dolthub_org,
        my_rig_handle=w.my_rig_handle,
        status_reason=w.status_reason,
    )


def member(m: MemberView) -> Any:
    """The ``Member`` message."""
    return common_pb2.Member(
        user_id=m.user_id,
        role=ROLE[m.role],
        trust_level=m.trust_level,
        rig_handle=m.rig_handle or "",
        joined_at=timestamp(m.joined_at),
        source=SOURCE[m.source],
    )


def credential(c: CredentialStatus) -> Any:
    """The ``CredentialStatus`` message (there is no token field to fill)."""
    return common_pb2.CredentialStatus(
        connected=c.connected,
        dolthub_org=c.dolthub_org,
        rig_handle=c.rig_handle,
        token_hint=c.token_hint,
        connected_at=timestamp(c.connected_at),
        fork_behind=c.fork_behind,
        fork_checked_at=timestamp(c.fork_checked_at),
    )


def upstream_credential(c: UpstreamCredentialStatus) -> Any:
    """The ``UpstreamCredentialStatus`` message (there is no token field to fill)."""
    return common_pb2.UpstreamCredentialStatus(
        connected=c.connected,
        dolthub_user=c.dolthub_user,
        token_hint=c.token_hint,
        connected_at=timestamp(c.connected_at),
    )


def town(t: TownView) -> Any:
    """The ``Town`` message."""
    return common_pb2.Town(
        town_id=t.town_id,
        rig_handle=t.rig_handle,
        owner_email=t.owner_email,
        parent_rig=t.parent_rig,
        connected_by=t.connected_by,
        connected_at=timestamp(t.connected_at),
        pull_request_url=t.pull_request_url,
    )


def role(value: Role) -> common_pb2.MemberRole:
    """The ``MemberRole`` number of a role."""
    return ROLE[value]
