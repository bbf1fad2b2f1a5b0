"""The registry over real gRPC against the DoltHub sandbox (a real subprocess).

Started the way production starts it (``build_and_start`` with settings), with
board-sync deliberately absent to show that tracking is best effort.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from pydantic import SecretStr
from wasteland.v1 import common_pb2, registry_pb2
from wasteland_common.dolthub import DoltHubClient
from wl_registry.server import RegistrySettings, build_and_start

from tests.support.ports import free_port
from tests.support.sandbox import ALICE_TOKEN, BOB_TOKEN, HOP_TOKEN, api_url, start_sandbox

from .grpc_helpers import SERVICE_SECRET, USER_SECRET, Registry, bad_fields, metadata

ALICE = metadata("alice")
BOB = metadata("bob")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as proc:
        yield api_url(proc)


@pytest.fixture
async def registry(sandbox: str, tmp_path: Path) -> AsyncIterator[Registry]:
    settings = RegistrySettings(
        DATABASE_URL=f"sqlite+pysqlite:///{tmp_path / 'registry.db'}",
        DOLTHUB_API_URL=sandbox,
        GRPC_PORT=0,
        KILO_JWT_SECRET=SecretStr(USER_SECRET),
        SERVICE_JWT_SECRET=SecretStr(SERVICE_SECRET),
        PROVISIONING_DOLTHUB_TOKEN=SecretStr(ALICE_TOKEN),
        # Nobody listens there: board-sync is down for these tests.
        BOARD_ADDR=f"127.0.0.1:{free_port()}",
        BOARD_CALL_TIMEOUT_SECONDS=2,
        # Nor the executor: a delete's stop is best effort.
        EXECUTOR_ADDR=f"127.0.0.1:{free_port()}",
        EXECUTOR_CALL_TIMEOUT_SECONDS=2,
        PROVISION_TIMEOUT_SECONDS=60,
    )
    running, cleanup = await build_and_start(settings)
    client = Registry.connect(running.port)
    try:
        yield client
    finally:
        await client.channel.close()
        await running.stop(0)
        await cleanup()


def create(upstream: str = "hop/wl-commons", dolthub_org: str = "") -> object:
    return registry_pb2.CreateWastelandRequest(
        name="Sandbox commons",
        owner=common_pb2.Owner(type=common_pb2.OWNER_TYPE_USER),
        visibility=common_pb2.VISIBILITY_PUBLIC,
        upstream=upstream,
        dolthub_org=dolthub_org,
    )


async def test_join_an_upstream_and_connect_a_real_token(registry: Registry) -> None:
    created = (await registry.call("CreateWasteland", create(), ALICE)).wasteland
    assert created.status == common_pb2.WASTELAND_STATUS_ACTIVE
    assert created.upstream == "hop/wl-commons"
    wid = created.wasteland_id

    # bob, not a member, connects his sandbox token to alice's public wasteland.
    put = registry_pb2.PutCredentialRequest(
        wasteland_id=wid, dolthub_token=BOB_TOKEN, dolthub_org="bob"
    )
    status = (await registry.call("PutCredential", put, BOB)).credential
    assert (status.connected, status.rig_handle, status.token_hint) == (True, "bob", BOB_TOKEN[-4:])
    members = await registry.call(
        "ListMembers", registry_pb2.ListMembersRequest(wasteland_id=wid), ALICE
    )
    roles = {m.user_id: m.role for m in members.members}
    assert roles == {
        "alice": common_pb2.MEMBER_ROLE_OWNER,
        "bob": common_pb2.MEMBER_ROLE_CONTRIBUTOR,
    }
    grant = await registry.call(
        "AuthorizeAction",
        registry_pb2.AuthorizeActionRequest(wasteland_id=wid, kind=common_pb2.OPERATION_KIND_JOIN),
        metadata("bob", service="executor"),
    )
    assert (grant.dolthub_token, grant.dolthub_org, grant.rig_registered) == (
        BOB_TOKEN, "bob", False,
    )  # fmt: skip


async def test_a_token_dolthub_rejects_is_invalid_argument(registry: Registry) -> None:
    wid = (await registry.call("CreateWasteland", create(), ALICE)).wasteland.wasteland_id
    put = registry_pb2.PutCredentialRequest(
        wasteland_id=wid, dolthub_token="sandbox-token-nobody-at-all", dolthub_org="alice"
    )
    error = await registry.fails("PutCredential", put, ALICE)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(error) == ["dolthub_token"]
    get = registry_pb2.GetCredentialRequest(wasteland_id=wid)
    assert not (await registry.call("GetCredential", get, ALICE)).credential.connected


async def test_an_unknown_upstream_is_invalid_argument(registry: Registry) -> None:
    error = await registry.fails("CreateWasteland", create("hop/no-such-db"), ALICE)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(error) == ["upstream"]


async def test_the_operator_token_provisions_for_a_creator_without_a_credential(
    registry: Registry, sandbox: str
) -> None:
    """PROVISIONING_DOLTHUB_TOKEN (alice's here) is an operator option: bob, with no
    DoltHub credential anywhere, gets a commons in the org he names."""
    created = (
        await registry.call("CreateWasteland", create(upstream="", dolthub_org="alice"), BOB)
    ).wasteland
    assert created.status == common_pb2.WASTELAND_STATUS_ACTIVE
    assert created.upstream == "alice/wl-template"  # the org had no copy: a fork
    # The operator's token became the upstream credential; bob has no member credential.
    up = registry_pb2.GetUpstreamCredentialRequest(wasteland_id=created.wasteland_id)
    assert (await registry.call("GetUpstreamCredential", up, BOB)).credential.connected
    mine = registry_pb2.GetCredentialRequest(wasteland_id=created.wasteland_id)
    assert not (await registry.call("GetCredential", mine, BOB)).credential.connected
    # A second commons in the same org is a new database named after the wasteland.
    again = (
        await registry.call("CreateWasteland", create(upstream="", dolthub_org="alice"), BOB)
    ).wasteland
    assert again.status == common_pb2.WASTELAND_STATUS_ACTIVE
    assert again.upstream == "alice/sandbox-commons"
    async with DoltHubClient(sandbox) as anonymous:
        meta = await anonymous.read("alice", "sandbox-commons", "SELECT `key`, value FROM _meta")
    assert {r["key"]: r["value"] for r in meta.rows} == {
        "schema_version": "1.2",
        "wasteland_name": "Sandbox commons",
    }


async def test_a_credential_must_be_able_to_write_the_org_it_names(registry: Registry) -> None:
    wid = (await registry.call("CreateWasteland", create(), ALICE)).wasteland.wasteland_id
    # bob's token reads the public upstream but cannot write alice's org.
    put = registry_pb2.PutCredentialRequest(
        wasteland_id=wid, dolthub_token=BOB_TOKEN, dolthub_org="alice"
    )
    error = await registry.fails("PutCredential", put, BOB)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(error) == ["dolthub_org"]
    assert BOB_TOKEN not in (error.details() or "")
    # Naming his own org works; his fork exists afterwards (made to prove the write).
    own = registry_pb2.PutCredentialRequest(
        wasteland_id=wid, dolthub_token=BOB_TOKEN, dolthub_org="bob"
    )
    status = (await registry.call("PutCredential", own, BOB)).credential
    assert status.connected
    got = await registry.call(
        "GetCredential", registry_pb2.GetCredentialRequest(wasteland_id=wid), BOB
    )
    assert got.credential.HasField("fork_behind")
    assert got.credential.fork_behind is False  # a fresh fork is current
    assert got.credential.HasField("fork_checked_at")


async def test_the_upstream_credential_must_write_the_upstream(
    registry: Registry, sandbox: str
) -> None:
    wid = (await registry.call("CreateWasteland", create(), ALICE)).wasteland.wasteland_id
    bad = registry_pb2.PutUpstreamCredentialRequest(wasteland_id=wid, dolthub_token=BOB_TOKEN)
    error = await registry.fails("PutUpstreamCredential", bad, ALICE)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(error) == ["dolthub_token"]
    good = registry_pb2.PutUpstreamCredentialRequest(wasteland_id=wid, dolthub_token=HOP_TOKEN)
    status = (await registry.call("PutUpstreamCredential", good, ALICE)).credential
    # The sandbox's user behind HOP_TOKEN, as DoltHub names it in the write operation.
    assert (status.connected, status.dolthub_user) == (True, "hop-maintainer")
    assert status.token_hint == HOP_TOKEN[-4:]
    # The probe left nothing behind on the upstream.
    async with DoltHubClient(sandbox, token=HOP_TOKEN) as hop:
        assert [
            b for b in await hop.list_branches("hop", "wl-commons") if "access-check" in b
        ] == []
    get = registry_pb2.GetUpstreamCredentialRequest(wasteland_id=wid)
    assert (await registry.call("GetUpstreamCredential", get, ALICE)).credential.connected
