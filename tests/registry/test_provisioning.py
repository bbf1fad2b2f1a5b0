"""Creating a wasteland with a new commons, provisioned with the creator's own DoltHub
credential: the registry over real gRPC against a DoltHub sandbox process."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from pydantic import SecretStr
from wasteland.v1 import common_pb2, registry_pb2
from wasteland_common.dolthub import DoltHubClient, bind
from wl_registry.server import RegistrySettings, build_and_start

from tests.support.activity import CollectingActivity
from tests.support.ports import free_port
from tests.support.sandbox import ALICE_TOKEN, BOB_TOKEN, api_url, start_sandbox

from .grpc_helpers import SERVICE_SECRET, USER_SECRET, Registry, bad_fields, metadata

ALICE = metadata("alice")
BOB = metadata("bob")
ACTIVE = common_pb2.WASTELAND_STATUS_ACTIVE


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[str]:
    """A fresh sandbox per test: which databases an org already has matters here."""
    with start_sandbox(tmp_path / "sandbox") as proc:
        yield api_url(proc)


@contextlib.asynccontextmanager
async def started_registry(
    sandbox: str,
    database: Path,
    *,
    provision_timeout: float = 60,
    activity: CollectingActivity | None = None,
) -> AsyncIterator[Registry]:
    """A registry process-in-this-loop on ``database`` (restartable on the same file)."""
    settings = RegistrySettings(
        DATABASE_URL=f"sqlite+pysqlite:///{database}",
        DOLTHUB_API_URL=sandbox,
        GRPC_PORT=0,
        KILO_JWT_SECRET=SecretStr(USER_SECRET),
        SERVICE_JWT_SECRET=SecretStr(SERVICE_SECRET),
        BOARD_ADDR=f"127.0.0.1:{free_port()}",
        BOARD_CALL_TIMEOUT_SECONDS=2,
        EXECUTOR_ADDR=f"127.0.0.1:{free_port()}",
        EXECUTOR_CALL_TIMEOUT_SECONDS=2,
        PROVISION_TIMEOUT_SECONDS=provision_timeout,
        PROVISION_WAIT_SECONDS=90,
    )
    running, cleanup = await build_and_start(settings, activity=activity)
    client = Registry.connect(running.port)
    try:
        yield client
    finally:
        await client.channel.close()
        await running.stop(0)
        await cleanup()


@pytest.fixture
def activity() -> CollectingActivity:
    return CollectingActivity(service="registry")


@pytest.fixture
async def registry(
    sandbox: str, tmp_path: Path, activity: CollectingActivity
) -> AsyncIterator[Registry]:
    async with started_registry(sandbox, tmp_path / "registry.db", activity=activity) as client:
        yield client


def create(name: str, *, dolthub_org: str = "", dolthub_token: str = "") -> object:
    return registry_pb2.CreateWastelandRequest(
        name=name,
        owner=common_pb2.Owner(type=common_pb2.OWNER_TYPE_USER),
        visibility=common_pb2.VISIBILITY_PUBLIC,
        dolthub_org=dolthub_org,
        dolthub_token=dolthub_token,
    )


async def rows(sandbox: str, owner: str, db: str, sql: str) -> list[dict[str, str | None]]:
    async with DoltHubClient(sandbox) as anonymous:
        return (await anonymous.read(owner, db, sql)).rows


async def test_the_first_commons_of_an_org_forks_the_template(
    registry: Registry, sandbox: str, activity: CollectingActivity
) -> None:
    created = (
        await registry.call(
            "CreateWasteland",
            create("Alpha", dolthub_org="alice", dolthub_token=ALICE_TOKEN),
            ALICE,
        )
    ).wasteland
    assert created.status == ACTIVE, created.status_reason
    assert created.upstream == "alice/wl-template"
    wid = created.wasteland_id
    # The creator's rig is registered on the new commons' main.
    rigs = await rows(sandbox, "alice", "wl-template", "SELECT handle, trust_level FROM rigs")
    assert rigs == [{"handle": "alice", "trust_level": "3"}]
    meta = await rows(sandbox, "alice", "wl-template", "SELECT `key`, value FROM _meta")
    assert {r["key"]: r["value"] for r in meta} == {
        "schema_version": "1.2",
        "wasteland_name": "Alpha",
    }
    # The creator's credential is both their member credential and the upstream one.
    mine = (
        await registry.call(
            "GetCredential", registry_pb2.GetCredentialRequest(wasteland_id=wid), ALICE
        )
    ).credential
    assert (mine.connected, mine.dolthub_org, mine.rig_handle) == (True, "alice", "alice")
    upstream = (
        await registry.call(
            "GetUpstreamCredential",
            registry_pb2.GetUpstreamCredentialRequest(wasteland_id=wid),
            ALICE,
        )
    ).credential
    assert (upstream.connected, upstream.dolthub_user) == (True, "alice")
    grant = await registry.call(
        "AuthorizeAction",
        registry_pb2.AuthorizeActionRequest(wasteland_id=wid, kind=common_pb2.OPERATION_KIND_CLAIM),
        metadata("alice", service="executor"),
    )
    assert (grant.rig_registered, grant.rig_handle, grant.upstream_token) == (
        True, "alice", ALICE_TOKEN,
    )  # fmt: skip
    # The activity log: created with its credential, then (at the end of the run) the
    # creator's rig and the provisioning; never the token.
    assert activity.kinds() == [
        ("created", "alice"),
        ("credential_connected", "alice"),
        ("rig_registered", "alice"),
        ("provisioned", "alice"),
    ]
    assert {r.wasteland_id for r in activity.records} == {wid}
    assert activity.records[-1].detail == (
        "provisioned the commons alice/wl-template from the template"
    )
    assert not any(ALICE_TOKEN in r.detail for r in activity.records)


async def test_a_second_commons_is_a_new_database_loaded_through_a_bootstrap_branch(
    registry: Registry, sandbox: str
) -> None:
    first = (
        await registry.call(
            "CreateWasteland", create("One", dolthub_org="alice", dolthub_token=ALICE_TOKEN), ALICE
        )
    ).wasteland
    # No token this time: the credential alice connected last provisions it.
    second = (await registry.call("CreateWasteland", create("Second commons!"), ALICE)).wasteland
    assert second.status == ACTIVE, second.status_reason
    assert (first.upstream, second.upstream) == ("alice/wl-template", "alice/second-commons")
    tables = await rows(sandbox, "alice", "second-commons", "SHOW TABLES")
    assert {next(iter(t.values())) for t in tables} >= {
        "_meta", "rigs", "wanted", "completions", "stamps", "badges", "boot_blocks",
        "chain_meta", "rig_links",
    }  # fmt: skip
    version = await rows(
        sandbox, "alice", "second-commons",
        "SELECT value FROM _meta WHERE `key` = 'schema_version'",
    )  # fmt: skip
    assert version == [{"value": "1.2"}]
    assert await rows(
        sandbox,
        "alice",
        "second-commons",
        bind("SELECT handle FROM rigs WHERE handle = ?", "alice"),
    ) == [{"handle": "alice"}]
    async with DoltHubClient(sandbox, token=ALICE_TOKEN) as alice:
        assert await alice.list_branches("alice", "second-commons") == ["main"]
    # A third with the same name gets the next free name.
    third = (await registry.call("CreateWasteland", create("Second commons!"), ALICE)).wasteland
    assert third.upstream == "alice/second-commons-2"


async def test_a_token_that_cannot_create_in_the_org_is_refused_and_leaves_nothing(
    registry: Registry,
) -> None:
    error = await registry.fails(
        "CreateWasteland", create("Nope", dolthub_org="alice", dolthub_token=BOB_TOKEN), BOB
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(error) == ["dolthub_org"]
    assert BOB_TOKEN not in (error.details() or "")
    listed = await registry.call("ListWastelands", registry_pb2.ListWastelandsRequest(), BOB)
    assert list(listed.wastelands) == []


async def test_without_any_credential_the_creator_is_told_to_connect(registry: Registry) -> None:
    error = await registry.fails("CreateWasteland", create("Empty-handed"), BOB)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "connect DoltHub first" in (error.details() or "")


async def test_a_failed_provisioning_can_be_retried(sandbox: str, tmp_path: Path) -> None:
    database = tmp_path / "registry.db"
    faults = f"{sandbox.removesuffix('/api/v1alpha1')}/_sandbox/faults"
    target = {"owner": "alice", "db": "retry-me"}
    async with started_registry(sandbox, database) as registry:
        await registry.call(
            "CreateWasteland",
            create("First", dolthub_org="alice", dolthub_token=ALICE_TOKEN),
            ALICE,
        )
    # DoltHub answers the new database's requests after 3 s; provisioning may take 2 s.
    httpx.post(faults, json={**target, "latency_ms": 3000}).raise_for_status()
    async with started_registry(sandbox, database, provision_timeout=2) as registry:
        error = await registry.fails("CreateWasteland", create("Retry me"), ALICE)
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        listed = await registry.call("ListWastelands", registry_pb2.ListWastelandsRequest(), ALICE)
    [failed] = [w for w in listed.wastelands if w.name == "Retry me"]
    assert failed.status == common_pb2.WASTELAND_STATUS_FAILED
    assert "retry" in failed.status_reason
    assert failed.upstream == "alice/retry-me"

    httpx.post(faults, json=target).raise_for_status()  # DoltHub is quick again
    retry = registry_pb2.RetryProvisioningRequest(wasteland_id=failed.wasteland_id)
    async with started_registry(sandbox, database) as registry:
        bob_tries = await registry.fails("RetryProvisioning", retry, BOB)
        assert bob_tries.code() == grpc.StatusCode.PERMISSION_DENIED  # not his wasteland
        retried = (await registry.call("RetryProvisioning", retry, ALICE)).wasteland
        assert retried.status == ACTIVE, retried.status_reason
        assert retried.status_reason == ""
        again = await registry.fails("RetryProvisioning", retry, ALICE)
        assert again.code() == grpc.StatusCode.FAILED_PRECONDITION  # only a failed one
