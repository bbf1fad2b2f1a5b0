"""The DoltHub client against the real local DoltHub sandbox (a subprocess on loopback).

One sandbox per module, started with ``--row-limit 3`` so reads of the seeded board are
truncated and ``read_all`` must page. Every test makes its own ids, branches and pull
requests, so the tests do not depend on each other's order.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from wasteland_common.dolthub import (
    AlreadyExists,
    DoltHubClient,
    PollPolicy,
    QueryError,
    RetryPolicy,
    Unauthorized,
    Unavailable,
    WriteResult,
    bind,
    diffs,
    pulls,
)

from tests.support.sandbox import ALICE_TOKEN, BOB_TOKEN, HOP_TOKEN, start_sandbox

ALICE, BOB, HOP = ALICE_TOKEN, BOB_TOKEN, HOP_TOKEN
UPSTREAM = ("hop", "wl-commons")
ROW_LIMIT = 3
# Fast schedules: the sandbox answers in milliseconds, so waits can be short.
FAST_POLL = PollPolicy(initial=0.02, maximum=0.2, timeout=30.0)
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.1, budget_seconds=10.0)


@dataclass
class Sandbox:
    root: str  # http://127.0.0.1:PORT

    @property
    def api(self) -> str:
        return f"{self.root}/api/v1alpha1"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    data_dir = tmp_path_factory.mktemp("dolthub-sandbox")
    with start_sandbox(data_dir, extra_args=("--row-limit", str(ROW_LIMIT))) as proc:
        yield Sandbox(proc.url)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP to the sandbox (its fault and stats endpoints)."""
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client


@pytest.fixture
async def pool() -> AsyncIterator[httpx.AsyncHTTPTransport]:
    """One connection pool for every DoltHub client of a test."""
    async with httpx.AsyncHTTPTransport() as transport:
        yield transport


def make_client(
    sandbox: Sandbox, pool: httpx.AsyncHTTPTransport, token: str | None, **kw: Any
) -> DoltHubClient:
    kw.setdefault("poll", FAST_POLL)
    kw.setdefault("retry", FAST_RETRY)
    return DoltHubClient(sandbox.api, token=token, transport=pool, **kw)


@pytest.fixture
def alice(sandbox: Sandbox, pool: httpx.AsyncHTTPTransport) -> DoltHubClient:
    return make_client(sandbox, pool, ALICE)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def insert_wanted(
    client: DoltHubClient,
    owner: str,
    branch: str,
    item_id: str,
    title: str,
    *,
    from_branch: str = "main",
) -> WriteResult:
    sql = bind(
        "INSERT INTO wanted (id, title, status, posted_by, priority) VALUES (?, ?, 'open', ?, 1)",
        item_id,
        title,
        owner,
    )
    return await client.write(owner, "wl-commons", from_branch, branch, sql)


async def wanted_title(client: DoltHubClient, owner: str, ref: str, item_id: str) -> str | None:
    result = await client.read(
        owner,
        "wl-commons",
        bind("SELECT title FROM wanted WHERE id = ?", item_id),
        ref=ref,
    )
    return result.rows[0]["title"] if result.rows else None


# --------------------------------------------------------------------------- reads


async def test_read_open_wanted_items_is_truncated_at_the_row_limit(
    sandbox: Sandbox, http: httpx.AsyncClient, pool: httpx.AsyncHTTPTransport
) -> None:
    for token in (None, ALICE):
        client = make_client(sandbox, pool, token)
        result = await client.read(
            *UPSTREAM, "SELECT id, title, status FROM wanted WHERE status = 'open' ORDER BY id"
        )
        assert result.columns == ["id", "title", "status"]
        assert result.truncated is True
        assert len(result.rows) == ROW_LIMIT
        assert all(row["status"] == "open" for row in result.rows)


async def test_read_all_pages_past_the_row_limit(alice: DoltHubClient) -> None:
    count = await alice.read(*UPSTREAM, "SELECT COUNT(*) AS n FROM wanted")
    total = int(count.rows[0]["n"] or 0)
    assert total >= 5
    rows = await alice.read_all(
        *UPSTREAM, "SELECT id, priority FROM wanted ORDER BY id", page_size=2
    )
    ids = [str(row["id"]) for row in rows]
    assert len(ids) == total
    assert ids == sorted(ids)
    assert len(set(ids)) == total
    default_pages = await alice.read_all(*UPSTREAM, "SELECT id FROM wanted ORDER BY id")
    assert [row["id"] for row in default_pages] == ids


async def test_sql_error_is_query_error(alice: DoltHubClient) -> None:
    with pytest.raises(QueryError):
        await alice.read(*UPSTREAM, "SELECT no_such_column FROM wanted")


async def test_head_commit_and_existence(alice: DoltHubClient) -> None:
    head = await alice.head_commit(*UPSTREAM)
    assert head
    assert await alice.database_exists(*UPSTREAM) is True
    assert await alice.database_exists("hop", unique("missing")) is False


async def test_validate_token(
    sandbox: Sandbox, http: httpx.AsyncClient, pool: httpx.AsyncHTTPTransport
) -> None:
    await make_client(sandbox, pool, ALICE).validate_token(*UPSTREAM)
    with pytest.raises(Unauthorized):
        await make_client(sandbox, pool, "sandbox-token-nobody").validate_token(*UPSTREAM)


# --------------------------------------------------------------------------- fork and writes


async def test_fork_is_idempotent(alice: DoltHubClient) -> None:
    await alice.fork(*UPSTREAM, "alice")
    await alice.fork(*UPSTREAM, "alice")
    assert await alice.database_exists("alice", "wl-commons") is True


async def test_write_commits_and_a_no_op_write_does_not(alice: DoltHubClient) -> None:
    await alice.fork(*UPSTREAM, "alice")
    branch = f"wl/alice/{unique('w')}"
    item = unique("w")
    title = "Alice's \\ tricky 'title'"
    before = await alice.head_commit("alice", "wl-commons", "main")

    result = await insert_wanted(alice, "alice", branch, item, title)
    assert result.committed is True
    assert result.to_commit_id
    assert result.to_commit_id != result.from_commit_id
    assert await wanted_title(alice, "alice", branch, item) == title
    assert await wanted_title(alice, "alice", "main", item) is None
    assert await alice.head_commit("alice", "wl-commons", branch) == result.to_commit_id

    no_op = await alice.write(
        "alice",
        "wl-commons",
        branch,
        branch,
        bind("UPDATE wanted SET status = 'claimed' WHERE id = ? AND status = 'nope'", item),
    )
    assert no_op.committed is False
    assert await alice.head_commit("alice", "wl-commons", branch) == result.to_commit_id
    assert await alice.head_commit("alice", "wl-commons", "main") == before


async def test_failing_write_is_query_error(alice: DoltHubClient) -> None:
    await alice.fork(*UPSTREAM, "alice")
    with pytest.raises(QueryError):
        await alice.write(
            "alice", "wl-commons", "main", unique("b"), "INSERT INTO no_such_table VALUES (1)"
        )


async def test_merge_branch_into_main(alice: DoltHubClient) -> None:
    await alice.fork(*UPSTREAM, "alice")
    branch = unique("feature")
    item = unique("w")
    await insert_wanted(alice, "alice", branch, item, "merged by branch")
    merged = await alice.merge_branch("alice", "wl-commons", branch, "main")
    assert merged.committed is True
    assert await wanted_title(alice, "alice", "main", item) == "merged by branch"


async def test_create_database_then_already_exists(alice: DoltHubClient) -> None:
    name = unique("scratch")
    await alice.create_database("alice", name, description="test scratch")
    assert await alice.database_exists("alice", name) is True
    with pytest.raises(AlreadyExists):
        await alice.create_database("alice", name)


# --------------------------------------------------------------------------- branches


async def test_branch_lifecycle(alice: DoltHubClient) -> None:
    await alice.fork(*UPSTREAM, "alice")
    branch = f"wl/alice/{unique('b')}"
    await alice.create_branch("alice", "wl-commons", branch, "main")
    await alice.create_branch("alice", "wl-commons", branch, "main")  # idempotent
    assert branch in await alice.list_branches("alice", "wl-commons")
    assert await alice.head_commit("alice", "wl-commons", branch) == await alice.head_commit(
        "alice", "wl-commons", "main"
    )
    await alice.delete_branch("alice", "wl-commons", branch)
    assert branch not in await alice.list_branches("alice", "wl-commons")


# --------------------------------------------------------------------------- pull requests


async def _pull_from_alice(alice: DoltHubClient, title: str) -> tuple[str, str, str]:
    await alice.fork(*UPSTREAM, "alice")
    branch = f"wl/alice/{unique('w')}"
    item = unique("w")
    await insert_wanted(alice, "alice", branch, item, title)
    pull_id = await alice.create_pull(
        *UPSTREAM,
        title=title,
        description="from the client tests",
        from_owner="alice",
        from_db="wl-commons",
        from_branch=branch,
    )
    return pull_id, branch, item


async def test_pull_create_list_get_comment_close(alice: DoltHubClient) -> None:
    title = unique("[wl] close me")
    pull_id, branch, _ = await _pull_from_alice(alice, title)
    listed = {p.pull_id: p for p in await alice.list_pulls(*UPSTREAM)}
    assert listed[pull_id].state == "open"
    assert listed[pull_id].title == title

    pull = await alice.get_pull(*UPSTREAM, pull_id)
    assert (pull.from_owner, pull.from_database, pull.from_branch) == (
        "alice",
        "wl-commons",
        branch,
    )
    assert (pull.to_owner, pull.to_database, pull.to_branch) == ("hop", "wl-commons", "main")
    assert pull.state == "open"
    assert pull.title == title

    await alice.comment_pull(*UPSTREAM, pull_id, "a comment")
    await alice.close_pull(*UPSTREAM, pull_id)
    assert (await alice.get_pull(*UPSTREAM, pull_id)).state == "closed"


async def test_pull_merge_by_the_upstream_owner(
    sandbox: Sandbox, http: httpx.AsyncClient, pool: httpx.AsyncHTTPTransport, alice: DoltHubClient
) -> None:
    pull_id, _, item = await _pull_from_alice(alice, unique("[wl] merge me"))
    hop = make_client(sandbox, pool, HOP)
    head_before = await hop.head_commit(*UPSTREAM)
    await hop.merge_pull(*UPSTREAM, pull_id)
    assert (await hop.get_pull(*UPSTREAM, pull_id)).state == "merged"
    assert await wanted_title(hop, "hop", "main", item) is not None
    assert await hop.head_commit(*UPSTREAM) != head_before
    await hop.merge_pull(*UPSTREAM, pull_id)  # merging again is a no-op success


async def test_a_branch_range_reads_what_the_branch_did_since_it_left_main(
    alice: DoltHubClient,
) -> None:
    """`main...branch` between commit hashes: the branch's own changes, also after the
    fork's main moved on (a two-dot diff would show main's newer commits reversed)."""
    await alice.fork(*UPSTREAM, "alice")
    branch, item = unique("wl/alice/w"), unique("w-range")
    await insert_wanted(alice, "alice", branch, item, "ranged")
    # main moves on after the branch was cut.
    await insert_wanted(alice, "alice", "main", unique("w-later"), "later", from_branch="main")
    heads = await diffs.branch_heads(alice, "alice", "wl-commons", ["main", branch, "nope"])
    assert set(heads) == {"main", branch}
    ranged = diffs.DiffRange(heads["main"], heads[branch])
    changes = await diffs.range_changes(alice, "alice", "wl-commons", ranged)
    assert changes is not None
    assert [(c.table, c.kind, c.key) for c in changes] == [("wanted", "added", item)]
    assert changes[0].after["title"] == "ranged"
    two_dot = diffs.changes(
        await diffs.read_diff(
            alice, "alice", "wl-commons", from_ref="main", to_ref=branch, at_ref="main"
        )
    )
    assert len(two_dot) == 2  # what the branch added, and main's newer row "removed"

    # The pull request's range, found with one branch read per source database.
    pull_id = await alice.create_pull(
        *UPSTREAM, title="ranged", description="", from_owner="alice", from_db="wl-commons",
        from_branch=branch,
    )  # fmt: skip
    pull = await alice.get_pull(*UPSTREAM, pull_id)
    ranges = await pulls.pull_ranges(alice, *UPSTREAM, [pull])
    assert ranges == {pull_id: ranged}
    await alice.delete_branch("alice", "wl-commons", branch)
    assert await pulls.pull_ranges(alice, *UPSTREAM, [pull]) == {pull_id: None}

    # Rows by key, past the sandbox's row limit of 3.
    ids = [f"w-demo-00{n}" for n in range(1, 8)]
    rows = await diffs.read_rows(alice, *UPSTREAM, "wanted", [*ids, "w-missing"])
    assert sorted(rows) == ids
    rigs = await diffs.read_rows(alice, *UPSTREAM, "rigs", ["scav-otto"])
    assert rigs["scav-otto"]["handle"] == "scav-otto"
    await alice.close_pull(*UPSTREAM, pull_id)


# --------------------------------------------------------------------------- faults


async def _faults(
    http: httpx.AsyncClient, sandbox: Sandbox, owner: str = "bob", **fault: Any
) -> None:
    body: dict[str, Any] = {"owner": owner, "db": "wl-commons"}
    body.update(fault)
    response = await http.post(f"{sandbox.root}/_sandbox/faults", json=body)
    assert response.status_code < 300, response.text


async def _request_count(http: httpx.AsyncClient, sandbox: Sandbox) -> int:
    response = await http.get(
        f"{sandbox.root}/_sandbox/stats", params={"owner": "bob", "db": "wl-commons"}
    )
    assert response.status_code == 200, response.text
    stats = response.json()
    for key in ("requests", "request_count", "total", "count"):
        if isinstance(stats.get(key), int):
            return int(stats[key])
    raise AssertionError(f"no request count in sandbox stats: {stats}")


@pytest.fixture
async def bob_fork(
    sandbox: Sandbox, http: httpx.AsyncClient, pool: httpx.AsyncHTTPTransport
) -> AsyncIterator[DoltHubClient]:
    bob = make_client(sandbox, pool, BOB)
    await bob.fork(*UPSTREAM, "bob")
    try:
        yield bob
    finally:
        await _faults(http, sandbox)


async def test_reads_and_writes_survive_a_flaky_dolthub(
    sandbox: Sandbox,
    http: httpx.AsyncClient,
    pool: httpx.AsyncHTTPTransport,
    bob_fork: DoltHubClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wasteland_common.dolthub")
    await _faults(http, sandbox, error_rate_503=0.3, seed=20240601)
    # Budgets sized so 30 % independent failures are survivable with overwhelming odds.
    bob = make_client(
        sandbox,
        pool,
        BOB,
        retry=RetryPolicy(attempts=10, base_delay=0.01, max_delay=0.05, budget_seconds=20.0),
        poll=PollPolicy(initial=0.02, maximum=0.1, timeout=60.0, max_consecutive_errors=12),
    )
    for _ in range(8):
        result = await bob.read("bob", "wl-commons", "SELECT COUNT(*) AS n FROM wanted")
        assert int(result.rows[0]["n"] or 0) >= 5
    branch = f"wl/bob/{unique('flaky')}"
    for n in range(3):
        item = unique(f"w{n}")
        source = "main" if n == 0 else branch
        written = await insert_wanted(bob, "bob", branch, item, f"flaky {n}", from_branch=source)
        assert written.committed is True
        assert await wanted_title(bob, "bob", branch, item) == f"flaky {n}"
    retried = [
        r for r in caplog.records if "retry" in r.getMessage() or "poll failed" in r.getMessage()
    ]
    assert retried, "the injected 503s never reached the client"


async def test_an_outage_fails_fast_without_a_retry_storm(
    sandbox: Sandbox,
    http: httpx.AsyncClient,
    pool: httpx.AsyncHTTPTransport,
    bob_fork: DoltHubClient,
) -> None:
    attempts = 3
    bob = make_client(
        sandbox, pool, BOB, retry=RetryPolicy(attempts=attempts, base_delay=0.01, max_delay=0.05)
    )
    await _faults(http, sandbox, outage=True)
    before = await _request_count(http, sandbox)
    calls = 0
    for _ in range(4):
        with pytest.raises(Unavailable):
            await bob.read("bob", "wl-commons", "SELECT 1")
        calls += 1
    for _ in range(2):
        with pytest.raises(Unavailable):
            await bob.write(
                "bob", "wl-commons", "main", unique("b"), "UPDATE wanted SET priority = 1"
            )
        calls += 1
    sent = await _request_count(http, sandbox) - before
    assert 0 < sent <= attempts * calls


@pytest.fixture
async def upstream_faults(sandbox: Sandbox, http: httpx.AsyncClient) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await _faults(http, sandbox, owner="hop")


async def test_token_read_of_a_foreign_database_falls_back_to_anonymous(
    sandbox: Sandbox, http: httpx.AsyncClient, alice: DoltHubClient, upstream_faults: None
) -> None:
    await _faults(http, sandbox, owner="hop", token_reads_not_found=True)
    result = await alice.read(*UPSTREAM, "SELECT COUNT(*) AS n FROM wanted")
    assert int(result.rows[0]["n"] or 0) >= 5


async def test_sql_error_answered_with_200_is_query_error(
    sandbox: Sandbox, http: httpx.AsyncClient, alice: DoltHubClient, upstream_faults: None
) -> None:
    await _faults(http, sandbox, owner="hop", sql_errors_as_200=True)
    with pytest.raises(QueryError):
        await alice.read(*UPSTREAM, "SELECT no_such_column FROM wanted")


async def test_long_statement_travels_in_the_body(alice: DoltHubClient) -> None:
    await alice.fork(*UPSTREAM, "alice")
    branch = unique("long")
    item = unique("w")
    title = "long " + "x" * 6000
    result = await insert_wanted(alice, "alice", branch, item, title)
    assert result.committed is True
    assert await wanted_title(alice, "alice", branch, item) == title
