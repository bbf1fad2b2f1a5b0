import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from wasteland.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExecuteRequest(_message.Message):
    __slots__ = ("wasteland_id", "kind", "wanted_id", "args", "idempotency_key", "wait_seconds")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    WANTED_ID_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    WAIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    kind: _common_pb2.OperationKind
    wanted_id: str
    args: _common_pb2.OperationArgs
    idempotency_key: str
    wait_seconds: int
    def __init__(self, wasteland_id: _Optional[str] = ..., kind: _Optional[_Union[_common_pb2.OperationKind, str]] = ..., wanted_id: _Optional[str] = ..., args: _Optional[_Union[_common_pb2.OperationArgs, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., wait_seconds: _Optional[int] = ...) -> None: ...

class ExecuteResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _common_pb2.OperationResult
    def __init__(self, result: _Optional[_Union[_common_pb2.OperationResult, _Mapping]] = ...) -> None: ...

class GetOperationRequest(_message.Message):
    __slots__ = ("operation_id",)
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    operation_id: str
    def __init__(self, operation_id: _Optional[str] = ...) -> None: ...

class GetOperationResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _common_pb2.OperationResult
    def __init__(self, result: _Optional[_Union[_common_pb2.OperationResult, _Mapping]] = ...) -> None: ...

class RuntimeStatus(_message.Message):
    __slots__ = ("wasteland_id", "state", "last_activity_at", "wl_version", "started_at", "instance_id")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVITY_AT_FIELD_NUMBER: _ClassVar[int]
    WL_VERSION_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    state: _common_pb2.RuntimeState
    last_activity_at: _timestamp_pb2.Timestamp
    wl_version: str
    started_at: _timestamp_pb2.Timestamp
    instance_id: str
    def __init__(self, wasteland_id: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.RuntimeState, str]] = ..., last_activity_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., wl_version: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., instance_id: _Optional[str] = ...) -> None: ...

class GetRuntimeRequest(_message.Message):
    __slots__ = ("wasteland_id",)
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    def __init__(self, wasteland_id: _Optional[str] = ...) -> None: ...

class GetRuntimeResponse(_message.Message):
    __slots__ = ("runtime",)
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    runtime: RuntimeStatus
    def __init__(self, runtime: _Optional[_Union[RuntimeStatus, _Mapping]] = ...) -> None: ...

class WakeRuntimeRequest(_message.Message):
    __slots__ = ("wasteland_id",)
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    def __init__(self, wasteland_id: _Optional[str] = ...) -> None: ...

class WakeRuntimeResponse(_message.Message):
    __slots__ = ("runtime",)
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    runtime: RuntimeStatus
    def __init__(self, runtime: _Optional[_Union[RuntimeStatus, _Mapping]] = ...) -> None: ...

class StopRuntimeRequest(_message.Message):
    __slots__ = ("wasteland_id", "remove")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    remove: bool
    def __init__(self, wasteland_id: _Optional[str] = ..., remove: _Optional[bool] = ...) -> None: ...

class StopRuntimeResponse(_message.Message):
    __slots__ = ("runtime",)
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    runtime: RuntimeStatus
    def __init__(self, runtime: _Optional[_Union[RuntimeStatus, _Mapping]] = ...) -> None: ...
