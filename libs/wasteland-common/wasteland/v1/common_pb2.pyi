import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Visibility(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VISIBILITY_UNSPECIFIED: _ClassVar[Visibility]
    VISIBILITY_PUBLIC: _ClassVar[Visibility]
    VISIBILITY_PRIVATE: _ClassVar[Visibility]

class OwnerType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OWNER_TYPE_UNSPECIFIED: _ClassVar[OwnerType]
    OWNER_TYPE_USER: _ClassVar[OwnerType]
    OWNER_TYPE_ORG: _ClassVar[OwnerType]

class WastelandStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WASTELAND_STATUS_UNSPECIFIED: _ClassVar[WastelandStatus]
    WASTELAND_STATUS_PROVISIONING: _ClassVar[WastelandStatus]
    WASTELAND_STATUS_ACTIVE: _ClassVar[WastelandStatus]
    WASTELAND_STATUS_FAILED: _ClassVar[WastelandStatus]
    WASTELAND_STATUS_DELETED: _ClassVar[WastelandStatus]

class MemberRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMBER_ROLE_UNSPECIFIED: _ClassVar[MemberRole]
    MEMBER_ROLE_OWNER: _ClassVar[MemberRole]
    MEMBER_ROLE_MAINTAINER: _ClassVar[MemberRole]
    MEMBER_ROLE_CONTRIBUTOR: _ClassVar[MemberRole]
    MEMBER_ROLE_VIEWER: _ClassVar[MemberRole]

class MemberSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMBER_SOURCE_UNSPECIFIED: _ClassVar[MemberSource]
    MEMBER_SOURCE_EXPLICIT: _ClassVar[MemberSource]
    MEMBER_SOURCE_ORG: _ClassVar[MemberSource]

class RuntimeState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUNTIME_STATE_UNSPECIFIED: _ClassVar[RuntimeState]
    RUNTIME_STATE_SLEEPING: _ClassVar[RuntimeState]
    RUNTIME_STATE_STARTING: _ClassVar[RuntimeState]
    RUNTIME_STATE_RUNNING: _ClassVar[RuntimeState]
    RUNTIME_STATE_STOPPING: _ClassVar[RuntimeState]
    RUNTIME_STATE_FAILED: _ClassVar[RuntimeState]

class OperationKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPERATION_KIND_UNSPECIFIED: _ClassVar[OperationKind]
    OPERATION_KIND_JOIN: _ClassVar[OperationKind]
    OPERATION_KIND_POST: _ClassVar[OperationKind]
    OPERATION_KIND_CLAIM: _ClassVar[OperationKind]
    OPERATION_KIND_UNCLAIM: _ClassVar[OperationKind]
    OPERATION_KIND_DONE: _ClassVar[OperationKind]
    OPERATION_KIND_ACCEPT: _ClassVar[OperationKind]
    OPERATION_KIND_REJECT: _ClassVar[OperationKind]
    OPERATION_KIND_CLOSE: _ClassVar[OperationKind]
    OPERATION_KIND_SYNC: _ClassVar[OperationKind]
    OPERATION_KIND_REGISTER_TOWN: _ClassVar[OperationKind]
    OPERATION_KIND_MERGE_PULL: _ClassVar[OperationKind]
    OPERATION_KIND_CLOSE_PULL: _ClassVar[OperationKind]

class OperationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPERATION_STATUS_UNSPECIFIED: _ClassVar[OperationStatus]
    OPERATION_STATUS_RUNNING: _ClassVar[OperationStatus]
    OPERATION_STATUS_SUCCEEDED: _ClassVar[OperationStatus]
    OPERATION_STATUS_FAILED: _ClassVar[OperationStatus]
VISIBILITY_UNSPECIFIED: Visibility
VISIBILITY_PUBLIC: Visibility
VISIBILITY_PRIVATE: Visibility
OWNER_TYPE_UNSPECIFIED: OwnerType
OWNER_TYPE_USER: OwnerType
OWNER_TYPE_ORG: OwnerType
WASTELAND_STATUS_UNSPECIFIED: WastelandStatus
WASTELAND_STATUS_PROVISIONING: WastelandStatus
WASTELAND_STATUS_ACTIVE: WastelandStatus
WASTELAND_STATUS_FAILED: WastelandStatus
WASTELAND_STATUS_DELETED: WastelandStatus
MEMBER_ROLE_UNSPECIFIED: MemberRole
MEMBER_ROLE_OWNER: MemberRole
MEMBER_ROLE_MAINTAINER: MemberRole
MEMBER_ROLE_CONTRIBUTOR: MemberRole
MEMBER_ROLE_VIEWER: MemberRole
MEMBER_SOURCE_UNSPECIFIED: MemberSource
MEMBER_SOURCE_EXPLICIT: MemberSource
MEMBER_SOURCE_ORG: MemberSource
RUNTIME_STATE_UNSPECIFIED: RuntimeState
RUNTIME_STATE_SLEEPING: RuntimeState
RUNTIME_STATE_STARTING: RuntimeState
RUNTIME_STATE_RUNNING: RuntimeState
RUNTIME_STATE_STOPPING: RuntimeState
RUNTIME_STATE_FAILED: RuntimeState
OPERATION_KIND_UNSPECIFIED: OperationKind
OPERATION_KIND_JOIN: OperationKind
OPERATION_KIND_POST: OperationKind
OPERATION_KIND_CLAIM: OperationKind
OPERATION_KIND_UNCLAIM: OperationKind
OPERATION_KIND_DONE: OperationKind
OPERATION_KIND_ACCEPT: OperationKind
OPERATION_KIND_REJECT: OperationKind
OPERATION_KIND_CLOSE: OperationKind
OPERATION_KIND_SYNC: OperationKind
OPERATION_KIND_REGISTER_TOWN: OperationKind
OPERATION_KIND_MERGE_PULL: OperationKind
OPERATION_KIND_CLOSE_PULL: OperationKind
OPERATION_STATUS_UNSPECIFIED: OperationStatus
OPERATION_STATUS_RUNNING: OperationStatus
OPERATION_STATUS_SUCCEEDED: OperationStatus
OPERATION_STATUS_FAILED: OperationStatus

class Owner(_message.Message):
    __slots__ = ("type", "user_id", "org_id")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    type: OwnerType
    user_id: str
    org_id: str
    def __init__(self, type: _Optional[_Union[OwnerType, str]] = ..., user_id: _Optional[str] = ..., org_id: _Optional[str] = ...) -> None: ...

class Wasteland(_message.Message):
    __slots__ = ("wasteland_id", "name", "owner", "visibility", "upstream", "status", "created_at", "updated_at", "my_role", "runtime_state", "dolthub_org", "my_rig_handle", "status_reason")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    MY_ROLE_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_STATE_FIELD_NUMBER: _ClassVar[int]
    DOLTHUB_ORG_FIELD_NUMBER: _ClassVar[int]
    MY_RIG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    name: str
    owner: Owner
    visibility: Visibility
    upstream: str
    status: WastelandStatus
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    my_role: MemberRole
    runtime_state: RuntimeState
    dolthub_org: str
    my_rig_handle: str
    status_reason: str
    def __init__(self, wasteland_id: _Optional[str] = ..., name: _Optional[str] = ..., owner: _Optional[_Union[Owner, _Mapping]] = ..., visibility: _Optional[_Union[Visibility, str]] = ..., upstream: _Optional[str] = ..., status: _Optional[_Union[WastelandStatus, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., my_role: _Optional[_Union[MemberRole, str]] = ..., runtime_state: _Optional[_Union[RuntimeState, str]] = ..., dolthub_org: _Optional[str] = ..., my_rig_handle: _Optional[str] = ..., status_reason: _Optional[str] = ...) -> None: ...

class CredentialStatus(_message.Message):
    __slots__ = ("connected", "dolthub_org", "rig_handle", "token_hint", "connected_at", "fork_behind", "fork_checked_at")
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    DOLTHUB_ORG_FIELD_NUMBER: _ClassVar[int]
    RIG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_HINT_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_AT_FIELD_NUMBER: _ClassVar[int]
    FORK_BEHIND_FIELD_NUMBER: _ClassVar[int]
    FORK_CHECKED_AT_FIELD_NUMBER: _ClassVar[int]
    connected: bool
    dolthub_org: str
    rig_handle: str
    token_hint: str
    connected_at: _timestamp_pb2.Timestamp
    fork_behind: bool
    fork_checked_at: _timestamp_pb2.Timestamp
    def __init__(self, connected: _Optional[bool] = ..., dolthub_org: _Optional[str] = ..., rig_handle: _Optional[str] = ..., token_hint: _Optional[str] = ..., connected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fork_behind: _Optional[bool] = ..., fork_checked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UpstreamCredentialStatus(_message.Message):
    __slots__ = ("connected", "dolthub_user", "token_hint", "connected_at")
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    DOLTHUB_USER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_HINT_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_AT_FIELD_NUMBER: _ClassVar[int]
    connected: bool
    dolthub_user: str
    token_hint: str
    connected_at: _timestamp_pb2.Timestamp
    def __init__(self, connected: _Optional[bool] = ..., dolthub_user: _Optional[str] = ..., token_hint: _Optional[str] = ..., connected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Member(_message.Message):
    __slots__ = ("user_id", "role", "trust_level", "rig_handle", "joined_at", "source")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TRUST_LEVEL_FIELD_NUMBER: _ClassVar[int]
    RIG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    JOINED_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    role: MemberRole
    trust_level: int
    rig_handle: str
    joined_at: _timestamp_pb2.Timestamp
    source: MemberSource
    def __init__(self, user_id: _Optional[str] = ..., role: _Optional[_Union[MemberRole, str]] = ..., trust_level: _Optional[int] = ..., rig_handle: _Optional[str] = ..., joined_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[_Union[MemberSource, str]] = ...) -> None: ...

class Rig(_message.Message):
    __slots__ = ("handle", "display_name", "rig_type", "parent_rig", "trust_level", "registered_at", "dolthub_org")
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    RIG_TYPE_FIELD_NUMBER: _ClassVar[int]
    PARENT_RIG_FIELD_NUMBER: _ClassVar[int]
    TRUST_LEVEL_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_AT_FIELD_NUMBER: _ClassVar[int]
    DOLTHUB_ORG_FIELD_NUMBER: _ClassVar[int]
    handle: str
    display_name: str
    rig_type: str
    parent_rig: str
    trust_level: int
    registered_at: _timestamp_pb2.Timestamp
    dolthub_org: str
    def __init__(self, handle: _Optional[str] = ..., display_name: _Optional[str] = ..., rig_type: _Optional[str] = ..., parent_rig: _Optional[str] = ..., trust_level: _Optional[int] = ..., registered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dolthub_org: _Optional[str] = ...) -> None: ...

class WantedItem(_message.Message):
    __slots__ = ("wanted_id", "title", "description", "project", "type", "priority", "tags", "posted_by", "claimed_by", "status", "effort_level", "sandbox_required", "sandbox_scope", "sandbox_min_tier", "created_at", "updated_at", "evidence_url", "pending", "pending_pull_id")
    WANTED_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    POSTED_BY_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_BY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EFFORT_LEVEL_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_SCOPE_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_MIN_TIER_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_URL_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    PENDING_PULL_ID_FIELD_NUMBER: _ClassVar[int]
    wanted_id: str
    title: str
    description: str
    project: str
    type: str
    priority: int
    tags: _containers.RepeatedScalarFieldContainer[str]
    posted_by: str
    claimed_by: str
    status: str
    effort_level: str
    sandbox_required: bool
    sandbox_scope: str
    sandbox_min_tier: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    evidence_url: str
    pending: bool
    pending_pull_id: str
    def __init__(self, wanted_id: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., project: _Optional[str] = ..., type: _Optional[str] = ..., priority: _Optional[int] = ..., tags: _Optional[_Iterable[str]] = ..., posted_by: _Optional[str] = ..., claimed_by: _Optional[str] = ..., status: _Optional[str] = ..., effort_level: _Optional[str] = ..., sandbox_required: _Optional[bool] = ..., sandbox_scope: _Optional[str] = ..., sandbox_min_tier: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., evidence_url: _Optional[str] = ..., pending: _Optional[bool] = ..., pending_pull_id: _Optional[str] = ...) -> None: ...

class Completion(_message.Message):
    __slots__ = ("completion_id", "wanted_id", "completed_by", "evidence", "validated_by", "stamp_id", "completed_at", "validated_at")
    COMPLETION_ID_FIELD_NUMBER: _ClassVar[int]
    WANTED_ID_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_BY_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    VALIDATED_BY_FIELD_NUMBER: _ClassVar[int]
    STAMP_ID_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    VALIDATED_AT_FIELD_NUMBER: _ClassVar[int]
    completion_id: str
    wanted_id: str
    completed_by: str
    evidence: str
    validated_by: str
    stamp_id: str
    completed_at: _timestamp_pb2.Timestamp
    validated_at: _timestamp_pb2.Timestamp
    def __init__(self, completion_id: _Optional[str] = ..., wanted_id: _Optional[str] = ..., completed_by: _Optional[str] = ..., evidence: _Optional[str] = ..., validated_by: _Optional[str] = ..., stamp_id: _Optional[str] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., validated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Stamp(_message.Message):
    __slots__ = ("stamp_id", "author", "subject", "quality", "reliability", "severity", "context_id", "skill_tags", "message", "created_at")
    STAMP_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    RELIABILITY_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_ID_FIELD_NUMBER: _ClassVar[int]
    SKILL_TAGS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    stamp_id: str
    author: str
    subject: str
    quality: int
    reliability: int
    severity: str
    context_id: str
    skill_tags: _containers.RepeatedScalarFieldContainer[str]
    message: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, stamp_id: _Optional[str] = ..., author: _Optional[str] = ..., subject: _Optional[str] = ..., quality: _Optional[int] = ..., reliability: _Optional[int] = ..., severity: _Optional[str] = ..., context_id: _Optional[str] = ..., skill_tags: _Optional[_Iterable[str]] = ..., message: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Town(_message.Message):
    __slots__ = ("town_id", "rig_handle", "owner_email", "parent_rig", "connected_by", "connected_at", "pull_request_url")
    TOWN_ID_FIELD_NUMBER: _ClassVar[int]
    RIG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    OWNER_EMAIL_FIELD_NUMBER: _ClassVar[int]
    PARENT_RIG_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_BY_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_AT_FIELD_NUMBER: _ClassVar[int]
    PULL_REQUEST_URL_FIELD_NUMBER: _ClassVar[int]
    town_id: str
    rig_handle: str
    owner_email: str
    parent_rig: str
    connected_by: str
    connected_at: _timestamp_pb2.Timestamp
    pull_request_url: str
    def __init__(self, town_id: _Optional[str] = ..., rig_handle: _Optional[str] = ..., owner_email: _Optional[str] = ..., parent_rig: _Optional[str] = ..., connected_by: _Optional[str] = ..., connected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., pull_request_url: _Optional[str] = ...) -> None: ...

class OperationArgs(_message.Message):
    __slots__ = ("title", "description", "project", "type", "priority", "effort_level", "tags", "evidence", "quality", "reliability", "severity", "skill_tags", "message", "reason", "rig_handle", "display_name", "owner_email", "town_id", "pull_id", "confirm")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    EFFORT_LEVEL_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    RELIABILITY_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    SKILL_TAGS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RIG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_EMAIL_FIELD_NUMBER: _ClassVar[int]
    TOWN_ID_FIELD_NUMBER: _ClassVar[int]
    PULL_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIRM_FIELD_NUMBER: _ClassVar[int]
    title: str
    description: str
    project: str
    type: str
    priority: int
    effort_level: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    evidence: str
    quality: int
    reliability: int
    severity: str
    skill_tags: _containers.RepeatedScalarFieldContainer[str]
    message: str
    reason: str
    rig_handle: str
    display_name: str
    owner_email: str
    town_id: str
    pull_id: str
    confirm: bool
    def __init__(self, title: _Optional[str] = ..., description: _Optional[str] = ..., project: _Optional[str] = ..., type: _Optional[str] = ..., priority: _Optional[int] = ..., effort_level: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., evidence: _Optional[str] = ..., quality: _Optional[int] = ..., reliability: _Optional[int] = ..., severity: _Optional[str] = ..., skill_tags: _Optional[_Iterable[str]] = ..., message: _Optional[str] = ..., reason: _Optional[str] = ..., rig_handle: _Optional[str] = ..., display_name: _Optional[str] = ..., owner_email: _Optional[str] = ..., town_id: _Optional[str] = ..., pull_id: _Optional[str] = ..., confirm: _Optional[bool] = ...) -> None: ...

class ForkSync(_message.Message):
    __slots__ = ("fork_behind_before", "fork_behind_after", "pull_request_url", "branches_removed")
    FORK_BEHIND_BEFORE_FIELD_NUMBER: _ClassVar[int]
    FORK_BEHIND_AFTER_FIELD_NUMBER: _ClassVar[int]
    PULL_REQUEST_URL_FIELD_NUMBER: _ClassVar[int]
    BRANCHES_REMOVED_FIELD_NUMBER: _ClassVar[int]
    fork_behind_before: bool
    fork_behind_after: bool
    pull_request_url: str
    branches_removed: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, fork_behind_before: _Optional[bool] = ..., fork_behind_after: _Optional[bool] = ..., pull_request_url: _Optional[str] = ..., branches_removed: _Optional[_Iterable[str]] = ...) -> None: ...

class OperationResult(_message.Message):
    __slots__ = ("operation_id", "status", "kind", "wanted_id", "item", "branch", "pull_request_url", "error", "error_code", "rig_handle", "fork_sync", "pull_id")
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    WANTED_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    BRANCH_FIELD_NUMBER: _ClassVar[int]
    PULL_REQUEST_URL_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    RIG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    FORK_SYNC_FIELD_NUMBER: _ClassVar[int]
    PULL_ID_FIELD_NUMBER: _ClassVar[int]
    operation_id: str
    status: OperationStatus
    kind: OperationKind
    wanted_id: str
    item: WantedItem
    branch: str
    pull_request_url: str
    error: str
    error_code: str
    rig_handle: str
    fork_sync: ForkSync
    pull_id: str
    def __init__(self, operation_id: _Optional[str] = ..., status: _Optional[_Union[OperationStatus, str]] = ..., kind: _Optional[_Union[OperationKind, str]] = ..., wanted_id: _Optional[str] = ..., item: _Optional[_Union[WantedItem, _Mapping]] = ..., branch: _Optional[str] = ..., pull_request_url: _Optional[str] = ..., error: _Optional[str] = ..., error_code: _Optional[str] = ..., rig_handle: _Optional[str] = ..., fork_sync: _Optional[_Union[ForkSync, _Mapping]] = ..., pull_id: _Optional[str] = ...) -> None: ...
