from wasteland.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RigCredential(_message.Message):
    __slots__ = ("dolthub_token", "dolthub_org", "rig_handle")
    DOLTHUB_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DOLTHUB_ORG_FIELD_NUMBER: _ClassVar[int]
    RIG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    dolthub_token: str
    dolthub_org: str
    rig_handle: str
    def __init__(self, dolthub_token: _Optional[str] = ..., dolthub_org: _Optional[str] = ..., rig_handle: _Optional[str] = ...) -> None: ...

class UpstreamCredential(_message.Message):
    __slots__ = ("dolthub_token",)
    DOLTHUB_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dolthub_token: str
    def __init__(self, dolthub_token: _Optional[str] = ...) -> None: ...

class RunOperationRequest(_message.Message):
    __slots__ = ("upstream", "kind", "wanted_id", "args", "credential", "operation_id", "role", "upstream_credential")
    UPSTREAM_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    WANTED_ID_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    upstream: str
    kind: _common_pb2.OperationKind
    wanted_id: str
    args: _common_pb2.OperationArgs
    credential: RigCredential
    operation_id: str
    role: _common_pb2.MemberRole
    upstream_credential: UpstreamCredential
    def __init__(self, upstream: _Optional[str] = ..., kind: _Optional[_Union[_common_pb2.OperationKind, str]] = ..., wanted_id: _Optional[str] = ..., args: _Optional[_Union[_common_pb2.OperationArgs, _Mapping]] = ..., credential: _Optional[_Union[RigCredential, _Mapping]] = ..., operation_id: _Optional[str] = ..., role: _Optional[_Union[_common_pb2.MemberRole, str]] = ..., upstream_credential: _Optional[_Union[UpstreamCredential, _Mapping]] = ...) -> None: ...

class RunOperationResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _common_pb2.OperationResult
    def __init__(self, result: _Optional[_Union[_common_pb2.OperationResult, _Mapping]] = ...) -> None: ...

class GetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetInfoResponse(_message.Message):
    __slots__ = ("wl_version", "instance_id", "uptime_seconds", "joined_rigs", "operations_in_flight")
    WL_VERSION_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    JOINED_RIGS_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    wl_version: str
    instance_id: str
    uptime_seconds: int
    joined_rigs: _containers.RepeatedScalarFieldContainer[str]
    operations_in_flight: int
    def __init__(self, wl_version: _Optional[str] = ..., instance_id: _Optional[str] = ..., uptime_seconds: _Optional[int] = ..., joined_rigs: _Optional[_Iterable[str]] = ..., operations_in_flight: _Optional[int] = ...) -> None: ...
