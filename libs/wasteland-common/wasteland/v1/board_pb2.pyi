import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from wasteland.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BrowseSort(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BROWSE_SORT_UNSPECIFIED: _ClassVar[BrowseSort]
    BROWSE_SORT_PRIORITY: _ClassVar[BrowseSort]
    BROWSE_SORT_CREATED: _ClassVar[BrowseSort]
    BROWSE_SORT_UPDATED: _ClassVar[BrowseSort]
BROWSE_SORT_UNSPECIFIED: BrowseSort
BROWSE_SORT_PRIORITY: BrowseSort
BROWSE_SORT_CREATED: BrowseSort
BROWSE_SORT_UPDATED: BrowseSort

class TrackWastelandRequest(_message.Message):
    __slots__ = ("wasteland_id", "upstream", "poll_interval_seconds")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_FIELD_NUMBER: _ClassVar[int]
    POLL_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    upstream: str
    poll_interval_seconds: int
    def __init__(self, wasteland_id: _Optional[str] = ..., upstream: _Optional[str] = ..., poll_interval_seconds: _Optional[int] = ...) -> None: ...

class TrackWastelandResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UntrackWastelandRequest(_message.Message):
    __slots__ = ("wasteland_id",)
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    def __init__(self, wasteland_id: _Optional[str] = ...) -> None: ...

class UntrackWastelandResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RefreshWastelandRequest(_message.Message):
    __slots__ = ("wasteland_id",)
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    def __init__(self, wasteland_id: _Optional[str] = ...) -> None: ...

class RefreshWastelandResponse(_message.Message):
    __slots__ = ("synced_at", "head_commit", "changed")
    SYNCED_AT_FIELD_NUMBER: _ClassVar[int]
    HEAD_COMMIT_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    synced_at: _timestamp_pb2.Timestamp
    head_commit: str
    changed: bool
    def __init__(self, synced_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., head_commit: _Optional[str] = ..., changed: _Optional[bool] = ...) -> None: ...

class BrowseRequest(_message.Message):
    __slots__ = ("wasteland_id", "status", "type", "priority", "project", "tag", "q", "rig_handle", "sort", "page_size", "page_token", "viewer_rig_handle")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    Q_FIELD_NUMBER: _ClassVar[int]
    RIG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    VIEWER_RIG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    status: str
    type: str
    priority: int
    project: str
    tag: str
    q: str
    rig_handle: str
    sort: BrowseSort
    page_size: int
    page_token: str
    viewer_rig_handle: str
    def __init__(self, wasteland_id: _Optional[str] = ..., status: _Optional[str] = ..., type: _Optional[str] = ..., priority: _Optional[int] = ..., project: _Optional[str] = ..., tag: _Optional[str] = ..., q: _Optional[str] = ..., rig_handle: _Optional[str] = ..., sort: _Optional[_Union[BrowseSort, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., viewer_rig_handle: _Optional[str] = ...) -> None: ...

class BrowseResponse(_message.Message):
    __slots__ = ("items", "next_page_token", "synced_at", "stale")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SYNCED_AT_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_common_pb2.WantedItem]
    next_page_token: str
    synced_at: _timestamp_pb2.Timestamp
    stale: bool
    def __init__(self, items: _Optional[_Iterable[_Union[_common_pb2.WantedItem, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., synced_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stale: _Optional[bool] = ...) -> None: ...

class GetWantedItemRequest(_message.Message):
    __slots__ = ("wasteland_id", "wanted_id", "viewer_rig_handle")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    WANTED_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWER_RIG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    wanted_id: str
    viewer_rig_handle: str
    def __init__(self, wasteland_id: _Optional[str] = ..., wanted_id: _Optional[str] = ..., viewer_rig_handle: _Optional[str] = ...) -> None: ...

class GetWantedItemResponse(_message.Message):
    __slots__ = ("item", "completions", "stamps")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    COMPLETIONS_FIELD_NUMBER: _ClassVar[int]
    STAMPS_FIELD_NUMBER: _ClassVar[int]
    item: _common_pb2.WantedItem
    completions: _containers.RepeatedCompositeFieldContainer[_common_pb2.Completion]
    stamps: _containers.RepeatedCompositeFieldContainer[_common_pb2.Stamp]
    def __init__(self, item: _Optional[_Union[_common_pb2.WantedItem, _Mapping]] = ..., completions: _Optional[_Iterable[_Union[_common_pb2.Completion, _Mapping]]] = ..., stamps: _Optional[_Iterable[_Union[_common_pb2.Stamp, _Mapping]]] = ...) -> None: ...

class CountWantedRequest(_message.Message):
    __slots__ = ("wasteland_id", "viewer_rig_handle")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWER_RIG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    viewer_rig_handle: str
    def __init__(self, wasteland_id: _Optional[str] = ..., viewer_rig_handle: _Optional[str] = ...) -> None: ...

class CountWantedResponse(_message.Message):
    __slots__ = ("by_status",)
    class ByStatusEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    BY_STATUS_FIELD_NUMBER: _ClassVar[int]
    by_status: _containers.ScalarMap[str, int]
    def __init__(self, by_status: _Optional[_Mapping[str, int]] = ...) -> None: ...

class ListCompletionsRequest(_message.Message):
    __slots__ = ("wasteland_id", "status", "page_size", "page_token")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    status: str
    page_size: int
    page_token: str
    def __init__(self, wasteland_id: _Optional[str] = ..., status: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCompletionsResponse(_message.Message):
    __slots__ = ("completions", "next_page_token")
    COMPLETIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    completions: _containers.RepeatedCompositeFieldContainer[_common_pb2.Completion]
    next_page_token: str
    def __init__(self, completions: _Optional[_Iterable[_Union[_common_pb2.Completion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListRigsRequest(_message.Message):
    __slots__ = ("wasteland_id", "page_size", "page_token")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    page_size: int
    page_token: str
    def __init__(self, wasteland_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRigsResponse(_message.Message):
    __slots__ = ("rigs", "next_page_token")
    RIGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    rigs: _containers.RepeatedCompositeFieldContainer[_common_pb2.Rig]
    next_page_token: str
    def __init__(self, rigs: _Optional[_Iterable[_Union[_common_pb2.Rig, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchBoardRequest(_message.Message):
    __slots__ = ("wasteland_id",)
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    def __init__(self, wasteland_id: _Optional[str] = ...) -> None: ...

class BoardEvent(_message.Message):
    __slots__ = ("wasteland_id", "wanted_id", "status", "observed_at")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    WANTED_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_AT_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    wanted_id: str
    status: str
    observed_at: _timestamp_pb2.Timestamp
    def __init__(self, wasteland_id: _Optional[str] = ..., wanted_id: _Optional[str] = ..., status: _Optional[str] = ..., observed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
