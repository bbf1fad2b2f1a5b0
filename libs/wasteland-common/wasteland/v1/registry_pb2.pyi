from wasteland.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateWastelandRequest(_message.Message):
    __slots__ = ("name", "owner", "visibility", "upstream", "dolthub_org", "dolthub_token")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_FIELD_NUMBER: _ClassVar[int]
    DOLTHUB_ORG_FIELD_NUMBER: _ClassVar[int]
    DOLTHUB_TOKEN_FIELD_NUMBER: _ClassVar[int]
    name: str
    owner: _common_pb2.Owner
    visibility: _common_pb2.Visibility
    upstream: str
    dolthub_org: str
    dolthub_token: str
    def __init__(self, name: _Optional[str] = ..., owner: _Optional[_Union[_common_pb2.Owner, _Mapping]] = ..., visibility: _Optional[_Union[_common_pb2.Visibility, str]] = ..., upstream: _Optional[str] = ..., dolthub_org: _Optional[str] = ..., dolthub_token: _Optional[str] = ...) -> None: ...

class CreateWastelandResponse(_message.Message):
    __slots__ = ("wasteland",)
    WASTELAND_FIELD_NUMBER: _ClassVar[int]
    wasteland: _common_pb2.Wasteland
    def __init__(self, wasteland: _Optional[_Union[_common_pb2.Wasteland, _Mapping]] = ...) -> None: ...

class GetWastelandRequest(_message.Message):
    __slots__ = ("wasteland_id",)
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    def __init__(self, wasteland_id: _Optional[str] = ...) -> None: ...

class GetWastelandResponse(_message.Message):
    __slots__ = ("wasteland",)
    WASTELAND_FIELD_NUMBER: _ClassVar[int]
    wasteland: _common_pb2.Wasteland
    def __init__(self, wasteland: _Optional[_Union[_common_pb2.Wasteland, _Mapping]] = ...) -> None: ...

class ListWastelandsRequest(_message.Message):
    __slots__ = ("org_id", "page_size", "page_token")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    page_size: int
    page_token: str
    def __init__(self, org_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListWastelandsResponse(_message.Message):
    __slots__ = ("wastelands", "next_page_token")
    WASTELANDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    wastelands: _containers.RepeatedCompositeFieldContainer[_common_pb2.Wasteland]
    next_page_token: str
    def __init__(self, wastelands: _Optional[_Iterable[_Union[_common_pb2.Wasteland, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateWastelandRequest(_message.Message):
    __slots__ = ("wasteland_id", "name", "visibility")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    name: str
    visibility: _common_pb2.Visibility
    def __init__(self, wasteland_id: _Optional[str] = ..., name: _Optional[str] = ..., visibility: _Optional[_Union[_common_pb2.Visibility, str]] = ...) -> None: ...

class UpdateWastelandResponse(_message.Message):
    __slots__ = ("wasteland",)
    WASTELAND_FIELD_NUMBER: _ClassVar[int]
    wasteland: _common_pb2.Wasteland
    def __init__(self, wasteland: _Optional[_Union[_common_pb2.Wasteland, _Mapping]] = ...) -> None: ...

class DeleteWastelandRequest(_message.Message):
    __slots__ = ("wasteland_id",)
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    def __init__(self, wasteland_id: _Optional[str] = ...) -> None: ...

class DeleteWastelandResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RetryProvisioningRequest(_message.Message):
    __slots__ = ("wasteland_id",)
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    def __init__(self, wasteland_id: _Optional[str] = ...) -> None: ...

class RetryProvisioningResponse(_message.Message):
    __slots__ = ("wasteland",)
    WASTELAND_FIELD_NUMBER: _ClassVar[int]
    wasteland: _common_pb2.Wasteland
    def __init__(self, wasteland: _Optional[_Union[_common_pb2.Wasteland, _Mapping]] = ...) -> None: ...

class PutCredentialRequest(_message.Message):
    __slots__ = ("wasteland_id", "dolthub_token", "dolthub_org", "rig_handle")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    DOLTHUB_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DOLTHUB_ORG_FIELD_NUMBER: _ClassVar[int]
    RIG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    dolthub_token: str
    dolthub_org: str
    rig_handle: str
    def __init__(self, wasteland_id: _Optional[str] = ..., dolthub_token: _Optional[str] = ..., dolthub_org: _Optional[str] = ..., rig_handle: _Optional[str] = ...) -> None: ...

class PutCredentialResponse(_message.Message):
    __slots__ = ("credential",)
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    credential: _common_pb2.CredentialStatus
    def __init__(self, credential: _Optional[_Union[_common_pb2.CredentialStatus, _Mapping]] = ...) -> None: ...

class GetCredentialRequest(_message.Message):
    __slots__ = ("wasteland_id",)
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    def __init__(self, wasteland_id: _Optional[str] = ...) -> None: ...

class GetCredentialResponse(_message.Message):
    __slots__ = ("credential",)
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    credential: _common_pb2.CredentialStatus
    def __init__(self, credential: _Optional[_Union[_common_pb2.CredentialStatus, _Mapping]] = ...) -> None: ...

class DeleteCredentialRequest(_message.Message):
    __slots__ = ("wasteland_id",)
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    def __init__(self, wasteland_id: _Optional[str] = ...) -> None: ...

class DeleteCredentialResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PutUpstreamCredentialRequest(_message.Message):
    __slots__ = ("wasteland_id", "dolthub_token")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    DOLTHUB_TOKEN_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    dolthub_token: str
    def __init__(self, wasteland_id: _Optional[str] = ..., dolthub_token: _Optional[str] = ...) -> None: ...

class PutUpstreamCredentialResponse(_message.Message):
    __slots__ = ("credential",)
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    credential: _common_pb2.UpstreamCredentialStatus
    def __init__(self, credential: _Optional[_Union[_common_pb2.UpstreamCredentialStatus, _Mapping]] = ...) -> None: ...

class GetUpstreamCredentialRequest(_message.Message):
    __slots__ = ("wasteland_id",)
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    def __init__(self, wasteland_id: _Optional[str] = ...) -> None: ...

class GetUpstreamCredentialResponse(_message.Message):
    __slots__ = ("credential",)
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    credential: _common_pb2.UpstreamCredentialStatus
    def __init__(self, credential: _Optional[_Union[_common_pb2.UpstreamCredentialStatus, _Mapping]] = ...) -> None: ...

class DeleteUpstreamCredentialRequest(_message.Message):
    __slots__ = ("wasteland_id",)
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    def __init__(self, wasteland_id: _Optional[str] = ...) -> None: ...

class DeleteUpstreamCredentialResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListMembersRequest(_message.Message):
    __slots__ = ("wasteland_id", "page_size", "page_token")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    page_size: int
    page_token: str
    def __init__(self, wasteland_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMembersResponse(_message.Message):
    __slots__ = ("members", "next_page_token")
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[_common_pb2.Member]
    next_page_token: str
    def __init__(self, members: _Optional[_Iterable[_Union[_common_pb2.Member, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AddMemberRequest(_message.Message):
    __slots__ = ("wasteland_id", "user_id", "role", "trust_level")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TRUST_LEVEL_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    user_id: str
    role: _common_pb2.MemberRole
    trust_level: int
    def __init__(self, wasteland_id: _Optional[str] = ..., user_id: _Optional[str] = ..., role: _Optional[_Union[_common_pb2.MemberRole, str]] = ..., trust_level: _Optional[int] = ...) -> None: ...

class AddMemberResponse(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: _common_pb2.Member
    def __init__(self, member: _Optional[_Union[_common_pb2.Member, _Mapping]] = ...) -> None: ...

class UpdateMemberRequest(_message.Message):
    __slots__ = ("wasteland_id", "user_id", "role", "trust_level")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TRUST_LEVEL_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    user_id: str
    role: _common_pb2.MemberRole
    trust_level: int
    def __init__(self, wasteland_id: _Optional[str] = ..., user_id: _Optional[str] = ..., role: _Optional[_Union[_common_pb2.MemberRole, str]] = ..., trust_level: _Optional[int] = ...) -> None: ...

class UpdateMemberResponse(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: _common_pb2.Member
    def __init__(self, member: _Optional[_Union[_common_pb2.Member, _Mapping]] = ...) -> None: ...

class RemoveMemberRequest(_message.Message):
    __slots__ = ("wasteland_id", "user_id")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    user_id: str
    def __init__(self, wasteland_id: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class RemoveMemberResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ConnectTownRequest(_message.Message):
    __slots__ = ("wasteland_id", "town_id", "rig_handle", "owner_email")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    TOWN_ID_FIELD_NUMBER: _ClassVar[int]
    RIG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    OWNER_EMAIL_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    town_id: str
    rig_handle: str
    owner_email: str
    def __init__(self, wasteland_id: _Optional[str] = ..., town_id: _Optional[str] = ..., rig_handle: _Optional[str] = ..., owner_email: _Optional[str] = ...) -> None: ...

class ConnectTownResponse(_message.Message):
    __slots__ = ("town",)
    TOWN_FIELD_NUMBER: _ClassVar[int]
    town: _common_pb2.Town
    def __init__(self, town: _Optional[_Union[_common_pb2.Town, _Mapping]] = ...) -> None: ...

class ListTownsRequest(_message.Message):
    __slots__ = ("wasteland_id",)
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    def __init__(self, wasteland_id: _Optional[str] = ...) -> None: ...

class ListTownsResponse(_message.Message):
    __slots__ = ("towns",)
    TOWNS_FIELD_NUMBER: _ClassVar[int]
    towns: _containers.RepeatedCompositeFieldContainer[_common_pb2.Town]
    def __init__(self, towns: _Optional[_Iterable[_Union[_common_pb2.Town, _Mapping]]] = ...) -> None: ...

class DisconnectTownRequest(_message.Message):
    __slots__ = ("wasteland_id", "town_id")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    TOWN_ID_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    town_id: str
    def __init__(self, wasteland_id: _Optional[str] = ..., town_id: _Optional[str] = ...) -> None: ...

class DisconnectTownResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AuthorizeActionRequest(_message.Message):
    __slots__ = ("wasteland_id", "kind", "wanted_id")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    WANTED_ID_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    kind: _common_pb2.OperationKind
    wanted_id: str
    def __init__(self, wasteland_id: _Optional[str] = ..., kind: _Optional[_Union[_common_pb2.OperationKind, str]] = ..., wanted_id: _Optional[str] = ...) -> None: ...

class AuthorizeActionResponse(_message.Message):
    __slots__ = ("wasteland", "role", "user_id", "rig_handle", "dolthub_org", "dolthub_token", "rig_registered", "upstream_token")
    WASTELAND_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    RIG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    DOLTHUB_ORG_FIELD_NUMBER: _ClassVar[int]
    DOLTHUB_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RIG_REGISTERED_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_TOKEN_FIELD_NUMBER: _ClassVar[int]
    wasteland: _common_pb2.Wasteland
    role: _common_pb2.MemberRole
    user_id: str
    rig_handle: str
    dolthub_org: str
    dolthub_token: str
    rig_registered: bool
    upstream_token: str
    def __init__(self, wasteland: _Optional[_Union[_common_pb2.Wasteland, _Mapping]] = ..., role: _Optional[_Union[_common_pb2.MemberRole, str]] = ..., user_id: _Optional[str] = ..., rig_handle: _Optional[str] = ..., dolthub_org: _Optional[str] = ..., dolthub_token: _Optional[str] = ..., rig_registered: _Optional[bool] = ..., upstream_token: _Optional[str] = ...) -> None: ...

class RecordRigRequest(_message.Message):
    __slots__ = ("wasteland_id", "user_id", "rig_handle")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    RIG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    user_id: str
    rig_handle: str
    def __init__(self, wasteland_id: _Optional[str] = ..., user_id: _Optional[str] = ..., rig_handle: _Optional[str] = ...) -> None: ...

class RecordRigResponse(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: _common_pb2.Member
    def __init__(self, member: _Optional[_Union[_common_pb2.Member, _Mapping]] = ...) -> None: ...

class RecordTownRequest(_message.Message):
    __slots__ = ("wasteland_id", "town_id", "registered", "pull_request_url")
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    TOWN_ID_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    PULL_REQUEST_URL_FIELD_NUMBER: _ClassVar[int]
    wasteland_id: str
    town_id: str
    registered: bool
    pull_request_url: str
    def __init__(self, wasteland_id: _Optional[str] = ..., town_id: _Optional[str] = ..., registered: _Optional[bool] = ..., pull_request_url: _Optional[str] = ...) -> None: ...

class RecordTownResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListActiveWastelandsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListActiveWastelandsResponse(_message.Message):
    __slots__ = ("wastelands", "next_page_token")
    WASTELANDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    wastelands: _containers.RepeatedCompositeFieldContainer[_common_pb2.Wasteland]
    next_page_token: str
    def __init__(self, wastelands: _Optional[_Iterable[_Union[_common_pb2.Wasteland, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchAccessChangesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AccessChange(_message.Message):
    __slots__ = ("change_id", "wasteland_id", "all")
    CHANGE_ID_FIELD_NUMBER: _ClassVar[int]
    WASTELAND_ID_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    change_id: int
    wasteland_id: str
    all: bool
    def __init__(self, change_id: _Optional[int] = ..., wasteland_id: _Optional[str] = ..., all: _Optional[bool] = ...) -> None: ...
