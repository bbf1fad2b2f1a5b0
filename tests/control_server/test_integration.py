"""The control server over a real gRPC socket, running the `wl` stand-in against a real
DoltHub sandbox process on loopback.

One sandbox per module. Its upstream ``hop/wl-commons`` gets this module's own wanted items
before any rig forks it (a fork's main is frozen at fork time, spec 5.4), so every test
works on its own items and the order of tests does not matter.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from wasteland.v1 import common_pb2
from wasteland_common.dolthub import DoltHubClient, DoltHubError, PollPolicy, bind
from wasteland_common.dolthub.pulls import PullDetails
from wl_control_server import forks, output
from wl_control_server.lifecycle import Refusal
from wl_control_server.rigs import Commons, Rig, rig_env
from wl_control_server.wl import WlRunner

from tests.support.sandbox import api_url, start_sandbox
from tests.support.wl import best_wl

from .conftest import Control, StartControl

pytestmark = [pytest.mark.integration]

K = common_pb2
ALICE = "sandbox-token-alice"
BOB = "sandbox-token-bob"
HOP = "sandbox-token-hop"
UP_OWNER, UP_DB = "hop", "wl-commons"
FAST_POLL = PollPolicy(initial=0.02, maximum=0.2, timeout=30.0)


@dataclass(frozen=True)
class World:
    """A seeded sandbox and this module's wanted items (ids by purpose)."""

    root: str
    items: dict[str, str]
    wl: Path  # the real wl built for this sandbox (the stand-in where Go is missing)

    @property
    def api(self) -> str:
        return f"{self.root}/api/v1alpha1"

    def client(self, token: str | None) -> DoltHubClient:
        return DoltHubClient(self.api, token=token, poll=FAST_POLL)


# Statuses of this module's items on upstream main, set before anyone forks.
ITEM_SPECS = {
    "claim": ("open", None),
    "contest": ("open", None),
    "taken": ("in_review", "carol"),
    "race": ("open", None),
    "done": ("open", None),
    "unclaim": ("open", None),
    # In review upstream with carol's completion, for the upstream owner to review.
    "accept": ("in_review", "carol"),
    "reject": ("in_review", "carol"),
    "close": ("in_review", "carol"),
}


async def _commit_item(world: World, wanted_id: str, status: str, claimed_by: str | None) -> None:
    """The commons owner puts an item straight on upstream main."""
    sql = bind(
        "INSERT INTO wanted (id, title, description, type, priority, posted_by, claimed_by,"
        " status, effort_level, created_at, updated_at)"
        " VALUES (?, ?, 'seeded by tests', 'feature', 2, 'hop', ?, ?, 'small', NOW(), NOW())",
        wanted_id,
        "Control test: " + wanted_id,
        claimed_by,
        status,
    )
    async with world.client(HOP) as hop:
        await hop.write(UP_OWNER, UP_DB, "main", "main", sql)


async def _seed(world_api: str) -> dict[str, str]:
    items: dict[str, str] = {}
    run = uuid.uuid4().hex[:6]
    async with DoltHubClient(world_api, token=HOP, poll=FAST_POLL) as hop:
        for purpose, (status, claimed_by) in ITEM_SPECS.items():
            wanted_id = f"w-ctl-{purpose}-{run}"
            sql = bind(
                "INSERT INTO wanted (id, title, description, type, priority, posted_by,"
                " claimed_by, status, effort_level, created_at, updated_at)"
                " VALUES (?, ?, 'seeded by tests', 'feature', 2, 'hop', ?, ?, 'small',"
                " NOW(), NOW())",
                wanted_id,
                "Control test: " + purpose,
                claimed_by,
                status,
            )
            await hop.write(UP_OWNER, UP_DB, "main", "main", sql)
            if status == "in_review":
                completion = bind(
                    "INSERT INTO completions (id, wanted_id, completed_by, evidence, completed_at)"
                    " VALUES (?, ?, ?, 'https://example.com/pr/1', NOW())",
                    f"c-{purpose}-{run}",
                    wanted_id,
                    claimed_by,
                )
                await hop.write(UP_OWNER, UP_DB, "main", "main", completion)
            items[purpose] = wanted_id
    return items


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A DoltHub sandbox subprocess with this module's items on upstream main."""
    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as proc:
        items = asyncio.run(_seed(api_url(proc)))
        yield World(root=proc.url, items=items, wl=best_wl(api_url(proc)))


@pytest.fixture
async def control(start_control: StartControl, world: World) -> AsyncIterator[Control]:
    async with start_control(world.wl, dolthub_api_url=world.api) as running:
        yield running


async def read_row(
    world: World, token: str, owner: str, ref: str, wanted_id: str
) -> dict[str, str | None] | None:
    async with world.client(token) as client:
        result = await client.read(
            owner,
            UP_DB,
            bind("SELECT status, claimed_by, evidence_url FROM wanted WHERE id = ?", wanted_id),
            ref=ref,
        )
    return result.rows[0] if result.rows else None


async def branches(world: World, token: str, owner: str) -> list[str]:
    async with world.client(token) as client:
        try:
            return await client.list_branches(owner, UP_DB)
        except DoltHubError:  # a missing fork has no branches
            return []


# --------------------------------------------------------------------------- claim


async def test_lazy_join_then_claim_is_verified_on_dolthub(
    control: Control, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    target = world.items["claim"]

    result = await control.run(K.OPERATION_KIND_CLAIM, token=ALICE, org="alice", wanted_id=target)

    assert result.status == K.OPERATION_STATUS_SUCCEEDED, result.error
    assert result.error_code == ""
    assert result.kind == K.OPERATION_KIND_CLAIM
    assert result.wanted_id == target
    assert result.rig_handle == "alice"
    assert result.branch == f"wl/alice/{target}"
    assert "/hop/wl-commons/pulls/" in result.pull_request_url  # wl opened the claim's PR
    assert result.item.wanted_id == target
    assert result.item.status == "claimed"
    assert result.item.claimed_by == "alice"
    assert result.item.title == "Control test: claim"
    # The rig was registered first: its wl config exists and GetInfo lists it.
    assert list((await control.info()).joined_rigs) == ["alice"]
    # DoltHub itself shows the claim on alice's fork branch; upstream is untouched.
    on_branch = await read_row(world, ALICE, "alice", f"wl/alice/{target}", target)
    assert on_branch is not None
    assert (on_branch["status"], on_branch["claimed_by"]) == ("claimed", "alice")
    upstream = await read_row(world, ALICE, UP_OWNER, "main", target)
    assert upstream is not None
    assert upstream["status"] == "open"
    # No token in any log line of the server (wl's output included).
    assert ALICE not in caplog.text
    assert ALICE not in str(result)


async def test_second_rig_claim_of_a_pending_claim_is_aborted(
    control: Control, world: World
) -> None:
    target = world.items["contest"]
    first = await control.run(K.OPERATION_KIND_CLAIM, token=ALICE, org="alice", wanted_id=target)
    assert first.status == K.OPERATION_STATUS_SUCCEEDED, first.error

    second = await control.run(K.OPERATION_KIND_CLAIM, token=BOB, org="bob", wanted_id=target)

    assert second.status == K.OPERATION_STATUS_FAILED
    assert second.error_code == "ABORTED"
    assert "already claimed" in second.error
    assert second.rig_handle == "bob"
    # Refused before wl ran: bob has no claim branch for it.
    assert f"wl/bob/{target}" not in await branches(world, BOB, "bob")


async def test_claim_of_an_item_that_is_not_open_is_aborted(control: Control, world: World) -> None:
    target = world.items["taken"]

    result = await control.run(K.OPERATION_KIND_CLAIM, token=ALICE, org="alice", wanted_id=target)

    assert result.status == K.OPERATION_STATUS_FAILED
    assert result.error_code == "ABORTED"
    assert "already claimed" in result.error
    upstream = await read_row(world, ALICE, UP_OWNER, "main", target)
    assert upstream is not None
    assert (upstream["status"], upstream["claimed_by"]) == ("in_review", "carol")


async def test_wl_itself_exits_0_on_a_claim_of_an_item_that_is_not_open(
    control: Control, world: World
) -> None:
    """The silent no-op the control server exists to catch (spec 5.5 B)."""
    target = world.items["taken"]
    joined = await control.run(K.OPERATION_KIND_JOIN, token=ALICE, org="alice")
    assert joined.status == K.OPERATION_STATUS_SUCCEEDED, joined.error
    runner = WlRunner(str(world.wl), dolthub_api_url=world.api)
    env = rig_env(control.work_dir, Rig(handle="alice", org="alice", token=ALICE))

    run = await runner.run(["claim", target], env, limit_seconds=120)

    assert run.exit_code == 0, run.stderr
    assert run.parsed.verb == "Claimed"
    assert run.parsed.status != "claimed"
    assert ALICE not in run.stdout + run.stderr


RACE_WRAPPER = """\
#!{python}
# Runs the real stand-in, but first lets "carol" win the race for one item: her claim lands
# on upstream main and on the caller's fork main after the control server's pre-check.
import asyncio, os, subprocess, sys
from wasteland_common.dolthub import DoltHubClient, PollPolicy, quote

API, TARGET, HOP, REAL, LOG = {api!r}, {target!r}, {hop!r}, {real!r}, {log!r}
args = sys.argv[1:]

async def carol_wins() -> None:
    sql = ("UPDATE wanted SET status = 'claimed', claimed_by = 'carol' WHERE id = "
           + quote(TARGET))
    fork_owner = os.environ["DOLTHUB_ORG"]
    for owner, token in (("hop", HOP), (fork_owner, os.environ["DOLTHUB_TOKEN"])):
        async with DoltHubClient(API, token=token, poll=PollPolicy(0.02, 0.2, 30.0)) as c:
            await c.write(owner, "wl-commons", "main", "main", sql)

if args[:2] == ["claim", TARGET]:
    asyncio.run(carol_wins())
code = subprocess.run([REAL, *args]).returncode
with open(LOG, "a") as f:
    f.write(" ".join(args[:2]) + " exit " + str(code) + "\\n")
sys.exit(code)
"""


async def test_claim_that_loses_a_race_is_aborted_although_wl_exits_0(
    start_control: StartControl, world: World, tmp_path: Path
) -> None:
    target = world.items["race"]
    log = tmp_path / "wl-exits.log"
    wrapper = tmp_path / "wl-race"
    wrapper.write_text(
        RACE_WRAPPER.format(
            python=sys.executable,
            api=world.api,
            target=target,
            hop=HOP,
            real=str(world.wl),
            log=str(log),
        )
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    async with start_control(wrapper, dolthub_api_url=world.api) as control:
        result = await control.run(
            K.OPERATION_KIND_CLAIM, token=ALICE, org="alice", wanted_id=target
        )

    assert f"claim {target} exit 0" in log.read_text().splitlines()  # wl said "✓ Claimed"
    assert result.status == K.OPERATION_STATUS_FAILED
    assert result.error_code == "ABORTED"
    assert "already claimed" in result.error


# --------------------------------------------------------------------------- done, unclaim


async def test_done_by_someone_else_fails_and_by_the_claimer_succeeds(
    control: Control, world: World
) -> None:
    target = world.items["done"]
    claimed = await control.run(K.OPERATION_KIND_CLAIM, token=ALICE, org="alice", wanted_id=target)
    assert claimed.status == K.OPERATION_STATUS_SUCCEEDED, claimed.error
    evidence = "https://github.com/example/repo/pull/42"

    by_bob = await control.run(
        K.OPERATION_KIND_DONE, token=BOB, org="bob", wanted_id=target, evidence=evidence
    )
    assert by_bob.status == K.OPERATION_STATUS_FAILED
    assert by_bob.error_code == "FAILED_PRECONDITION"
    assert by_bob.error == "not claimed by you"

    by_alice = await control.run(
        K.OPERATION_KIND_DONE, token=ALICE, org="alice", wanted_id=target, evidence=evidence
    )
    assert by_alice.status == K.OPERATION_STATUS_SUCCEEDED, by_alice.error
    assert by_alice.item.status == "in_review"
    assert by_alice.item.evidence_url == evidence
    row = await read_row(world, ALICE, "alice", f"wl/alice/{target}", target)
    assert row is not None
    assert (row["status"], row["evidence_url"]) == ("in_review", evidence)


async def test_unclaim_puts_the_item_back(control: Control, world: World) -> None:
    target = world.items["unclaim"]
    claimed = await control.run(K.OPERATION_KIND_CLAIM, token=ALICE, org="alice", wanted_id=target)
    assert claimed.status == K.OPERATION_STATUS_SUCCEEDED, claimed.error

    by_bob = await control.run(K.OPERATION_KIND_UNCLAIM, token=BOB, org="bob", wanted_id=target)
    assert by_bob.status == K.OPERATION_STATUS_FAILED
    assert by_bob.error_code in ("FAILED_PRECONDITION", "PERMISSION_DENIED")

    result = await control.run(K.OPERATION_KIND_UNCLAIM, token=ALICE, org="alice", wanted_id=target)
    assert result.status == K.OPERATION_STATUS_SUCCEEDED, result.error
    assert result.item.status == "open"


# --------------------------------------------------------------------------- post, join, sync


async def test_post_reports_the_new_item(control: Control, world: World) -> None:
    title = f"Posted by the control tests {uuid.uuid4().hex[:6]}"
    result = await control.run(
        K.OPERATION_KIND_POST,
        token=ALICE,
        org="alice",
        title=title,
        description="with 'quotes' and \\ backslashes",
        type="docs",
        priority=1,
        effort_level="small",
        tags=["docs", "control"],
    )
    assert result.status == K.OPERATION_STATUS_SUCCEEDED, result.error
    new_id = result.wanted_id
    assert output.parse(f"✓ Posted wanted item: {new_id}").posted_id == new_id
    assert new_id.startswith("w-")
    assert result.item.title == title
    assert result.item.status == "open"
    assert result.item.posted_by == "alice"
    assert result.item.priority == 1
    row = await read_row(world, ALICE, "alice", f"wl/alice/{new_id}", new_id)
    assert row is not None
    assert row["status"] == "open"


async def test_join_and_sync(control: Control, world: World) -> None:
    joined = await control.run(
        K.OPERATION_KIND_JOIN, token=BOB, org="bob", display_name="Bob the Builder"
    )
    assert joined.status == K.OPERATION_STATUS_SUCCEEDED, joined.error
    assert joined.rig_handle == "bob"
    async with world.client(BOB) as client:
        assert await client.database_exists("bob", UP_DB)
    again = await control.run(K.OPERATION_KIND_JOIN, token=BOB, org="bob")
    assert again.status == K.OPERATION_STATUS_SUCCEEDED, again.error

    assert list((await control.info()).joined_rigs) == ["bob"]
    assert os.environ.get("DOLTHUB_TOKEN") != BOB

    # Without the wasteland's upstream credential a sync cannot sync: it says so.
    refused = await control.run(K.OPERATION_KIND_SYNC, token=BOB, org="bob")
    assert refused.status == K.OPERATION_STATUS_FAILED
    assert refused.error_code == "FAILED_PRECONDITION"
    assert "upstream credential" in refused.error

    # The commons moves on after bob forked: his fork lags until a sync.
    newer = f"w-ctl-newer-{uuid.uuid4().hex[:6]}"
    await _commit_item(world, newer, "open", None)
    assert await read_row(world, BOB, "bob", "main", newer) is None
    synced = await control.run(K.OPERATION_KIND_SYNC, token=BOB, org="bob", upstream_token=HOP)
    assert synced.status == K.OPERATION_STATUS_SUCCEEDED, synced.error
    assert synced.fork_sync.HasField("fork_behind_before")
    assert synced.fork_sync.fork_behind_before is True
    assert synced.fork_sync.fork_behind_after is False
    assert "/pulls/" in synced.fork_sync.pull_request_url
    assert await read_row(world, BOB, "bob", "main", newer) is not None
    async with world.client(BOB) as client:
        pull_id = synced.fork_sync.pull_request_url.rsplit("/", 1)[-1]
        assert (await client.get_pull("bob", UP_DB, pull_id)).state == "merged"

    # A second sync finds nothing to do and says so.
    again = await control.run(K.OPERATION_KIND_SYNC, token=BOB, org="bob", upstream_token=HOP)
    assert again.status == K.OPERATION_STATUS_SUCCEEDED, again.error
    assert again.fork_sync.fork_behind_before is False
    assert again.fork_sync.pull_request_url == ""


# --------------------------------------------------------------------------- review


@pytest.mark.parametrize(
    ("kind", "purpose", "args", "after"),
    [
        (
            K.OPERATION_KIND_ACCEPT,
            "accept",
            {"quality": 4, "severity": "branch", "skill_tags": ["python"], "message": "nice"},
            "completed",
        ),
        (K.OPERATION_KIND_REJECT, "reject", {"reason": "needs tests"}, "claimed"),
        (K.OPERATION_KIND_CLOSE, "close", {}, "completed"),
    ],
)
async def test_the_upstream_maintainer_reviews_a_completion(
    control: Control,
    world: World,
    kind: common_pb2.OperationKind,
    purpose: str,
    args: dict[str, Any],
    after: str,
) -> None:
    """The commons owner acts as rig "hop" whose fork is the commons itself, so its main is
    never stale and a review of an item in review upstream really happens."""
    target = world.items[purpose]
    if kind == K.OPERATION_KIND_CLOSE:
        # Neither the poster nor a maintainer: refused after reading who posted it.
        by_bob = await control.run(kind, token=BOB, org="bob", wanted_id=target)
        assert by_bob.status == K.OPERATION_STATUS_FAILED
        assert by_bob.error_code == "PERMISSION_DENIED"

    result = await control.run(
        kind, token=HOP, org="hop", wanted_id=target, role=K.MEMBER_ROLE_MAINTAINER, **args
    )

    assert result.status == K.OPERATION_STATUS_SUCCEEDED, result.error
    assert result.item.status == after
    row = await read_row(world, HOP, UP_OWNER, f"wl/hop/{target}", target)
    assert row is not None
    assert row["status"] == after


# --------------------------------------------------------------------------- request counts


async def _stats(world: World, owner: str) -> int:
    async with httpx.AsyncClient(base_url=world.root) as http:
        reply = await http.get("/_sandbox/stats", params={"owner": owner, "db": UP_DB})
        reply.raise_for_status()
        total = reply.json()["total"]
    assert isinstance(total, int)
    return total


async def test_a_fork_seen_current_costs_one_upstream_read(control: Control, world: World) -> None:
    joined = await control.run(K.OPERATION_KIND_JOIN, token=ALICE, org="alice")
    assert joined.status == K.OPERATION_STATUS_SUCCEEDED, joined.error
    commons, rig = Commons(owner=UP_OWNER, db=UP_DB), Rig(handle="alice", org="alice", token=ALICE)
    known = forks.CurrentForks()
    async with world.client(ALICE) as client, world.client(HOP) as upstream:
        # Earlier tests may have moved the upstream: the first check syncs when it must.
        first = await forks.bring_up_to_date(
            client, upstream, commons, rig, details=PullDetails(), known=known
        )
        assert isinstance(first, forks.SyncOutcome)
        assert first.behind_after is False
        fork_before, upstream_before = await _stats(world, "alice"), await _stats(world, UP_OWNER)

        again = await forks.bring_up_to_date(
            client, None, commons, rig, details=PullDetails(), known=known
        )

        assert again == forks.SyncOutcome(behind_before=False, behind_after=False)
        assert await _stats(world, "alice") == fork_before  # the fork is not read again
        assert await _stats(world, UP_OWNER) == upstream_before + 1  # only the upstream head
        # Once the upstream moves, the fork is compared again.
        await _commit_item(world, f"w-ctl-moved-{uuid.uuid4().hex[:6]}", "open", None)
        moved = await forks.bring_up_to_date(
            client, None, commons, rig, details=PullDetails(), known=known
        )
        assert isinstance(moved, Refusal)  # behind, and no upstream credential
        assert moved.message == forks.NEEDS_UPSTREAM_CREDENTIAL
