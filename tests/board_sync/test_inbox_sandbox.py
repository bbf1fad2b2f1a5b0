"""The review inbox against the real DoltHub sandbox: pull requests written the way `wl`
and the service write them, classified from their diffs, and what each listing costs.

One sandbox per module (its pull-request pages hold 3 pull requests, so listings page);
the tests run in order and build on each other's pull requests, like a review queue.
"""

# Test SQL is built with f-strings, but every value in it goes through quote().
# ruff: noqa: S608

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import db
from wasteland_common.dolthub import DoltHubClient, PollPolicy, RetryPolicy, quote
from wasteland_common.errors import DomainError, NotFound
from wl_board_sync.inbox import Inbox, PullView
from wl_board_sync.server import MIGRATIONS
from wl_board_sync.sync import Syncer
from wl_board_sync.tracking import Upstream, track

from tests.support.http import RecordingTransport
from tests.support.procs import Proc
from tests.support.sandbox import ALICE_TOKEN, BOB_TOKEN, HOP_TOKEN, api_url, start_sandbox

from .conftest import FakeClock

pytestmark = [pytest.mark.integration]

UP = ("hop", "wl-commons")
DB = UP[1]
FAST_POLL = PollPolicy(initial=0.02, maximum=0.2, timeout=30.0)
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.1, budget_seconds=5.0)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    data_dir = tmp_path_factory.mktemp("dolthub-sandbox")
    with start_sandbox(data_dir, extra_args=("--pulls-page-size", "3")) as proc:
        yield proc


@dataclass
class Recorder:
    """Every DoltHub request the inbox sent: (method, path, SQL or "")."""

    requests: list[tuple[str, str, str]] = field(default_factory=list)
    transport: RecordingTransport = field(init=False)

    def __post_init__(self) -> None:
        self.transport = RecordingTransport(self.hook)

    def hook(self, request: httpx.Request) -> None:
        url = urlsplit(str(request.url))
        sql = parse_qs(url.query).get("q", [""])[0]
        self.requests.append((request.method, unquote(url.path), sql))

    def count(self) -> dict[str, int]:
        kinds: dict[str, int] = {}
        for _, path, sql in self.requests:
            if not sql:
                kind = "pull detail" if path.rstrip("/").split("/")[-1].isdigit() else "pull list"
            elif "dolt_branches" in sql:
                kind = "branch heads"
            elif "HASHOF" in sql:
                kind = "upstream head"
            elif "dolt_diff" in sql:
                kind = "diff"
            else:
                kind = "rows"
            kinds[kind] = kinds.get(kind, 0) + 1
        return kinds


@dataclass
class Env:
    inbox: Inbox
    syncer: Syncer
    recorder: Recorder
    sessions: sessionmaker[Session]
    wasteland_id: str
    hop: DoltHubClient
    bob: DoltHubClient
    alice: DoltHubClient


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("inbox")


@pytest.fixture
async def env(sandbox: Proc, data_dir: Path) -> AsyncIterator[Env]:
    # One board database for the module: what the inbox keeps carries across tests.
    engine = db.make_engine(f"sqlite+pysqlite:///{data_dir / 'board.db'}")
    db.migrate(engine, MIGRATIONS)
    sessions = db.session_factory(engine)
    recorder = Recorder()
    client = DoltHubClient(
        api_url(sandbox), transport=recorder.transport, retry=FAST_RETRY, poll=FAST_POLL
    )
    writer = DoltHubClient(api_url(sandbox), retry=FAST_RETRY, poll=FAST_POLL)
    clock = FakeClock()
    wasteland_id = "wl-inbox"
    with sessions.begin() as session:
        track(session, wasteland_id, Upstream(*UP), None, clock())
    syncer = Syncer(sessions, client, clock=clock)
    try:
        yield Env(
            Inbox(sessions, client, clock=clock),
            syncer,
            recorder,
            sessions,
            wasteland_id,
            writer.with_token(HOP_TOKEN),
            writer.with_token(BOB_TOKEN),
            writer.with_token(ALICE_TOKEN),
        )
    finally:
        await recorder.transport.aclose()
        await writer.aclose()
        engine.dispose()


async def propose(client: DoltHubClient, org: str, branch: str, *statements: str) -> str:
    """Write ``statements`` on ``org``'s fork branch (cut from its main) and open a pull
    request against the upstream, as `wl` does."""
    await client.fork(*UP, org)
    source = "main"
    for sql in statements:
        await client.write(org, DB, source, branch, sql)
        source = branch
    return await client.create_pull(
        *UP, title=f"[wl] {branch}", description="", from_owner=org, from_db=DB,
        from_branch=branch,
    )  # fmt: skip


async def listing(env: Env, state: str = "open", page_size: int = 50) -> list[PullView]:
    pulls: list[PullView] = []
    token = ""
    while True:
        page = await env.inbox.list_pulls(env.wasteland_id, state, page_size, token)  # type: ignore[arg-type]
        pulls.extend(page.pulls)
        token = page.next_page_token
        if not token:
            return pulls


def by_id(pulls: list[PullView]) -> dict[str, PullView]:
    return {p.pull_id: p for p in pulls}


PULLS: dict[str, str] = {}


async def test_the_pull_requests_wl_and_the_service_open_are_classified(env: Env) -> None:
    await env.syncer.sync(env.wasteland_id, force=True)  # the board's rigs: org → rig
    PULLS["registration"] = await propose(
        env.bob, "bob", "wl/register/bob",
        "INSERT INTO rigs (handle, display_name, dolthub_org, hop_uri, owner_email, gt_version,"
        " trust_level, registered_at, last_seen) VALUES ('bob', 'Bob', 'bob', 'hop://b@x/bob/',"
        " 'b@x', 'dev', 1, NOW(), NOW())",
    )  # fmt: skip
    PULLS["claim"] = await propose(
        env.bob, "bob", "wl/bob/w-demo-001",
        "UPDATE wanted SET claimed_by='bob', status='claimed', updated_at=NOW()"
        " WHERE id='w-demo-001' AND status='open'",
    )  # fmt: skip
    new_id = f"w-{uuid.uuid4().hex[:10]}"
    PULLS["post"] = await propose(
        env.alice, "alice", f"wl/alice/{new_id}",
        "INSERT INTO wanted (id, title, posted_by, status, priority, created_at, updated_at)"
        f" VALUES ({quote(new_id)}, 'A new item', 'alice', 'open', 1, NOW(), NOW())",
    )  # fmt: skip
    # bob submits a done for w-demo-006, which scav-ruby claimed upstream.
    PULLS["done"] = await propose(
        env.bob, "bob", "wl/bob/w-demo-006",
        "UPDATE wanted SET status='in_review', evidence_url='https://e.x/1', updated_at=NOW()"
        " WHERE id='w-demo-006' AND status='claimed'",
        "INSERT INTO completions (id, wanted_id, completed_by, evidence, completed_at)"
        " VALUES ('c-bob-006', 'w-demo-006', 'bob', 'https://e.x/1', NOW())",
    )  # fmt: skip
    PULLS["town"] = await propose(
        env.bob, "bob", "wl/register/bob-town",
        "INSERT INTO rigs (handle, display_name, dolthub_org, hop_uri, owner_email, gt_version,"
        " trust_level, registered_at, last_seen, rig_type, parent_rig) VALUES ('bob-town',"
        " 'town t', 'bob', 'hop://b@x/bob-town/', 'b@x', 'hosted', 1, NOW(), NOW(), 'agent',"
        " 'bob')",
        "INSERT INTO rig_links (id, rig_a, rig_b, link_type, status, created_at)"
        " VALUES ('rl-1', 'bob', 'bob-town', 'same_owner', 'pending', NOW())",
    )  # fmt: skip

    pulls = by_id(await listing(env))
    assert set(pulls) == set(PULLS.values())
    got = {name: pulls[pull_id] for name, pull_id in PULLS.items()}
    assert {n: (p.kind, p.wanted_id, p.author_rig) for n, p in got.items()} == {
        "registration": ("registration", None, "bob"),
        "claim": ("claim", "w-demo-001", "bob"),
        "post": ("post", new_id, "alice"),
        "done": ("done", "w-demo-006", "bob"),
        "town": ("town", None, "bob"),
    }
    assert all(p.state == "open" and p.mergeable is True for p in got.values())
    assert [w.code for w in got["done"].warnings] == ["done_not_by_claimer"]
    assert all(not p.warnings for n, p in got.items() if n != "done")
    assert got["claim"].url.endswith(f"/hop/wl-commons/pulls/{PULLS['claim']}")
    assert got["claim"].from_branch == "wl/bob/w-demo-001"
    # Open pull requests come oldest first.
    order = [int(p) for p in pulls]
    assert order == sorted(order)


async def test_a_listing_in_which_nothing_moved_costs_the_list_a_head_and_one_read_per_fork(
    env: Env,
) -> None:
    await listing(env)
    env.recorder.requests.clear()
    pulls = await listing(env)
    assert len(pulls) == 5
    # 5 pull requests, 3 to a DoltHub page; 2 forks (bob, alice).
    assert env.recorder.count() == {"pull list": 2, "upstream head": 1, "branch heads": 2}

    # Pages of 2: the same pull requests in the same order, each page as cheap.
    env.recorder.requests.clear()
    paged = await listing(env, page_size=2)
    assert [p.pull_id for p in paged] == [p.pull_id for p in pulls]
    assert env.recorder.count()["upstream head"] == 3  # one per page


async def test_a_moved_branch_is_read_again_and_a_moved_upstream_rechecked(env: Env) -> None:
    # The upstream gives w-demo-001 to otto meanwhile: bob's claim no longer merges.
    await env.hop.write(
        *UP, "main", "main",
        "UPDATE wanted SET claimed_by='scav-otto', status='claimed' WHERE id='w-demo-001'",
    )  # fmt: skip
    env.recorder.requests.clear()
    pulls = by_id(await listing(env))
    assert pulls[PULLS["claim"]].mergeable is False
    assert pulls[PULLS["registration"]].mergeable is True
    counts = env.recorder.count()
    assert "diff" not in counts  # no branch moved
    assert counts["rows"] >= 1  # the merge check, against the new upstream head

    # bob's done branch moves: it now completes for scav-ruby (the claimer).
    await env.bob.write(
        "bob", DB, "wl/bob/w-demo-006", "wl/bob/w-demo-006",
        "UPDATE completions SET completed_by='scav-ruby' WHERE id='c-bob-006'",
    )  # fmt: skip
    await env.bob.write(
        "bob", DB, "wl/bob/w-demo-006", "wl/bob/w-demo-006",
        "UPDATE wanted SET claimed_by='scav-ruby' WHERE id='w-demo-006'",
    )  # fmt: skip
    env.recorder.requests.clear()
    done = by_id(await listing(env))[PULLS["done"]]
    assert env.recorder.count()["diff"] >= 2  # the stat and the changed tables, once
    assert done.kind == "done"
    # The branch is still bob's (wl/bob/…), so the done is still flagged.
    assert [w.code for w in done.warnings] == ["done_not_by_claimer"]


async def test_one_pull_request_with_its_changes(env: Env) -> None:
    pull = await env.inbox.get_pull(env.wasteland_id, PULLS["claim"])
    assert pull.kind == "claim"
    assert pull.changes is not None
    assert [(c.table, c.kind, c.key) for c in pull.changes] == [
        ("wanted", "modified", "w-demo-001")
    ]
    change = pull.changes[0]
    assert (change.before["status"], change.after["status"]) == ("open", "claimed")
    assert change.after["claimed_by"] == "bob"


async def test_merged_and_closed_pull_requests_keep_what_was_read(env: Env) -> None:
    await env.hop.merge_pull(*UP, PULLS["registration"])
    await env.hop.close_pull(*UP, PULLS["post"])
    await env.bob.delete_branch("bob", DB, "wl/register/bob")  # gone after the merge

    merged = await listing(env, "merged")
    assert [(p.pull_id, p.kind, p.author_rig, p.mergeable) for p in merged] == [
        (PULLS["registration"], "registration", "bob", False)
    ]
    closed = await listing(env, "closed")
    assert [(p.pull_id, p.kind, p.state) for p in closed] == [(PULLS["post"], "post", "closed")]
    still_open = {p.pull_id for p in await listing(env)}
    assert still_open == {PULLS["claim"], PULLS["done"], PULLS["town"]}


async def test_unknown_pull_requests_and_bad_tokens(env: Env) -> None:
    with pytest.raises(NotFound):
        await env.inbox.get_pull(env.wasteland_id, "99999")
    with pytest.raises(DomainError):
        await env.inbox.list_pulls(env.wasteland_id, "open", 10, "not-a-token")
    page = await env.inbox.list_pulls(env.wasteland_id, "open", 1, "")
    with pytest.raises(DomainError):  # a token of another list
        await env.inbox.list_pulls(env.wasteland_id, "merged", 1, page.next_page_token)
