"""RegistryService over a real gRPC socket: identity, validation, mapping of errors.

DoltHub is replaced by in-memory fakes here; test_servicer_sandbox.py runs the same
paths against the DoltHub sandbox.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from pydantic import SecretStr
from wasteland.v1 import common_pb2, registry_pb2
from wasteland_common import db, dolthub
from wasteland_common.auth import Authenticator
from wasteland_common.dolthub import DoltHubClient
from wl_registry import crypto, provisioning, wastelands
from wl_registry.server import MIGRATIONS, start_server
from wl_registry.servicer import RegistryDeps
from wl_registry.validation import UpstreamRef

from tests.support.activity import CollectingActivity

from .conftest import FakeDoltHub, RecordingBoard
from .grpc_helpers import SERVICE_SECRET, TIMEOUT, USER_SECRET, Registry, bad_fields, metadata

INVALID = grpc.StatusCode.INVALID_ARGUMENT
# A number no enum of the contract defines (typed Any: the stubs only allow known values).
UNDEFINED_ENUM: Any = 42
ALICE = metadata("alice")
BOB = metadata("bob")
EXECUTOR_ALICE = metadata("alice", service="executor")


async def validate(token: SecretStr, ref: UpstreamRef, org: str) -> None:
    if token.get_secret_value() != "token-of-alice-1234":
        raise dolthub.Unauthorized("HTTP 401")


async def probe_upstream(token: SecretStr, ref: UpstreamRef) -> str:
    if token.get_secret_value() != "upstream-token-5678":
        raise dolthub.Forbidden("HTTP 403")
    return "hop"


async def check_fork(token: SecretStr, ref: UpstreamRef, org: str) -> bool | None:
    return False


@pytest.fixture
def activity() -> CollectingActivity:
    return CollectingActivity(service="registry")


@pytest.fixture
async def registry(
    tmp_path: Path, new_id: Callable[[], str], activity: CollectingActivity
) -> AsyncIterator[tuple[Registry, RecordingBoard]]:
    engine = db.make_engine(f"sqlite+pysqlite:///{tmp_path / 'registry.db'}")
    db.migrate(engine, MIGRATIONS)
    hub = FakeDoltHub({"hop/wl-commons": "1.2", "kilo-wastelands/wl-template": "1.2"})
    board = RecordingBoard()
    deps = RegistryDeps(
        sessions=db.session_factory(engine),
        authenticator=Authenticator(
            user_secret=USER_SECRET, audience="wasteland", service_secret=SERVICE_SECRET
        ),
        keyring=crypto.Keyring({"k1": b"\x07" * 32}, "k1"),
        joining=wastelands.Joining(reader=hub),
        provisioning=provisioning.Settings(
            client=DoltHubClient("http://127.0.0.1:9/api/v1alpha1"),
            template=UpstreamRef("kilo-wastelands", "wl-template"),
            operator_token=None,
            timeout=5,
            wait=5,
        ),
        validate_token=validate,
        board=board,
        probe_upstream=probe_upstream,
        check_fork=check_fork,
        new_id=new_id,
        activity=activity,
    )
    running = await start_server(deps, host="127.0.0.1", port=0)
    client = Registry.connect(running.port)
    try:
        yield client, board
    finally:
        await client.channel.close()
        await running.stop(0)
        engine.dispose()


def create_request(**overrides: object) -> registry_pb2.CreateWastelandRequest:
    fields: dict[str, Any] = {
        "name": "  Hop commons  ",
        "owner": common_pb2.Owner(type=common_pb2.OWNER_TYPE_USER),
        "visibility": common_pb2.VISIBILITY_PUBLIC,
        "upstream": "hop/wl-commons",
    }
    fields.update(overrides)
    return registry_pb2.CreateWastelandRequest(**fields)


async def test_create_get_list_over_grpc(registry: tuple[Registry, RecordingBoard]) -> None:
    client, board = registry
    created = (await client.call("CreateWasteland", create_request(), ALICE)).wasteland
    assert created.name == "Hop commons"
    assert created.status == common_pb2.WASTELAND_STATUS_ACTIVE
    assert created.my_role == common_pb2.MEMBER_ROLE_OWNER
    assert created.owner.user_id == "alice"
    assert board.tracked == {created.wasteland_id: "hop/wl-commons"}

    got = await client.call(
        "GetWasteland", registry_pb2.GetWastelandRequest(wasteland_id=created.wasteland_id), BOB
    )
    assert got.wasteland.my_role == common_pb2.MEMBER_ROLE_VIEWER
    listed = await client.call("ListWastelands", registry_pb2.ListWastelandsRequest(), ALICE)
    assert [w.wasteland_id for w in listed.wastelands] == [created.wasteland_id]
    assert listed.next_page_token == ""

    internal = await client.call(
        "ListActiveWastelands",
        registry_pb2.ListActiveWastelandsRequest(),
        metadata(service="board-sync"),
    )
    assert [w.upstream for w in internal.wastelands] == ["hop/wl-commons"]


async def test_private_wastelands_are_not_found_for_strangers(
    registry: tuple[Registry, RecordingBoard],
) -> None:
    client, _ = registry
    req = create_request(visibility=common_pb2.VISIBILITY_PRIVATE)
    created = (await client.call("CreateWasteland", req, ALICE)).wasteland
    get = registry_pb2.GetWastelandRequest(wasteland_id=created.wasteland_id)
    assert (await client.fails("GetWasteland", get, BOB)).code() == grpc.StatusCode.NOT_FOUND
    delete = registry_pb2.DeleteWastelandRequest(wasteland_id=created.wasteland_id)
    assert (await client.fails("DeleteWasteland", delete, BOB)).code() == grpc.StatusCode.NOT_FOUND
    admin = metadata("root", admin=True)
    assert (await client.call("GetWasteland", get, admin)).wasteland.my_role == (
        common_pb2.MEMBER_ROLE_VIEWER
    )
    denied = await client.fails("DeleteWasteland", delete, admin)
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "bad\nname"}, "name"),
        ({"owner": common_pb2.Owner()}, "owner.type"),
        ({"owner": common_pb2.Owner(type=UNDEFINED_ENUM)}, "owner.type"),
        ({"owner": common_pb2.Owner(type=common_pb2.OWNER_TYPE_ORG)}, "owner.org_id"),
        ({"visibility": 0}, "visibility"),
        ({"visibility": 9}, "visibility"),
        ({"upstream": "no-slash"}, "upstream"),
        ({"upstream": "hop/wl commons"}, "upstream"),
        ({"upstream": "hop/nope"}, "upstream"),
        ({"dolthub_org": "-bad"}, "dolthub_org"),
        # dolthub_org is optional, but a token passed in the call has no known org.
        ({"upstream": "", "dolthub_token": "token-of-alice-1234"}, "dolthub_org"),
        ({"dolthub_token": "token-of-alice-1234"}, "dolthub_token"),
    ],
)
async def test_create_validation_names_the_field(
    registry: tuple[Registry, RecordingBoard], overrides: dict[str, object], field: str
) -> None:
    client, _ = registry
    error = await client.fails("CreateWasteland", create_request(**overrides), ALICE)
    assert error.code() == INVALID
    assert bad_fields(error) == [field]


async def test_provisioning_without_any_credential_says_connect_first(
    registry: tuple[Registry, RecordingBoard],
) -> None:
    client, _ = registry
    error = await client.fails(
        "CreateWasteland", create_request(upstream="", dolthub_org="alice"), ALICE
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "connect DoltHub first" in (error.details() or "")


async def test_identity_rules(registry: tuple[Registry, RecordingBoard]) -> None:
    client, _ = registry
    req = create_request()
    no_user = await client.fails("CreateWasteland", req, metadata(None))
    assert no_user.code() == grpc.StatusCode.UNAUTHENTICATED
    # A user token presented without a known service's token is ignored.
    unvouched = await client.fails("CreateWasteland", req, metadata("alice", service=None))
    assert unvouched.code() == grpc.StatusCode.UNAUTHENTICATED
    forged = [("authorization", "Bearer not-a-jwt"), *metadata(None)]
    assert (await client.fails("CreateWasteland", req, forged)).code() == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    active = registry_pb2.ListActiveWastelandsRequest()
    assert (await client.fails("ListActiveWastelands", active, ALICE)).code() == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    created = (await client.call("CreateWasteland", req, ALICE)).wasteland
    authz = registry_pb2.AuthorizeActionRequest(
        wasteland_id=created.wasteland_id, kind=common_pb2.OPERATION_KIND_CLAIM
    )
    # Only the executor may ask for a decision (and so a token).
    assert (await client.fails("AuthorizeAction", authz, ALICE)).code() == (
        grpc.StatusCode.PERMISSION_DENIED
    )


async def test_credentials_and_actions_over_grpc(
    registry: tuple[Registry, RecordingBoard],
) -> None:
    client, _ = registry
    created = (await client.call("CreateWasteland", create_request(), ALICE)).wasteland
    wid = created.wasteland_id
    get = registry_pb2.GetCredentialRequest(wasteland_id=wid)
    assert not (await client.call("GetCredential", get, ALICE)).credential.connected

    authz = registry_pb2.AuthorizeActionRequest(
        wasteland_id=wid, kind=common_pb2.OPERATION_KIND_CLAIM
    )
    first = await client.fails("AuthorizeAction", authz, EXECUTOR_ALICE)
    assert first.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert first.details() == "connect DoltHub first"

    wrong = registry_pb2.PutCredentialRequest(
        wasteland_id=wid, dolthub_token="token-wrong-0000", dolthub_org="alice"
    )
    rejected = await client.fails("PutCredential", wrong, ALICE)
    assert rejected.code() == INVALID
    assert bad_fields(rejected) == ["dolthub_token"]
    assert "token-wrong" not in (rejected.details() or "")
    spaced = registry_pb2.PutCredentialRequest(
        wasteland_id=wid, dolthub_token="has space", dolthub_org="alice"
    )
    assert bad_fields(await client.fails("PutCredential", spaced, ALICE)) == ["dolthub_token"]

    put = registry_pb2.PutCredentialRequest(
        wasteland_id=wid, dolthub_token="token-of-alice-1234", dolthub_org="alice"
    )
    status = (await client.call("PutCredential", put, ALICE)).credential
    assert (status.connected, status.dolthub_org, status.rig_handle, status.token_hint) == (
        True, "alice", "alice", "1234",
    )  # fmt: skip
    assert "token-of-alice" not in str(await client.call("GetCredential", get, ALICE))

    grant = await client.call("AuthorizeAction", authz, EXECUTOR_ALICE)
    assert grant.dolthub_token == "token-of-alice-1234"
    assert (grant.role, grant.rig_handle, grant.rig_registered) == (
        common_pb2.MEMBER_ROLE_OWNER, "alice", False,
    )  # fmt: skip
    record = registry_pb2.RecordRigRequest(wasteland_id=wid, user_id="alice", rig_handle="alice")
    member = (await client.call("RecordRig", record, metadata(service="executor"))).member
    assert member.rig_handle == "alice"
    assert (await client.call("AuthorizeAction", authz, EXECUTOR_ALICE)).rig_registered

    unknown_kind = registry_pb2.AuthorizeActionRequest(wasteland_id=wid, kind=UNDEFINED_ENUM)
    assert bad_fields(await client.fails("AuthorizeAction", unknown_kind, EXECUTOR_ALICE)) == [
        "kind"
    ]
    await client.call(
        "DeleteCredential", registry_pb2.DeleteCredentialRequest(wasteland_id=wid), ALICE
    )
    assert not (await client.call("GetCredential", get, ALICE)).credential.connected


async def test_members_over_grpc(registry: tuple[Registry, RecordingBoard]) -> None:
    client, _ = registry
    wid = (await client.call("CreateWasteland", create_request(), ALICE)).wasteland.wasteland_id
    add = registry_pb2.AddMemberRequest(
        wasteland_id=wid, user_id="bob", role=common_pb2.MEMBER_ROLE_MAINTAINER, trust_level=2
    )
    bob = (await client.call("AddMember", add, ALICE)).member
    assert (bob.role, bob.trust_level, bob.source) == (
        common_pb2.MEMBER_ROLE_MAINTAINER, 2, common_pb2.MEMBER_SOURCE_EXPLICIT,
    )  # fmt: skip
    owner_role = registry_pb2.AddMemberRequest(
        wasteland_id=wid, user_id="carol", role=common_pb2.MEMBER_ROLE_OWNER, trust_level=1
    )
    assert bad_fields(await client.fails("AddMember", owner_role, ALICE)) == ["role"]
    too_trusted = registry_pb2.AddMemberRequest(
        wasteland_id=wid, user_id="carol", role=common_pb2.MEMBER_ROLE_CONTRIBUTOR, trust_level=4
    )
    assert bad_fields(await client.fails("AddMember", too_trusted, ALICE)) == ["trust_level"]
    update = registry_pb2.UpdateMemberRequest(wasteland_id=wid, user_id="bob", trust_level=0)
    assert (await client.call("UpdateMember", update, ALICE)).member.trust_level == 0
    page = await client.call(
        "ListMembers", registry_pb2.ListMembersRequest(wasteland_id=wid, page_size=1), BOB
    )
    assert len(page.members) == 1
    assert page.next_page_token
    bad_token = registry_pb2.ListMembersRequest(wasteland_id=wid, page_token="%%%")
    assert bad_fields(await client.fails("ListMembers", bad_token, BOB)) == ["page_token"]
    remove_self = registry_pb2.RemoveMemberRequest(wasteland_id=wid, user_id="alice")
    assert (await client.fails("RemoveMember", remove_self, ALICE)).code() == (
        grpc.StatusCode.FAILED_PRECONDITION
    )
    await client.call(
        "RemoveMember", registry_pb2.RemoveMemberRequest(wasteland_id=wid, user_id="bob"), BOB
    )


async def test_update_and_delete_over_grpc(registry: tuple[Registry, RecordingBoard]) -> None:
    client, board = registry
    wid = (await client.call("CreateWasteland", create_request(), ALICE)).wasteland.wasteland_id
    renamed = await client.call(
        "UpdateWasteland",
        registry_pb2.UpdateWastelandRequest(
            wasteland_id=wid, name="Renamed", visibility=common_pb2.VISIBILITY_PRIVATE
        ),
        ALICE,
    )
    assert (renamed.wasteland.name, renamed.wasteland.visibility) == (
        "Renamed", common_pb2.VISIBILITY_PRIVATE,
    )  # fmt: skip
    keep = await client.call(
        "UpdateWasteland", registry_pb2.UpdateWastelandRequest(wasteland_id=wid), ALICE
    )
    assert keep.wasteland.name == "Renamed"
    bad_vis = registry_pb2.UpdateWastelandRequest(wasteland_id=wid, visibility=UNDEFINED_ENUM)
    assert bad_fields(await client.fails("UpdateWasteland", bad_vis, ALICE)) == ["visibility"]
    await client.call(
        "DeleteWasteland", registry_pb2.DeleteWastelandRequest(wasteland_id=wid), ALICE
    )
    assert board.tracked == {}
    gone = await client.fails(
        "GetWasteland", registry_pb2.GetWastelandRequest(wasteland_id=wid), ALICE
    )
    assert gone.code() == grpc.StatusCode.NOT_FOUND


async def test_towns_over_grpc(registry: tuple[Registry, RecordingBoard]) -> None:
    client, _ = registry
    wid = (await client.call("CreateWasteland", create_request(), ALICE)).wasteland.wasteland_id
    await client.call(
        "PutCredential",
        registry_pb2.PutCredentialRequest(
            wasteland_id=wid, dolthub_token="token-of-alice-1234", dolthub_org="alice"
        ),
        ALICE,
    )
    connect = registry_pb2.ConnectTownRequest(
        wasteland_id=wid, town_id="town-1", rig_handle="mayor", owner_email="ops@example.com"
    )
    town = (await client.call("ConnectTown", connect, ALICE)).town
    assert (town.parent_rig, town.connected_by) == ("alice", "alice")
    bad_email = registry_pb2.ConnectTownRequest(
        wasteland_id=wid, town_id="t2", rig_handle="m2", owner_email="nope"
    )
    assert bad_fields(await client.fails("ConnectTown", bad_email, ALICE)) == ["owner_email"]
    listed = await client.call("ListTowns", registry_pb2.ListTownsRequest(wasteland_id=wid), BOB)
    assert [t.town_id for t in listed.towns] == ["town-1"]
    await client.call(
        "DisconnectTown",
        registry_pb2.DisconnectTownRequest(wasteland_id=wid, town_id="town-1"),
        ALICE,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("isAdmin", "yes"),
        ("version", "3"),
        ("version", 3.0),
        ("kiloUserId", ""),
        ("orgMemberships", [{"orgId": "acme", "role": "admin"}]),
    ],
)
async def test_a_mistyped_claim_is_unauthenticated_in_the_service(
    registry: tuple[Registry, RecordingBoard], name: str, value: object
) -> None:
    # The registry re-verifies the forwarded JWT with the same rules as the gateway.
    client, _ = registry
    now = int(time.time())
    claims = {"version": 3, "kiloUserId": "root", "exp": now + 600, name: value}
    token = jwt.encode(claims, USER_SECRET, algorithm="HS256")
    md = [*metadata(), ("authorization", f"Bearer {token}")]
    failed = await client.fails("ListWastelands", registry_pb2.ListWastelandsRequest(), md)
    assert failed.code() == grpc.StatusCode.UNAUTHENTICATED


def with_request_id(md: list[tuple[str, str]], request_id: str) -> list[tuple[str, str]]:
    return [*md, ("x-request-id", request_id)]


async def test_every_change_is_recorded_with_its_actor_and_request_id(
    registry: tuple[Registry, RecordingBoard], activity: CollectingActivity
) -> None:
    client, _ = registry
    created = await client.call(
        "CreateWasteland", create_request(), with_request_id(ALICE, "req-create")
    )
    wid = created.wasteland.wasteland_id
    # bob reads the public wasteland; connecting makes him a contributor.
    put = registry_pb2.PutCredentialRequest(
        wasteland_id=wid, dolthub_token="token-of-alice-1234", dolthub_org="bob-org"
    )
    await client.call("PutCredential", put, with_request_id(BOB, "req-connect"))
    await client.call("PutCredential", put, with_request_id(BOB, "req-reconnect"))
    upstream = registry_pb2.PutUpstreamCredentialRequest(
        wasteland_id=wid, dolthub_token="upstream-token-5678"
    )
    await client.call("PutUpstreamCredential", upstream, with_request_id(ALICE, "req-up"))
    add = registry_pb2.AddMemberRequest(
        wasteland_id=wid, user_id="carol", role=common_pb2.MEMBER_ROLE_MAINTAINER, trust_level=2
    )
    await client.call("AddMember", add, with_request_id(ALICE, "req-add"))
    # A refused change records nothing.
    await client.fails("AddMember", add, ALICE)
    remove = registry_pb2.RemoveMemberRequest(wasteland_id=wid, user_id="carol")
    await client.call("RemoveMember", remove, with_request_id(ALICE, "req-remove"))
    delete = registry_pb2.DeleteCredentialRequest(wasteland_id=wid)
    await client.call("DeleteCredential", delete, with_request_id(BOB, "req-disconnect"))
    await client.call("DeleteCredential", delete, BOB)  # nothing left to remove
    await client.call(
        "DeleteUpstreamCredential",
        registry_pb2.DeleteUpstreamCredentialRequest(wasteland_id=wid),
        with_request_id(ALICE, "req-up-off"),
    )
    assert [(r.kind, r.actor, r.request_id) for r in activity.records] == [
        ("created", "alice", "req-create"),
        ("member_added", "bob", "req-connect"),
        ("credential_connected", "bob", "req-connect"),
        ("credential_connected", "bob", "req-reconnect"),
        ("credential_connected", "alice", "req-up"),
        ("member_added", "alice", "req-add"),
        ("member_removed", "alice", "req-remove"),
        ("credential_removed", "bob", "req-disconnect"),
        ("credential_removed", "alice", "req-up-off"),
    ]
    assert {r.wasteland_id for r in activity.records} == {wid}
    details = [r.detail for r in activity.records]
    assert details[0] == "created the wasteland 'Hop commons' on the commons hop/wl-commons"
    assert details[2] == "connected DoltHub as bob-org (rig bob-org)"
    assert details[4] == "connected the upstream credential (DoltHub user hop)"
    assert details[5] == "added carol as maintainer (trust level 2)"
    assert not any("token" in d and "1234" in d for d in details)


async def test_access_changes_are_streamed_to_the_gateway(
    registry: tuple[Registry, RecordingBoard],
) -> None:
    client, _ = registry
    wid = (await client.call("CreateWasteland", create_request(), ALICE)).wasteland.wasteland_id
    fence_id = (
        await client.call("CreateWasteland", create_request(name="Fence"), ALICE)
    ).wasteland.wasteland_id
    # Only the gateway may follow the log.
    refused = client.stub.WatchAccessChanges(
        registry_pb2.WatchAccessChangesRequest(), metadata=metadata(service="executor")
    )
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await refused.read()
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED

    stream = client.stub.WatchAccessChanges(
        registry_pb2.WatchAccessChangesRequest(), metadata=metadata(service="gateway")
    )
    fences = 0

    async def notices_of(method: str, request: Any) -> set[str]:
        """What the stream says after ``method``, up to a fence committed after it."""
        nonlocal fences
        await client.call(method, request, ALICE)
        fences += 1
        fence = registry_pb2.UpdateWastelandRequest(wasteland_id=fence_id, name=f"F{fences}")
        await client.call("UpdateWasteland", fence, ALICE)
        seen: set[str] = set()
        last = 0
        while True:
            change = await asyncio.wait_for(stream.read(), TIMEOUT)
            assert change.change_id > last  # in order
            last = change.change_id
            if change.wasteland_id == fence_id:
                return seen
            seen.add("*" if change.all else change.wasteland_id)

    try:
        start = await asyncio.wait_for(stream.read(), TIMEOUT)
        assert start.all  # whatever the caller cached before is stale
        add = registry_pb2.AddMemberRequest(
            wasteland_id=wid, user_id="bob", role=common_pb2.MEMBER_ROLE_CONTRIBUTOR
        )
        assert wid in await notices_of("AddMember", add)
        remove = registry_pb2.RemoveMemberRequest(wasteland_id=wid, user_id="bob")
        assert wid in await notices_of("RemoveMember", remove)
        private = registry_pb2.UpdateWastelandRequest(
            wasteland_id=wid, visibility=common_pb2.VISIBILITY_PRIVATE
        )
        assert await notices_of("UpdateWasteland", private) == {wid}
        delete = registry_pb2.DeleteWastelandRequest(wasteland_id=wid)
        assert wid in await notices_of("DeleteWasteland", delete)
    finally:
        stream.cancel()
