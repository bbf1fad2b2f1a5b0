"""No success without a landed change: the control server with the real `wl` (the
stand-in only where Go is missing) against a real DoltHub sandbox process.

Covers fork currency (an action on a lagging fork syncs first, or is refused naming the
fix), landing (a branch `wl` left without a pull request gets one), re-submitting `done`
after a reject, and transient DoltHub failures around `wl` (retried when nothing was
written, never repeated when the write already landed).
"""

from __future__ import annotations

import asyncio
import json
import stat
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from wasteland.v1 import common_pb2
from wasteland_common.dolthub import DoltHubClient, NotFound, PollPolicy, bind
from wasteland_common.dolthub.pulls import pull_id_in

from tests.support.sandbox import ALICE_TOKEN, BOB_TOKEN, HOP_TOKEN, api_url, start_sandbox
from tests.support.wl import best_wl

from .conftest import Control, StartControl

pytestmark = [pytest.mark.integration]

K = common_pb2
UP_OWNER, UP_DB = "hop", "wl-commons"
FAST_POLL = PollPolicy(initial=0.02, maximum=0.2, timeout=30.0)
PURPOSES = ("first", "reject", "noprlater", "after-write", "before-write", "down")


@dataclass(frozen=True)
class World:
    api: str
    items: dict[str, str]
    wl: Path

    def client(self, token: str) -> DoltHubClient:
        return DoltHubClient(self.api, token=token, poll=FAST_POLL)


def _item_sql(wanted_id: str, title: str) -> str:
    return bind(
        "INSERT INTO wanted (id, title, description, type, priority, posted_by, status,"
        " effort_level, created_at, updated_at)"
        " VALUES (?, ?, 'seeded by tests', 'feature', 2, 'hop', 'open', 'small', NOW(), NOW())",
        wanted_id,
        title,
    )


async def post_upstream(world: World, wanted_id: str, title: str) -> None:
    """The commons owner puts an open item straight on upstream main."""
    async with world.client(HOP_TOKEN) as hop:
        await hop.write(UP_OWNER, UP_DB, "main", "main", _item_sql(wanted_id, title))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A sandbox whose upstream has this module's items before any rig forks it."""
    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as proc:
        api = api_url(proc)
        run = uuid.uuid4().hex[:6]
        items = {p: f"w-land-{p}-{run}" for p in PURPOSES}

        async def seed() -> None:
            async with DoltHubClient(api, token=HOP_TOKEN, poll=FAST_POLL) as hop:
                for purpose, wanted_id in items.items():
                    sql = _item_sql(wanted_id, f"Landing test: {purpose}")
                    await hop.write(UP_OWNER, UP_DB, "main", "main", sql)

        asyncio.run(seed())
        yield World(api=api, items=items, wl=best_wl(api))


@pytest.fixture
async def control(start_control: StartControl, world: World) -> AsyncIterator[Control]:
    async with start_control(world.wl, dolthub_api_url=world.api) as running:
        yield running


async def wanted_row(
    world: World, owner: str, ref: str, wanted_id: str
) -> dict[str, str | None] | None:
    """The item's row at ``owner/wl-commons@ref`` (None without the row or the branch)."""
    async with world.client(HOP_TOKEN) as client:
        try:
            result = await client.read(
                owner,
                UP_DB,
                bind("SELECT status, claimed_by FROM wanted WHERE id = ?", wanted_id),
                ref=ref,
            )
        except NotFound:
            return None
    return result.rows[0] if result.rows else None


async def assert_landed(world: World, result: common_pb2.OperationResult, owner: str) -> str:
    """The result names an open upstream pull request from ``owner``'s branch that holds
    the item in the result's status; returns the pull id."""
    assert result.status == K.OPERATION_STATUS_SUCCEEDED, result.error
    pull_id = pull_id_in(result.pull_request_url)
    assert pull_id is not None, result.pull_request_url
    async with world.client(HOP_TOKEN) as client:
        pull = await client.get_pull(UP_OWNER, UP_DB, pull_id)
    assert pull.state == "open"
    assert (pull.from_owner, pull.from_branch) == (owner, result.branch)
    row = await wanted_row(world, owner, result.branch, result.wanted_id)
    assert row is not None
    assert (row["status"], row["claimed_by"]) == (result.item.status, result.item.claimed_by)
    return pull_id


async def merge_upstream(world: World, pull_request_url: str) -> None:
    """The commons owner merges a pull request on DoltHub."""
    pull_id = pull_id_in(pull_request_url)
    assert pull_id is not None
    async with world.client(HOP_TOKEN) as hop:
        await hop.merge_pull(UP_OWNER, UP_DB, pull_id)


# A `wl` that misbehaves on one command as a plan file says, and logs every invocation:
#   "fail-before": answer like a DoltHub 503 without running wl;
#   "fail-after": run wl, then answer like a 503 at the pull-request step;
#   "close-pr": run wl, then close the pull request it opened (as if it never did).
WRAPPER = """\
#!{python}
import json, os, re, subprocess, sys, urllib.request
PLAN, REAL, LOG, API, HOP = {plan!r}, {real!r}, {log!r}, {api!r}, {hop!r}
args = sys.argv[1:]
plan = json.load(open(PLAN)) if os.path.exists(PLAN) else {{}}
key = " ".join(args[:2])
steps = plan.get(key, [])
step = steps.pop(0) if steps else "run"
json.dump(plan, open(PLAN, "w"))
with open(LOG, "a") as f:
    f.write(key + " " + step + "\\n")
if step == "fail-before":
    sys.stderr.write("wl: claiming: HTTP 503: Service Unavailable\\n")
    sys.exit(1)
proc = subprocess.run([REAL, *args], capture_output=True, text=True)
if step == "fail-after":
    sys.stderr.write("wl: creating DoltHub PR: HTTP 503: Service Unavailable\\n")
    sys.exit(1)
if step == "close-pr":
    m = re.search(r"PR: \\S+/pulls/(\\d+)", proc.stdout)
    if m:
        req = urllib.request.Request(
            API + "/hop/wl-commons/pulls/" + m.group(1), method="PATCH",
            data=json.dumps({{"state": "closed"}}).encode(),
            headers={{"authorization": "token " + HOP, "content-type": "application/json"}})
        urllib.request.urlopen(req).read()
sys.stdout.write(proc.stdout)
sys.stderr.write(proc.stderr)
sys.exit(proc.returncode)
"""


@dataclass(frozen=True)
class Wrapped:
    binary: Path
    plan: Path
    log: Path

    def expect(self, command: str, *steps: str) -> None:
        plan = json.loads(self.plan.read_text()) if self.plan.exists() else {}
        plan[command] = list(steps)
        self.plan.write_text(json.dumps(plan))

    def calls(self, command: str) -> list[str]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [line.rsplit(" ", 1)[1] for line in lines if line.startswith(command + " ")]


@pytest.fixture
def wrapped(world: World, tmp_path: Path) -> Wrapped:
    plan, log, binary = tmp_path / "plan.json", tmp_path / "calls.log", tmp_path / "wl"
    binary.write_text(
        WRAPPER.format(
            python=sys.executable,
            plan=str(plan),
            real=str(world.wl),
            log=str(log),
            api=world.api,
            hop=HOP_TOKEN,
        )
    )
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return Wrapped(binary, plan, log)


# --------------------------------------------------------------------------- fork currency


async def test_an_action_on_a_lagging_fork_syncs_first_or_names_the_fix(
    control: Control, world: World
) -> None:
    first = await control.run(
        K.OPERATION_KIND_CLAIM, token=ALICE_TOKEN, org="alice", wanted_id=world.items["first"]
    )
    await assert_landed(world, first, "alice")
    # Posted upstream after alice forked: her fork's main does not have it.
    later = f"w-land-later-{uuid.uuid4().hex[:6]}"
    await post_upstream(world, later, "Landing test: posted after the fork")
    assert await wanted_row(world, "alice", "main", later) is None

    refused = await control.run(
        K.OPERATION_KIND_CLAIM, token=ALICE_TOKEN, org="alice", wanted_id=later
    )
    assert refused.status == K.OPERATION_STATUS_FAILED
    assert refused.error_code == "FAILED_PRECONDITION"
    assert "upstream-credential" in refused.error
    assert await wanted_row(world, "alice", f"wl/alice/{later}", later) is None

    claimed = await control.run(
        K.OPERATION_KIND_CLAIM,
        token=ALICE_TOKEN,
        org="alice",
        wanted_id=later,
        upstream_token=HOP_TOKEN,
    )
    await assert_landed(world, claimed, "alice")
    assert (claimed.item.status, claimed.item.claimed_by) == ("claimed", "alice")
    assert claimed.fork_sync.fork_behind_before is True
    assert claimed.fork_sync.fork_behind_after is False
    assert await wanted_row(world, "alice", "main", later) is not None  # the fork caught up


async def test_done_after_a_reject_opens_a_new_pull_request(control: Control, world: World) -> None:
    target = world.items["reject"]
    evidence = "https://example.com/pull/7"
    claimed = await control.run(
        K.OPERATION_KIND_CLAIM, token=BOB_TOKEN, org="bob", wanted_id=target
    )
    await assert_landed(world, claimed, "bob")
    submitted = await control.run(
        K.OPERATION_KIND_DONE, token=BOB_TOKEN, org="bob", wanted_id=target, evidence=evidence
    )
    first_pull = await assert_landed(world, submitted, "bob")
    assert submitted.item.status == "in_review"
    assert submitted.pull_request_url == claimed.pull_request_url  # one branch, one PR
    await merge_upstream(world, submitted.pull_request_url)

    rejected = await control.run(
        K.OPERATION_KIND_REJECT,
        token=HOP_TOKEN,
        org="hop",
        wanted_id=target,
        role=K.MEMBER_ROLE_MAINTAINER,
        reason="needs tests",
    )
    await assert_landed(world, rejected, "hop")
    await merge_upstream(world, rejected.pull_request_url)
    upstream = await wanted_row(world, UP_OWNER, "main", target)
    assert upstream is not None
    assert (upstream["status"], upstream["claimed_by"]) == ("claimed", "bob")

    # bob's fork still shows the item open and his old branch is merged: without a way to
    # sync, a second done could only be a silent no-op, so it is refused naming the fix.
    refused = await control.run(
        K.OPERATION_KIND_DONE, token=BOB_TOKEN, org="bob", wanted_id=target, evidence=evidence
    )
    assert refused.status == K.OPERATION_STATUS_FAILED
    assert refused.error_code == "FAILED_PRECONDITION"
    assert "upstream-credential" in refused.error

    again = await control.run(
        K.OPERATION_KIND_DONE,
        token=BOB_TOKEN,
        org="bob",
        wanted_id=target,
        evidence=evidence + "?v=2",
        upstream_token=HOP_TOKEN,
    )
    second_pull = await assert_landed(world, again, "bob")
    assert again.item.status == "in_review"
    assert second_pull != first_pull
    assert again.fork_sync.fork_behind_before is True


# --------------------------------------------------------------------------- landing


async def test_a_branch_left_without_a_pull_request_gets_one(
    start_control: StartControl, world: World, wrapped: Wrapped
) -> None:
    target = world.items["noprlater"]
    wrapped.expect(f"claim {target}", "close-pr")
    async with start_control(wrapped.binary, dolthub_api_url=world.api) as control:
        result = await control.run(
            K.OPERATION_KIND_CLAIM, token=ALICE_TOKEN, org="alice", wanted_id=target
        )
    pull_id = await assert_landed(world, result, "alice")
    assert wrapped.calls(f"claim {target}") == ["close-pr"]
    async with world.client(HOP_TOKEN) as client:
        pull = await client.get_pull(UP_OWNER, UP_DB, pull_id)
        states = {s.pull_id: s.state for s in await client.list_pulls(UP_OWNER, UP_DB)}
    # wl's own pull request was closed behind its back; the one reported is a new one
    # with the title and body wl would have written.
    assert pull.title == "[wl] Landing test: noprlater"
    assert "## wanted" in pull.description
    assert target in pull.description
    assert sorted(states.values()).count("closed") >= 1


async def test_a_transient_failure_after_the_write_is_not_repeated(
    start_control: StartControl, world: World, wrapped: Wrapped
) -> None:
    target = world.items["after-write"]
    wrapped.expect(f"claim {target}", "fail-after")
    async with start_control(wrapped.binary, dolthub_api_url=world.api) as control:
        result = await control.run(
            K.OPERATION_KIND_CLAIM, token=ALICE_TOKEN, org="alice", wanted_id=target
        )
    await assert_landed(world, result, "alice")
    assert wrapped.calls(f"claim {target}") == ["fail-after"]  # ran once, not again


async def test_a_transient_failure_before_the_write_is_retried(
    start_control: StartControl, world: World, wrapped: Wrapped
) -> None:
    target = world.items["before-write"]
    wrapped.expect(f"claim {target}", "fail-before", "fail-before")
    async with start_control(wrapped.binary, dolthub_api_url=world.api) as control:
        result = await control.run(
            K.OPERATION_KIND_CLAIM, token=ALICE_TOKEN, org="alice", wanted_id=target
        )
    await assert_landed(world, result, "alice")
    assert wrapped.calls(f"claim {target}") == ["fail-before", "fail-before", "run"]


async def test_a_lasting_outage_fails_cleanly_within_the_budget(
    start_control: StartControl, world: World, wrapped: Wrapped
) -> None:
    target = world.items["down"]
    wrapped.expect(f"claim {target}", *["fail-before"] * 50)
    env = {"ACTION_RETRY_BUDGET_SECONDS": "2"}
    async with start_control(wrapped.binary, dolthub_api_url=world.api, env=env) as control:
        result = await control.run(
            K.OPERATION_KIND_CLAIM, token=ALICE_TOKEN, org="alice", wanted_id=target
        )
    assert result.status == K.OPERATION_STATUS_FAILED
    assert result.error_code == "UNAVAILABLE"
    assert "exit" not in result.error
    assert "wl claim" not in result.error
    assert 2 <= len(wrapped.calls(f"claim {target}")) < 50
    assert await wanted_row(world, "alice", f"wl/alice/{target}", target) is None
