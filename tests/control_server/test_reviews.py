"""Merging and closing upstream pull requests from the review inbox: the control server
against a real DoltHub sandbox process (no `wl` runs for these).

Pull requests are written the way `wl` writes them, on bob's fork. alice is a maintainer
of the wasteland whose own token cannot write the upstream (``hop/wl-commons``); the
wasteland's upstream credential (hop's token) can.
"""

# Test SQL is built with f-strings, but every value in it goes through quote().
# ruff: noqa: S608

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from wasteland.v1 import common_pb2
from wasteland_common.dolthub import DoltHubClient, PollPolicy, quote

from tests.support.sandbox import ALICE_TOKEN, BOB_TOKEN, HOP_TOKEN, api_url, start_sandbox
from tests.support.wl import STANDIN

from .conftest import Control, StartControl

pytestmark = [pytest.mark.integration]

K = common_pb2
UP = ("hop", "wl-commons")
DB = UP[1]
FAST_POLL = PollPolicy(initial=0.02, maximum=0.2, timeout=30.0)
MAINTAINER = K.MEMBER_ROLE_MAINTAINER


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as proc:
        yield api_url(proc)


@pytest.fixture
async def control(start_control: StartControl, api: str) -> AsyncIterator[Control]:
    async with start_control(STANDIN, dolthub_api_url=api) as running:
        yield running


def client(api: str, token: str) -> DoltHubClient:
    return DoltHubClient(api, token=token, poll=FAST_POLL)


async def item(api: str, status: str = "open", claimed_by: str | None = None) -> str:
    """A fresh item on the upstream's main (written by its owner)."""
    wanted_id = f"w-{uuid.uuid4().hex[:10]}"
    async with client(api, HOP_TOKEN) as hop:
        await hop.write(
            *UP, "main", "main",
            "INSERT INTO wanted (id, title, posted_by, status, claimed_by, priority, created_at,"
            f" updated_at) VALUES ({quote(wanted_id)}, 'Review test', 'hop', {quote(status)},"
            f" {quote(claimed_by)}, 2, NOW(), NOW())",
        )  # fmt: skip
    return wanted_id


async def propose(api: str, branch: str, *statements: str, token: str = BOB_TOKEN) -> str:
    """bob's fork branch with ``statements`` (cut from his synced main), and its pull
    request against the upstream."""
    org = "bob" if token == BOB_TOKEN else "alice"
    async with client(api, token) as rig, client(api, HOP_TOKEN) as hop:
        await rig.fork(*UP, org)
        # Bring the fork's main up to the upstream's (as the service's fork sync does).
        sync = await hop.create_pull(
            org, DB, title="sync", description="", from_owner=UP[0], from_db=DB,
            from_branch="main",
        )  # fmt: skip
        await rig.merge_pull(org, DB, sync)
        source = "main"
        for sql in statements:
            await rig.write(org, DB, source, branch, sql)
            source = branch
        return await rig.create_pull(
            *UP, title=f"[wl] {branch}", description="", from_owner=org, from_db=DB,
            from_branch=branch,
        )  # fmt: skip


async def state(api: str, pull_id: str) -> str:
    async with client(api, HOP_TOKEN) as hop:
        return (await hop.get_pull(*UP, pull_id)).state


async def upstream_status(api: str, wanted_id: str) -> tuple[Any, Any]:
    async with client(api, HOP_TOKEN) as hop:
        rows = await hop.read(
            *UP, f"SELECT status, claimed_by FROM wanted WHERE id = {quote(wanted_id)}"
        )
        return rows.rows[0]["status"], rows.rows[0]["claimed_by"]


def claim_sql(wanted_id: str, rig: str = "bob") -> str:
    return (
        f"UPDATE wanted SET claimed_by={quote(rig)}, status='claimed', updated_at=NOW()"
        f" WHERE id={quote(wanted_id)} AND status='open'"
    )


async def decide(
    control: Control,
    kind: common_pb2.OperationKind,
    pull_id: str,
    *,
    token: str = ALICE_TOKEN,
    org: str = "alice",
    rig: str = "alice",
    upstream_token: str = HOP_TOKEN,
    role: common_pb2.MemberRole = MAINTAINER,
    confirm: bool = False,
) -> common_pb2.OperationResult:
    return await control.run(
        kind, token=token, org=org, rig=rig, role=role, upstream_token=upstream_token,
        pull_id=pull_id, confirm=confirm,
    )  # fmt: skip


async def test_a_maintainer_merges_with_the_upstream_credential_and_it_lands(
    control: Control, api: str
) -> None:
    wanted_id = await item(api)
    pull_id = await propose(api, f"wl/bob/{wanted_id}", claim_sql(wanted_id))
    result = await decide(control, K.OPERATION_KIND_MERGE_PULL, pull_id)
    assert result.status == K.OPERATION_STATUS_SUCCEEDED, result.error
    assert (result.pull_id, result.wanted_id) == (pull_id, wanted_id)
    assert result.pull_request_url.endswith(f"/hop/wl-commons/pulls/{pull_id}")
    assert await state(api, pull_id) == "merged"
    assert await upstream_status(api, wanted_id) == ("claimed", "bob")
    # A retry (or a merge someone made on DoltHub) is a success, not a second merge.
    again = await decide(control, K.OPERATION_KIND_MERGE_PULL, pull_id)
    assert again.status == K.OPERATION_STATUS_SUCCEEDED, again.error
    # Closing a merged pull request is refused.
    closed = await decide(control, K.OPERATION_KIND_CLOSE_PULL, pull_id)
    assert closed.error_code == "FAILED_PRECONDITION"


async def test_a_maintainer_whose_own_token_writes_the_upstream_needs_no_upstream_credential(
    control: Control, api: str
) -> None:
    wanted_id = await item(api)
    pull_id = await propose(api, f"wl/bob/{wanted_id}", claim_sql(wanted_id))
    refused = await decide(control, K.OPERATION_KIND_MERGE_PULL, pull_id, upstream_token="")
    assert refused.error_code == "FAILED_PRECONDITION"
    assert "upstream-credential" in refused.error
    assert await state(api, pull_id) == "open"
    merged = await decide(
        control, K.OPERATION_KIND_MERGE_PULL, pull_id, token=HOP_TOKEN, org="hop",
        rig="hop-maintainer", upstream_token="",
    )  # fmt: skip
    assert merged.status == K.OPERATION_STATUS_SUCCEEDED, merged.error
    assert await state(api, pull_id) == "merged"


async def test_only_maintainers_decide(control: Control, api: str) -> None:
    wanted_id = await item(api)
    pull_id = await propose(api, f"wl/bob/{wanted_id}", claim_sql(wanted_id))
    for kind in (K.OPERATION_KIND_MERGE_PULL, K.OPERATION_KIND_CLOSE_PULL):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await decide(control, kind, pull_id, role=K.MEMBER_ROLE_CONTRIBUTOR)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await decide(control, K.OPERATION_KIND_MERGE_PULL, "not-a-number")
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as nothing:  # no token of any kind
        await decide(
            control, K.OPERATION_KIND_MERGE_PULL, pull_id, token="", org="", upstream_token=""
        )
    assert nothing.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    # The upstream credential alone suffices (a maintainer without a credential).
    missing = await decide(control, K.OPERATION_KIND_MERGE_PULL, "9999", token="", org="")
    assert missing.error_code == "NOT_FOUND"
    assert await state(api, pull_id) == "open"


async def test_nobody_merges_a_stamp_of_their_own_work(control: Control, api: str) -> None:
    # alice's completion of an item, accepted by bob: the stamp's subject is alice.
    wanted_id = await item(api, "in_review", "alice")
    async with client(api, HOP_TOKEN) as hop:
        await hop.write(
            *UP, "main", "main",
            "INSERT INTO completions (id, wanted_id, completed_by, evidence, completed_at)"
            f" VALUES ('c-{wanted_id}', {quote(wanted_id)}, 'alice', 'https://e.x', NOW())",
        )  # fmt: skip
        # alice's town is alice's work too.
        await hop.write(
            *UP, "main", "main",
            "INSERT INTO rigs (handle, dolthub_org, trust_level, rig_type, parent_rig)"
            " VALUES ('alice-town', 'alice', 1, 'agent', 'alice')",
        )  # fmt: skip

    def accept(wanted_id: str, subject: str) -> list[str]:
        stamp = f"s-{wanted_id}"
        return [
            "INSERT INTO stamps (id, author, subject, valence, confidence, severity, context_id,"
            f" context_type, created_at) VALUES ({quote(stamp)}, 'bob', {quote(subject)},"
            f" '{{\"quality\": 4, \"reliability\": 4}}', 1.0, 'leaf', 'c-{wanted_id}',"
            " 'completion', NOW())",
            f"UPDATE completions SET validated_by='bob', stamp_id={quote(stamp)},"
            f" validated_at=NOW() WHERE id='c-{wanted_id}'",
            f"UPDATE wanted SET status='completed', updated_at=NOW() WHERE id={quote(wanted_id)}"
            " AND status='in_review'",
        ]

    own = await propose(api, f"wl/bob/{wanted_id}", *accept(wanted_id, "alice"))
    refused = await decide(control, K.OPERATION_KIND_MERGE_PULL, own)
    assert refused.error_code == "PERMISSION_DENIED"
    assert "your own work" in refused.error
    assert await state(api, own) == "open"
    # Another maintainer may merge it (bob, who wrote the stamp).
    merged = await decide(
        control, K.OPERATION_KIND_MERGE_PULL, own, token=BOB_TOKEN, org="bob", rig="bob"
    )
    assert merged.status == K.OPERATION_STATUS_SUCCEEDED, merged.error
    assert await upstream_status(api, wanted_id) == ("completed", "alice")

    town_item = await item(api, "in_review", "alice-town")
    async with client(api, HOP_TOKEN) as hop:
        await hop.write(
            *UP, "main", "main",
            "INSERT INTO completions (id, wanted_id, completed_by, evidence, completed_at)"
            f" VALUES ('c-{town_item}', {quote(town_item)}, 'alice-town', 'https://e.x', NOW())",
        )  # fmt: skip
    towns = await propose(api, f"wl/bob/{town_item}", *accept(town_item, "alice-town"))
    refused = await decide(control, K.OPERATION_KIND_MERGE_PULL, towns)
    assert refused.error_code == "PERMISSION_DENIED"
    # Known only by her DoltHub org (the service recorded no rig of hers), alice's town
    # is still hers.
    by_org = await decide(control, K.OPERATION_KIND_MERGE_PULL, towns, org="alice", rig="")
    assert by_org.error_code == "PERMISSION_DENIED"


async def test_warnings_need_a_confirmation_and_conflicts_are_refused(
    control: Control, api: str
) -> None:
    # bob submits a done for an item carol claimed upstream.
    wanted_id = await item(api, "claimed", "carol")
    done = await propose(
        api, f"wl/bob/{wanted_id}",
        "UPDATE wanted SET status='in_review', evidence_url='https://e.x/1', updated_at=NOW()"
        f" WHERE id={quote(wanted_id)} AND status='claimed'",
        "INSERT INTO completions (id, wanted_id, completed_by, evidence, completed_at)"
        f" VALUES ('c-b-{wanted_id}', {quote(wanted_id)}, 'bob', 'https://e.x/1', NOW())",
    )  # fmt: skip
    flagged = await decide(control, K.OPERATION_KIND_MERGE_PULL, done)
    assert flagged.error_code == "FAILED_PRECONDITION"
    assert "carol" in flagged.error
    assert "confirm" in flagged.error
    assert await state(api, done) == "open"
    confirmed = await decide(control, K.OPERATION_KIND_MERGE_PULL, done, confirm=True)
    assert confirmed.status == K.OPERATION_STATUS_SUCCEEDED, confirmed.error
    assert await upstream_status(api, wanted_id) == ("in_review", "carol")

    # Two claims of one item: the second no longer merges once the first did.
    contested = await item(api)
    first = await propose(api, f"wl/bob/{contested}", claim_sql(contested))
    second = await propose(
        api, f"wl/alice/{contested}", claim_sql(contested, "alice"), token=ALICE_TOKEN
    )
    assert (await decide(control, K.OPERATION_KIND_MERGE_PULL, first)).status == (
        K.OPERATION_STATUS_SUCCEEDED
    )
    clash = await decide(control, K.OPERATION_KIND_MERGE_PULL, second, rig="carol")
    assert clash.error_code == "ABORTED"
    assert f"wanted {contested}" in clash.error
    assert await state(api, second) == "open"


async def test_close_with_the_upstream_credential(control: Control, api: str) -> None:
    wanted_id = await item(api)
    pull_id = await propose(api, f"wl/bob/{wanted_id}", claim_sql(wanted_id))
    # alice is neither the author nor a writer of the upstream: the upstream credential
    # closes it.
    closed = await decide(control, K.OPERATION_KIND_CLOSE_PULL, pull_id)
    assert closed.status == K.OPERATION_STATUS_SUCCEEDED, closed.error
    assert (closed.pull_id, closed.wanted_id) == (pull_id, wanted_id)
    assert await state(api, pull_id) == "closed"
    assert (await decide(control, K.OPERATION_KIND_CLOSE_PULL, pull_id)).status == (
        K.OPERATION_STATUS_SUCCEEDED
    )
    refused = await decide(control, K.OPERATION_KIND_MERGE_PULL, pull_id)
    assert refused.error_code == "FAILED_PRECONDITION"
    assert await upstream_status(api, wanted_id) == ("open", None)
