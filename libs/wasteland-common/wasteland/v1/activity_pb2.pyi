import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from wasteland.v1 import board_pb2 as _board_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ActivityKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTIVITY_KIND_UNSPECIFIED: _ClassVar[ActivityKind]
    ACTIVITY_KIND_CREATED: _ClassVar[ActivityKind]
    ACTIVITY_KIND_PROVISIONED: _ClassVar[ActivityKind]
    ACTIVITY_KIND_MEMBER_ADDED: _ClassVar[ActivityKind]
    ACTIVITY_KIND_MEMBER_REMOVED: _ClassVar[ActivityKind]
    ACTIVITY_KIND_CREDENTIAL_CONNECTED: _ClassVar[ActivityKind]
    ACTIVITY_KIND_CREDENTIAL_REMOVED: _ClassVar[ActivityKind]
    ACTIVITY_KIND_RIG_REGISTERED: _ClassVar[ActivityKind]
    ACTIVITY_KIND_POSTED: _ClassVar[ActivityKind]
    ACTIVITY_KIND_CLAIMED: _ClassVar[ActivityKind]
    ACTIVITY_KIND_UNCLAIMED: _ClassVar[ActivityKind]
    ACTIVITY_KIND_DONE: _ClassVar[ActivityKind]
    ACTIVITY_KIND_ACCEPTED: _ClassVar[ActivityKind]
    ACTIVITY_KIND_REJECTED: _ClassVar[ActivityKind]
    ACTIVITY_KIND_CLOSED: _ClassVar[ActivityKind]
    ACTIVITY_KIND_MERGED: _ClassVar[ActivityKind]
    ACTIVITY_KIND_PULL_CLOSED: _ClassVar[ActivityKind]
    ACTIVITY_KIND_FORK_SYNCED: _ClassVar[ActivityKind]
    ACTIVITY_KIND_WOKE: _ClassVar[ActivityKind]
    ACTIVITY_KIND_SLEPT: _ClassVar[ActivityKind]
    ACTIVITY_KIND_SYNC_FAILED: _ClassVar[ActivityKind]
ACTIVITY_KIND_UNSPECIFIED: ActivityKind
ACTIVITY_KIND_CREATED: ActivityKind
ACTIVITY_KIND_PROVISIONED: ActivityKind
ACTIVITY_KIND_MEMBER_ADDED: ActivityKind
ACTIVITY_KIND_MEMBER_REMOVED: ActivityKind
ACTIVITY_KIND_CREDENTIAL_CONNECTED: ActivityKind
ACTIVITY_KIND_CREDENTIAL_REMOVED: ActivityKind
ACTIVITY_KIND_RIG_REGISTERED: ActivityKind
ACTIVITY_KIND_POSTED: ActivityKind
ACTIVITY_KIND_CLAIMED: ActivityKind
ACTIVITY_KIND_UNCLAIMED: ActivityKind
ACTIVITY_KIND_DONE: ActivityKind
ACTIVITY_KIND_ACCEPTED: ActivityKind
ACTIVITY_KIND_REJECTED: ActivityKind
ACTIVITY_KIND_CLOSED: ActivityKind
ACTIVITY_KIND_MERGED: ActivityKind
ACTIVITY_KIND_PULL_CLOSED: ActivityKind
ACTIVITY_KIND_FORK_SYNCED: ActivityKind
ACTIVITY_KIND_WOKE: ActivityKind
ACTIVITY_KIND_SLEPT: ActivityKind
ACTIVITY_KIND_SYNC_FAILED: ActivityKind

class Activity(_message.Message):
    __slots__ = ("event_id", "wasteland_id", "kind", "actor", "wanted_id", "pull_id", "detail", "request_id", "at")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    WANTED_ID_FIELD_NUMBER: _ClassVar[int]
    PULL_ID_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    wasteland_id: str
    kind: ActivityKind
    actor: str
    wanted_id: str
    pull_id: str
    detail: str
    request_id: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, event_id: _Optional[str] = ..., wasteland_id: _Optional[str] = ..., kind: _Optional[_Union[ActivityKind, str]] = ..., actor: _Optional[str] = ..., wanted_id: _Optional[str] = ..., pull_id: _Optional[str] = ..., detail: _Optional[str] = ..., request_id: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecordActivityRequest(_message.Message):
    __slots__ = ("activity",)
    ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    activity: Activity
    def __init__(self, activity: _Optional[_Union[Activity, _Mapping]] = ...) -> None: ...

class RecordActivityResponse(_message.Message):
    __slots__ = ("activity", "recorded")
    ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    activity: Activity
    recorded: bool
    def __init__(self, activity: _Optional[_Union[Activity, _Mapping]] = ..., recorded: _Optional[bool] = ...) -> None: ...

class ListActivityRequest(_message.Message):
    __slots__ = ("wasteland_id", "page_size", "page_token", "kind")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    page_size: int
    page_token: str
    kind: ActivityKind
    def __init__(self, wasteland_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., kind: _Optional[_Union[ActivityKind, str]] = ...) -> None: ...

class ListActivityResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Activity]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[Activity, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchEventsRequest(_message.Message):
    __slots__ = ("wasteland_id", "after")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    after: str
    def __init__(self, wasteland_id: _Optional[str] = ..., after: _Optional[str] = ...) -> None: ...

class WastelandEvent(_message.Message):
    __slots__ = ("cursor", "board", "activity")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    BOARD_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    board: _board_pb2.BoardEvent
    activity: Activity
    def __init__(self, cursor: _Optional[str] = ..., board: _Optional[_Union[_board_pb2.BoardEvent, _Mapping]] = ..., activity: _Optional[_Union[Activity, _Mapping]] = ...) -> None: ...
