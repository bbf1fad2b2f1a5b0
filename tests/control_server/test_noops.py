"""Every silent no-op of `wl` in remote mode (protocol spec 5.5) that the control server's
operations can run into, and what the control server answers instead.

Each test shows two things about one situation:

1. the raw `wl` stand-in, run as a subprocess with exactly the environment the control
   server gives it, exits 0 and prints a ``✓`` line although nothing (or something
   unwanted) happened; where it exits 1 instead, the test says why;
2. RunOperation over a real gRPC socket returns a FAILED result with the right code and
   upstream ``main`` of the commons did not change.

The control server is asked first, so its answer never depends on what the raw run left
on DoltHub. One sandbox per module; every item is seeded on upstream main before any rig
forks, and each test works on its own items, so the tests may run in any order.
"""

from __future__ import annotations

import asyncio
import shutil
import stat
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from wasteland.v1 import common_pb2
from wasteland_common.dolthub import DoltHubClient, DoltHubError, PollPolicy, bind
from wl_control_server.rigs import Rig, rig_env
from wl_control_server.wl import WlRunner

from tests.support.sandbox import ALICE_TOKEN, BOB_TOKEN, HOP_TOKEN, api_url, start_sandbox
from tests.support.wl import best_wl

from .conftest import Control, StartControl

pytestmark = [pytest.mark.integration]

K = common_pb2
UP_OWNER, UP_DB = "hop", "wl-commons"
FAST_POLL = PollPolicy(initial=0.02, maximum=0.2, timeout=30.0)

ALICE = Rig(handle="alice", org="alice", token=ALICE_TOKEN)
BOB = Rig(handle="bob", org="bob", token=BOB_TOKEN)
# The commons owner: rig "hop" of user hop-maintainer, whose fork is the commons itself.
HOP = Rig(handle="hop", org="hop", token=HOP_TOKEN)

# purpose -> (status, claimed_by, completed_by) on upstream main before anyone forks.
# "carol" has no sandbox account: her claims and completions exist only as seeded rows.
ITEM_SPECS: dict[str, tuple[str, str | None, str | None]] = {
    "claimdone": ("completed", "carol", "carol"),
    "pending": ("open", None, None),
    "race": ("open", None, None),
    "notclaimer": ("claimed", "carol", None),
    "unclaimed": ("open", None, None),
    "unclaimopen": ("open", None, None),
    "unclaimother": ("claimed", "carol", None),
    "acceptdone": ("completed", "carol", "carol"),
    "acceptopen": ("open", None, None),
    "rejectdone": ("completed", "carol", "carol"),
    "rejectclaimed": ("claimed", "carol", None),
    "closeopen": ("open", None, None),
    "lostrace": ("open", None, None),
    "acceptrace": ("in_review", "carol", "carol"),
}


@dataclass(frozen=True)
class World:
    """A seeded sandbox, this module's item ids, and ``wl`` configs of joined rigs."""

    api: str
    items: dict[str, str]
    rigs_dir: Path  # <work_dir>/rigs of a workload on which every rig has joined
    wl: Path  # the real wl built for this sandbox (the stand-in where Go is missing)

    def client(self, token: str) -> DoltHubClient:
        return DoltHubClient(self.api, token=token, poll=FAST_POLL)

    def install_rigs(self, work_dir: Path) -> None:
        """Give a fresh control server the `wl` configs of rigs that already joined (their
        forks and registrations are on DoltHub), so no test pays for `wl join` again."""
        shutil.copytree(self.rigs_dir, work_dir / "rigs", dirs_exist_ok=True)


def _seed_sql(
    wanted_id: str, status: str, claimed_by: str | None, completed_by: str | None
) -> list[str]:
    statements = [
        bind(
            "INSERT INTO wanted (id, title, description, type, priority, posted_by, claimed_by,"
            " status, effort_level, created_at, updated_at) VALUES (?, ?, 'seeded by the no-op"
            " tests', 'feature', 2, 'hop', ?, ?, 'small', NOW(), NOW())",
            wanted_id,
            "No-op test: " + wanted_id,
            claimed_by,
            status,
        )
    ]
    if completed_by is not None:
        statements.append(
            bind(
                "INSERT INTO completions (id, wanted_id, completed_by, evidence, completed_at)"
                " VALUES (?, ?, ?, 'https://example.com/pr/9', NOW())",
                "c-" + wanted_id.removeprefix("w-"),
                wanted_id,
                completed_by,
            )
        )
    return statements


async def _commit_upstream(api: str, statements: list[str]) -> None:
    """The commons owner writes straight to upstream main."""
    async with DoltHubClient(api, token=HOP_TOKEN, poll=FAST_POLL) as hop:
        for sql in statements:
            await hop.write(UP_OWNER, UP_DB, "main", "main", sql)


async def _join_all(api: str, wl: Path, work_dir: Path) -> None:
    runner = WlRunner(str(wl), dolthub_api_url=api)
    for rig in (ALICE, BOB, HOP):
        args = ["join", f"{UP_OWNER}/{UP_DB}", f"--handle={rig.handle}", f"--fork-org={rig.org}"]
        run = await runner.run(args, rig_env(work_dir, rig), limit_seconds=120)
        assert run.ok, run.stderr


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A DoltHub sandbox subprocess with this module's items on upstream main, then every
    rig forked and registered."""
    root = tmp_path_factory.mktemp("noops")
    with start_sandbox(root / "sandbox") as proc:
        api = api_url(proc)
        run = uuid.uuid4().hex[:6]
        items = {purpose: f"w-noop-{purpose}-{run}" for purpose in ITEM_SPECS}
        statements = [
            sql for purpose, spec in ITEM_SPECS.items() for sql in _seed_sql(items[purpose], *spec)
        ]
        asyncio.run(_commit_upstream(api, statements))
        wl = best_wl(api)
        asyncio.run(_join_all(api, wl, root / "joined"))
        yield World(api=api, items=items, rigs_dir=root / "joined" / "rigs", wl=wl)


@pytest.fixture
async def control(start_control: StartControl, world: World) -> AsyncIterator[Control]:
    async with start_control(world.wl, dolthub_api_url=world.api) as running:
        world.install_rigs(running.work_dir)
        yield running


# --------------------------------------------------------------------------- helpers


async def raw_wl(
    world: World, work_dir: Path, rig: Rig, *args: str
) -> subprocess.CompletedProcess[str]:
    """``wl <args>`` as ``rig``, with the environment and working directory the control
    server uses for it, bypassing every check of the control server."""
    env = rig_env(work_dir, rig)
    environment = WlRunner(str(world.wl), dolthub_api_url=world.api).environment(env)
    return await asyncio.to_thread(
        subprocess.run,
        [str(world.wl), *args],
        env=environment,
        cwd=env.rig_dir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


Snapshot = tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]


async def upstream_state(world: World, wanted_id: str) -> Snapshot:
    """The item's wanted row, completions and their stamps on upstream main."""
    async with world.client(HOP_TOKEN) as client:
        wanted = await client.read(
            UP_OWNER, UP_DB, bind("SELECT * FROM wanted WHERE id = ?", wanted_id)
        )
        completions = await client.read(
            UP_OWNER, UP_DB, bind("SELECT * FROM completions WHERE wanted_id = ?", wanted_id)
        )
        stamps = await client.read(UP_OWNER, UP_DB, "SELECT * FROM stamps")
    context_ids = {row["id"] for row in completions.rows}
    return (
        [dict(r) for r in wanted.rows],
        [dict(r) for r in completions.rows],
        [dict(r) for r in stamps.rows if r.get("context_id") in context_ids],
    )


async def fork_branches(world: World, rig: Rig) -> list[str]:
    async with world.client(rig.token) as client:
        try:
            return await client.list_branches(rig.org, UP_DB)
        except DoltHubError:
            return []


async def branch_row(world: World, rig: Rig, wanted_id: str) -> dict[str, str | None] | None:
    """The item on the rig's branch ``wl/<rig>/<id>``; None without branch or row."""
    if rig.branch(wanted_id) not in await fork_branches(world, rig):
        return None
    async with world.client(rig.token) as client:
        result = await client.read(
            rig.org,
            UP_DB,
            bind("SELECT status, claimed_by FROM wanted WHERE id = ?", wanted_id),
            ref=rig.branch(wanted_id),
        )
    return result.rows[0] if result.rows else None


async def open_pulls_from(world: World, rig: Rig, wanted_id: str) -> list[str]:
    """Ids of the open upstream PRs from the rig's branch for the item."""
    async with world.client(HOP_TOKEN) as client:
        found = []
        for summary in await client.list_pulls(UP_OWNER, UP_DB):
            pull = await client.get_pull(UP_OWNER, UP_DB, summary.pull_id)
            if pull.state == "open" and (pull.from_owner, pull.from_branch) == (
                rig.org,
                rig.branch(wanted_id),
            ):
                found.append(pull.pull_id)
        return found


def assert_failed(result: common_pb2.OperationResult, code: str, message: str) -> None:
    assert result.status == K.OPERATION_STATUS_FAILED, result
    assert result.error_code == code, result
    assert message in result.error, result
    assert not result.HasField("item")


def assert_silent_success(run: subprocess.CompletedProcess[str], verb: str, wanted_id: str) -> str:
    """`wl` exited 0 with its ``✓ <Verb> <id>`` line; returns the ``Status:`` it printed."""
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"✓ {verb} {wanted_id}\n"), run.stdout
    statuses = [
        line.split(":", 1)[1].strip()
        for line in run.stdout.splitlines()
        if line.startswith("  Status:")
    ]
    assert len(statuses) == 1, run.stdout
    return statuses[0]


# --------------------------------------------------------------------------- claim


async def test_claim_of_an_item_that_is_not_open_upstream(control: Control, world: World) -> None:
    target = world.items["claimdone"]
    before = await upstream_state(world, target)

    result = await control.run(
        K.OPERATION_KIND_CLAIM, token=ALICE_TOKEN, org="alice", wanted_id=target
    )

    assert_failed(result, "ABORTED", "already claimed: the item is completed")
    assert ALICE.branch(target) not in await fork_branches(world, ALICE)  # wl never ran
    raw = await raw_wl(world, control.work_dir, ALICE, "claim", target)
    # The guarded UPDATE matched nothing; wl prints the fork's state and cleans up.
    assert assert_silent_success(raw, "Claimed", target) == "completed"
    assert "  Claimed by: alice\n" in raw.stdout
    assert "reverted — branch cleaned up" in raw.stdout
    assert await upstream_state(world, target) == before


async def test_claim_of_an_item_missing_upstream_is_not_found(
    control: Control, world: World
) -> None:
    target = f"w-noop-missing-{uuid.uuid4().hex[:6]}"

    result = await control.run(
        K.OPERATION_KIND_CLAIM, token=ALICE_TOKEN, org="alice", wanted_id=target
    )

    assert_failed(result, "NOT_FOUND", f"wanted item {target} not found")
    # Not a silent no-op: wl resolves the id first and fails (exit 1).
    raw = await raw_wl(world, control.work_dir, ALICE, "claim", target)
    assert (raw.returncode, raw.stderr) == (1, f'wl: no wanted item matching "{target}"\n')


async def test_claim_of_an_item_with_another_rigs_pending_claim(
    control: Control, world: World
) -> None:
    target = world.items["pending"]
    by_bob = await control.run(K.OPERATION_KIND_CLAIM, token=BOB_TOKEN, org="bob", wanted_id=target)
    assert by_bob.status == K.OPERATION_STATUS_SUCCEEDED, by_bob.error
    before = await upstream_state(world, target)

    result = await control.run(
        K.OPERATION_KIND_CLAIM, token=ALICE_TOKEN, org="alice", wanted_id=target
    )

    assert_failed(result, "ABORTED", "already claimed (pending claim by bob)")
    assert ALICE.branch(target) not in await fork_branches(world, ALICE)
    # wl itself happily proposes a second, competing claim: exit 0 and "claimed".
    raw = await raw_wl(world, control.work_dir, ALICE, "claim", target)
    assert assert_silent_success(raw, "Claimed", target) == "claimed"
    assert len(await open_pulls_from(world, ALICE, target)) == 1
    assert len(await open_pulls_from(world, BOB, target)) == 1
    assert await upstream_state(world, target) == before


RACE_WRAPPER = """\
#!{python}
# The stand-in, except that one upstream change lands just before `wl <trigger>` runs
# (after the control server's pre-check). Records that run's exit code and stdout.
import asyncio, subprocess, sys
from wasteland_common.dolthub import DoltHubClient, PollPolicy

API, TRIGGER, SQL, HOP, REAL, LOG = {api!r}, {trigger!r}, {sql!r}, {hop!r}, {real!r}, {log!r}
args = sys.argv[1:]

async def change_upstream() -> None:
    async with DoltHubClient(API, token=HOP, poll=PollPolicy(0.02, 0.2, 30.0)) as hop:
        await hop.write("hop", "wl-commons", "main", "main", SQL)

if args[:2] == TRIGGER:
    asyncio.run(change_upstream())
proc = subprocess.run([REAL, *args], capture_output=True, text=True)
sys.stdout.write(proc.stdout)
sys.stderr.write(proc.stderr)
if args[:2] == TRIGGER:
    with open(LOG, "w") as f:
        f.write(str(proc.returncode) + "\\n" + proc.stdout)
sys.exit(proc.returncode)
"""


def race_wrapper(tmp_path: Path, world: World, trigger: list[str], sql: str) -> tuple[Path, Path]:
    """A `wl` executable that lets ``sql`` land on upstream main right before ``wl
    <trigger>``; returns it and the log of that run."""
    log = tmp_path / "wl-trigger.log"
    wrapper = tmp_path / "wl-race"
    wrapper.write_text(
        RACE_WRAPPER.format(
            python=sys.executable,
            api=world.api,
            trigger=trigger,
            sql=sql,
            hop=HOP_TOKEN,
            real=str(world.wl),
            log=str(log),
        )
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper, log


def logged_run(log: Path) -> subprocess.CompletedProcess[str]:
    code, _, stdout = log.read_text().partition("\n")
    return subprocess.CompletedProcess(["wl"], int(code), stdout, "")


async def test_claim_that_loses_the_race_to_an_upstream_merge(
    start_control: StartControl, world: World, tmp_path: Path
) -> None:
    """Unlike the race in test_integration, alice's fork stays behind: her claim really
    lands on her branch, and only upstream shows that it can never merge."""
    target = world.items["race"]
    wrapper, log = race_wrapper(
        tmp_path,
        world,
        ["claim", target],
        bind("UPDATE wanted SET status = 'claimed', claimed_by = 'bob' WHERE id = ?", target),
    )

    async with start_control(wrapper, dolthub_api_url=world.api) as control:
        world.install_rigs(control.work_dir)
        result = await control.run(
            K.OPERATION_KIND_CLAIM, token=ALICE_TOKEN, org="alice", wanted_id=target
        )

    assert assert_silent_success(logged_run(log), "Claimed", target) == "claimed"
    assert_failed(result, "ABORTED", "already claimed: the item is claimed")
    assert await branch_row(world, ALICE, target) == {"status": "claimed", "claimed_by": "alice"}
    (wanted,), _, _ = await upstream_state(world, target)
    assert (wanted["status"], wanted["claimed_by"]) == ("claimed", "bob")  # the winner only


async def test_claim_on_a_fork_made_before_the_item_was_posted(
    control: Control, world: World
) -> None:
    """Spec 5.5 A: the fork's main lacks the item, so the claim cannot land anywhere. With
    no upstream credential to sync the fork, the control server refuses before running wl
    and names the fix."""
    target = f"w-noop-stale-{uuid.uuid4().hex[:6]}"
    await _commit_upstream(world.api, _seed_sql(target, "open", None, None))
    before = await upstream_state(world, target)

    result = await control.run(
        K.OPERATION_KIND_CLAIM, token=ALICE_TOKEN, org="alice", wanted_id=target
    )

    assert_failed(result, "FAILED_PRECONDITION", "your DoltHub fork is behind the upstream")
    assert "upstream-credential" in result.error
    assert await branch_row(world, ALICE, target) is None
    raw = await raw_wl(world, control.work_dir, ALICE, "claim", target)
    assert assert_silent_success(raw, "Claimed", target) == "open"
    assert "  Claimed by: alice\n" in raw.stdout  # printed from the config, not read back
    assert "PR creation failed" in raw.stdout
    assert await branch_row(world, ALICE, target) is None
    assert await open_pulls_from(world, ALICE, target) == []
    assert await upstream_state(world, target) == before


# --------------------------------------------------------------------------- done


async def test_done_by_a_rig_that_is_not_the_claimer(control: Control, world: World) -> None:
    target = world.items["notclaimer"]  # claimed by carol upstream and on every fork
    before = await upstream_state(world, target)
    evidence = "https://example.com/pull/1"

    result = await control.run(
        K.OPERATION_KIND_DONE, token=BOB_TOKEN, org="bob", wanted_id=target, evidence=evidence
    )

    assert_failed(result, "FAILED_PRECONDITION", "not claimed by you")
    assert BOB.branch(target) not in await fork_branches(world, BOB)
    # done is two writes. The guarded UPDATE changes nothing, so DoltHub creates no branch
    # and the second write (from the branch) fails: exit 1 here, not a silent success.
    raw = await raw_wl(world, control.work_dir, BOB, "done", target, f"--evidence={evidence}")
    assert raw.returncode == 1, raw.stdout
    assert raw.stderr == f"wl: write operation failed: branch not found: {BOB.branch(target)}\n"
    # Once the rig has a branch for the item (here: wl's unguarded unclaim), done is silent.
    unclaim = await raw_wl(world, control.work_dir, BOB, "unclaim", target)
    assert unclaim.returncode == 0, unclaim.stderr
    raw = await raw_wl(world, control.work_dir, BOB, "done", target, f"--evidence={evidence}")
    assert assert_silent_success(raw, "Completion submitted for", target) == "open"
    assert f"  Completed by: bob\n  Evidence: {evidence}\n" in raw.stdout
    assert await upstream_state(world, target) == before


async def test_done_of_an_item_nobody_claimed(control: Control, world: World) -> None:
    upstream_open = world.items["unclaimed"]
    before = await upstream_state(world, upstream_open)
    posted = await control.run(
        K.OPERATION_KIND_POST, token=ALICE_TOKEN, org="alice", title="No-op test: never claimed"
    )
    assert posted.status == K.OPERATION_STATUS_SUCCEEDED, posted.error
    evidence = "https://example.com/pull/2"

    for target in (upstream_open, posted.wanted_id):
        result = await control.run(
            K.OPERATION_KIND_DONE,
            token=ALICE_TOKEN,
            org="alice",
            wanted_id=target,
            evidence=evidence,
        )
        assert_failed(result, "FAILED_PRECONDITION", "not claimed by you")

    # On its own (branch-only) open item, wl's done matches nothing and exits 0.
    raw = await raw_wl(
        world, control.work_dir, ALICE, "done", posted.wanted_id, f"--evidence={evidence}"
    )
    assert assert_silent_success(raw, "Completion submitted for", posted.wanted_id) == "open"
    assert await branch_row(world, ALICE, posted.wanted_id) == {
        "status": "open",
        "claimed_by": None,
    }
    # On an open upstream item the rig has no branch for, it exits 1 (see the test above).
    raw = await raw_wl(
        world, control.work_dir, ALICE, "done", upstream_open, f"--evidence={evidence}"
    )
    assert raw.returncode == 1
    assert "branch not found" in raw.stderr
    assert await upstream_state(world, upstream_open) == before


# --------------------------------------------------------------------------- unclaim


async def test_unclaim_of_an_item_that_is_not_claimed(control: Control, world: World) -> None:
    target = world.items["unclaimopen"]
    before = await upstream_state(world, target)

    result = await control.run(
        K.OPERATION_KIND_UNCLAIM, token=ALICE_TOKEN, org="alice", wanted_id=target
    )

    assert_failed(result, "FAILED_PRECONDITION", "the item is open, not claimed")
    assert ALICE.branch(target) not in await fork_branches(world, ALICE)
    # The printed status is exactly what a successful unclaim prints.
    raw = await raw_wl(world, control.work_dir, ALICE, "unclaim", target)
    assert assert_silent_success(raw, "Unclaimed", target) == "open"
    assert "reverted — branch cleaned up" in raw.stdout
    assert await upstream_state(world, target) == before


async def test_unclaim_by_neither_the_claimer_nor_a_maintainer(
    control: Control, world: World
) -> None:
    target = world.items["unclaimother"]  # claimed by carol
    before = await upstream_state(world, target)

    result = await control.run(
        K.OPERATION_KIND_UNCLAIM, token=BOB_TOKEN, org="bob", wanted_id=target
    )

    assert_failed(result, "PERMISSION_DENIED", "only the claimer or a maintainer may unclaim")
    assert BOB.branch(target) not in await fork_branches(world, BOB)
    # wl's UPDATE does not look at the claimer: bob's branch really un-claims carol's item
    # and a PR proposes it upstream.
    raw = await raw_wl(world, control.work_dir, BOB, "unclaim", target)
    assert assert_silent_success(raw, "Unclaimed", target) == "open"
    assert await branch_row(world, BOB, target) == {"status": "open", "claimed_by": None}
    assert len(await open_pulls_from(world, BOB, target)) == 1
    assert await upstream_state(world, target) == before


# --------------------------------------------------------------------------- accept, reject, close


async def test_accept_of_an_item_that_is_not_in_review(control: Control, world: World) -> None:
    completed, unfinished = world.items["acceptdone"], world.items["acceptopen"]
    before = await upstream_state(world, completed)

    for target, status in ((completed, "completed"), (unfinished, "open")):
        result = await control.run(
            K.OPERATION_KIND_ACCEPT,
            token=HOP_TOKEN,
            org="hop",
            wanted_id=target,
            role=K.MEMBER_ROLE_MAINTAINER,
            quality=5,
        )
        assert_failed(result, "FAILED_PRECONDITION", f"the item is {status}, not in_review")

    # A completed item has a completion, so wl inserts a second stamp on the branch, its
    # guarded status UPDATE matches nothing, and the branch is cleaned up: "completed"
    # looks exactly like a successful accept.
    raw = await raw_wl(world, control.work_dir, HOP, "accept", completed, "--quality=5")
    assert assert_silent_success(raw, "Accepted", completed) == "completed"
    assert "reverted — branch cleaned up" in raw.stdout
    # An item without a completion fails in wl (exit 1) before any write.
    raw = await raw_wl(world, control.work_dir, HOP, "accept", unfinished, "--quality=5")
    assert (raw.returncode, raw.stderr) == (
        1,
        f'wl: querying completion: no completion found for wanted item "{unfinished}"\n',
    )
    assert await upstream_state(world, completed) == before


async def test_reject_of_an_item_that_is_not_in_review(control: Control, world: World) -> None:
    completed, claimed = world.items["rejectdone"], world.items["rejectclaimed"]
    before = {t: await upstream_state(world, t) for t in (completed, claimed)}

    for target, status in ((completed, "completed"), (claimed, "claimed")):
        result = await control.run(
            K.OPERATION_KIND_REJECT,
            token=HOP_TOKEN,
            org="hop",
            wanted_id=target,
            role=K.MEMBER_ROLE_MAINTAINER,
            reason="not good enough",
        )
        assert_failed(result, "FAILED_PRECONDITION", f"the item is {status}, not in_review")

    # reject's DELETE of the completion is unguarded, so it writes a branch; the guarded
    # UPDATE then matches nothing and wl reports the completed item as "Rejected", exit 0.
    raw = await raw_wl(world, control.work_dir, HOP, "reject", completed, "--reason=no")
    assert assert_silent_success(raw, "Rejected", completed) == "completed"
    # Without a completion neither write changes anything: no branch, the second write
    # fails and wl exits 1 — although the status it would print, "claimed", is what a
    # successful reject prints.
    raw = await raw_wl(world, control.work_dir, HOP, "reject", claimed, "--reason=no")
    assert raw.returncode == 1
    assert "branch not found" in raw.stderr
    assert {t: await upstream_state(world, t) for t in (completed, claimed)} == before


async def test_close_of_an_item_that_is_not_in_review(control: Control, world: World) -> None:
    target = world.items["closeopen"]
    before = await upstream_state(world, target)

    result = await control.run(
        K.OPERATION_KIND_CLOSE,
        token=HOP_TOKEN,
        org="hop",
        wanted_id=target,
        role=K.MEMBER_ROLE_MAINTAINER,
    )

    assert_failed(result, "FAILED_PRECONDITION", "the item is open, not in_review")
    raw = await raw_wl(world, control.work_dir, HOP, "close", target)
    assert assert_silent_success(raw, "Closed", target) == "open"
    assert "reverted — branch cleaned up" in raw.stdout
    assert await upstream_state(world, target) == before


# --------------------------------------------------------------------------- races


async def test_done_after_losing_the_claim_race_upstream(control: Control, world: World) -> None:
    target = world.items["lostrace"]
    claimed = await control.run(
        K.OPERATION_KIND_CLAIM, token=BOB_TOKEN, org="bob", wanted_id=target
    )
    assert claimed.status == K.OPERATION_STATUS_SUCCEEDED, claimed.error
    # carol's claim is merged upstream first: bob's pending claim can never merge.
    await _commit_upstream(
        world.api,
        [bind("UPDATE wanted SET status = 'claimed', claimed_by = 'carol' WHERE id = ?", target)],
    )

    result = await control.run(
        K.OPERATION_KIND_DONE,
        token=BOB_TOKEN,
        org="bob",
        wanted_id=target,
        evidence="https://example.com/pull/3",
    )

    assert result.status == K.OPERATION_STATUS_FAILED, result
    assert result.error_code in ("ABORTED", "FAILED_PRECONDITION"), result


async def test_accept_that_races_an_upstream_close(
    start_control: StartControl, world: World, tmp_path: Path
) -> None:
    """The item is closed upstream after the pre-check: wl's stamp lands on a branch that
    wl then deletes ("reverted"), and no stamp exists anywhere."""
    target = world.items["acceptrace"]
    wrapper, log = race_wrapper(
        tmp_path,
        world,
        ["accept", target],
        bind("UPDATE wanted SET status = 'completed' WHERE id = ?", target),
    )

    async with start_control(wrapper, dolthub_api_url=world.api) as control:
        world.install_rigs(control.work_dir)
        result = await control.run(
            K.OPERATION_KIND_ACCEPT,
            token=HOP_TOKEN,
            org="hop",
            wanted_id=target,
            role=K.MEMBER_ROLE_MAINTAINER,
            quality=4,
        )

    raw = logged_run(log)
    assert assert_silent_success(raw, "Accepted", target) == "completed"
    assert "reverted — branch cleaned up" in raw.stdout
    assert HOP.branch(target) not in await fork_branches(world, HOP)
    _, _, stamps = await upstream_state(world, target)
    assert stamps == []  # nobody issued a stamp
    assert result.status == K.OPERATION_STATUS_FAILED, result
