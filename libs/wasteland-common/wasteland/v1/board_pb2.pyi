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

class PullState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PULL_STATE_UNSPECIFIED: _ClassVar[PullState]
    PULL_STATE_OPEN: _ClassVar[PullState]
    PULL_STATE_CLOSED: _ClassVar[PullState]
    PULL_STATE_MERGED: _ClassVar[PullState]

class PullKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PULL_KIND_UNSPECIFIED: _ClassVar[PullKind]
    PULL_KIND_REGISTRATION: _ClassVar[PullKind]
    PULL_KIND_POST: _ClassVar[PullKind]
    PULL_KIND_CLAIM: _ClassVar[PullKind]
    PULL_KIND_UNCLAIM: _ClassVar[PullKind]
    PULL_KIND_DONE: _ClassVar[PullKind]
    PULL_KIND_ACCEPT: _ClassVar[PullKind]
    PULL_KIND_REJECT: _ClassVar[PullKind]
    PULL_KIND_CLOSE: _ClassVar[PullKind]
    PULL_KIND_TOWN: _ClassVar[PullKind]
    PULL_KIND_FORK_SYNC: _ClassVar[PullKind]
    PULL_KIND_OTHER: _ClassVar[PullKind]
BROWSE_SORT_UNSPECIFIED: BrowseSort
BROWSE_SORT_PRIORITY: BrowseSort
BROWSE_SORT_CREATED: BrowseSort
BROWSE_SORT_UPDATED: BrowseSort
PULL_STATE_UNSPECIFIED: PullState
PULL_STATE_OPEN: PullState
PULL_STATE_CLOSED: PullState
PULL_STATE_MERGED: PullState
PULL_KIND_UNSPECIFIED: PullKind
PULL_KIND_REGISTRATION: PullKind
PULL_KIND_POST: PullKind
PULL_KIND_CLAIM: PullKind
PULL_KIND_UNCLAIM: PullKind
PULL_KIND_DONE: PullKind
PULL_KIND_ACCEPT: PullKind
PULL_KIND_REJECT: PullKind
PULL_KIND_CLOSE: PullKind
PULL_KIND_TOWN: PullKind
PULL_KIND_FORK_SYNC: PullKind
PULL_KIND_OTHER: PullKind

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
    __slots__ = ("wasteland_id", "change")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    change: VerifiedChange
    def __init__(self, wasteland_id: _Optional[str] = ..., change: _Optional[_Union[VerifiedChange, _Mapping]] = ...) -> None: ...

class VerifiedChange(_message.Message):
    __slots__ = ("wanted_id", "rig_handle", "pull_id", "status", "claimed_by")
    WANTED_ID_FIELD_NUMBER: _ClassVar[int]
    RIG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    PULL_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_BY_FIELD_NUMBER: _ClassVar[int]
    wanted_id: str
    rig_handle: str
    pull_id: str
    status: str
    claimed_by: str
    def __init__(self, wanted_id: _Optional[str] = ..., rig_handle: _Optional[str] = ..., pull_id: _Optional[str] = ..., status: _Optional[str] = ..., claimed_by: _Optional[str] = ...) -> None: ...

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

class PullWarning(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class PullChange(_message.Message):
    __slots__ = ("table", "key", "kind", "before_json", "after_json")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    BEFORE_JSON_FIELD_NUMBER: _ClassVar[int]
    AFTER_JSON_FIELD_NUMBER: _ClassVar[int]
    table: str
    key: str
    kind: str
    before_json: str
    after_json: str
    def __init__(self, table: _Optional[str] = ..., key: _Optional[str] = ..., kind: _Optional[str] = ..., before_json: _Optional[str] = ..., after_json: _Optional[str] = ...) -> None: ...

class Pull(_message.Message):
    __slots__ = ("pull_id", "title", "state", "kind", "wanted_id", "author_rig", "from_branch", "created_at", "mergeable", "url", "warnings", "from_owner", "author", "stamp_subjects", "changes")
    PULL_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    WANTED_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_RIG_FIELD_NUMBER: _ClassVar[int]
    FROM_BRANCH_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    MERGEABLE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    FROM_OWNER_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    STAMP_SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    pull_id: str
    title: str
    state: PullState
    kind: PullKind
    wanted_id: str
    author_rig: str
    from_branch: str
    created_at: _timestamp_pb2.Timestamp
    mergeable: bool
    url: str
    warnings: _containers.RepeatedCompositeFieldContainer[PullWarning]
    from_owner: str
    author: str
    stamp_subjects: _containers.RepeatedScalarFieldContainer[str]
    changes: _containers.RepeatedCompositeFieldContainer[PullChange]
    def __init__(self, pull_id: _Optional[str] = ..., title: _Optional[str] = ..., state: _Optional[_Union[PullState, str]] = ..., kind: _Optional[_Union[PullKind, str]] = ..., wanted_id: _Optional[str] = ..., author_rig: _Optional[str] = ..., from_branch: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., mergeable: _Optional[bool] = ..., url: _Optional[str] = ..., warnings: _Optional[_Iterable[_Union[PullWarning, _Mapping]]] = ..., from_owner: _Optional[str] = ..., author: _Optional[str] = ..., stamp_subjects: _Optional[_Iterable[str]] = ..., changes: _Optional[_Iterable[_Union[PullChange, _Mapping]]] = ...) -> None: ...

class ListPullsRequest(_message.Message):
    __slots__ = ("wasteland_id", "state", "page_size", "page_token")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    state: PullState
    page_size: int
    page_token: str
    def __init__(self, wasteland_id: _Optional[str] = ..., state: _Optional[_Union[PullState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPullsResponse(_message.Message):
    __slots__ = ("pulls", "next_page_token")
    PULLS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    pulls: _containers.RepeatedCompositeFieldContainer[Pull]
    next_page_token: str
    def __init__(self, pulls: _Optional[_Iterable[_Union[Pull, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetPullRequest(_message.Message):
    __slots__ = ("wasteland_id", "pull_id")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    PULL_ID_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    pull_id: str
    def __init__(self, wasteland_id: _Optional[str] = ..., pull_id: _Optional[str] = ...) -> None: ...

class GetPullResponse(_message.Message):
    __slots__ = ("pull",)
    PULL_FIELD_NUMBER: _ClassVar[int]
    pull: Pull
    def __init__(self, pull: _Optional[_Union[Pull, _Mapping]] = ...) -> None: ...
