"""An owner runs a wasteland from the service alone (issue 9's journey), through the
gateway with real processes, the real `wl` and the DoltHub sandbox:

alice creates two wastelands from the template in her own DoltHub org (the first with her
token in the create call, the second with the credential that call connected): both come
up `active` as two different databases holding the commons schema 1.2. alice posts an
item; bob joins the first and claims it; alice sees his registration and claim in the
review inbox and merges them, and the very next board read shows the item claimed and not
pending. bob's `done` and alice's `accept` go through the inbox the same way, and the stamp
is on the upstream. The activity log lists every step with its actor. Nobody ever merges on
DoltHub itself: alice's own token is the only one that can write her org.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from devstack.stack import Stack, running_stack
from wasteland_common.dolthub import DoltHubClient, PollPolicy, bind

from tests.support.postgres import Cluster
from tests.support.sandbox import ALICE_TOKEN, BOB_TOKEN

from .conftest import auth, stack_config, wait_for
from .test_review_inbox import Inbox

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

POLL = PollPolicy(initial=0.05, maximum=0.5, timeout=60.0)
WORK = "https://example.com/alice/foundry/pull/1"


@pytest.fixture(scope="module")
def stack(postgres_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    cfg = stack_config(
        tmp_path_factory.mktemp("owner"), registry_database_url=postgres_cluster.create_database()
    )
    with running_stack(cfg) as running:
        yield running


def on_dolthub(stack: Stack, owner: str, db: str, sql: str) -> list[dict[str, Any]]:
    """Rows of ``owner/db``'s main, read on the sandbox itself."""

    async def read() -> list[dict[str, Any]]:
        async with DoltHubClient(stack.config.dolthub_api_url, token=ALICE_TOKEN, poll=POLL) as c:
            return list((await c.read(owner, db, sql)).rows)

    return asyncio.run(read())


def active(api: httpx.Client, wid: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        got = api.get(f"/v1/wastelands/{wid}", headers=auth("alice"))
        assert got.status_code == 200, got.text
        body: dict[str, Any] = got.json()
        assert body["status"] != "failed", body
        return body if body["status"] == "active" else None

    found: dict[str, Any] = wait_for(f"wasteland {wid} to be active", probe, timeout=180)
    return found


def test_alice_creates_and_runs_a_wasteland_bob_works_in_it(stack: Stack) -> None:
    api = httpx.Client(base_url=stack.gateway.url, timeout=180)
    alice, bob = auth("alice"), auth("bob")

    # Two wastelands from the template in alice's org: her token in the first call only.
    first = api.post(
        "/v1/wastelands",
        headers=alice,
        json={"name": "Foundry", "owner": {"type": "user"}, "visibility": "public",
              "dolthub_token": ALICE_TOKEN, "dolthub_org": "alice"},
    )  # fmt: skip
    assert first.status_code == 201, first.text
    second = api.post(
        "/v1/wastelands",
        headers=alice,
        json={"name": "Second Foundry", "owner": {"type": "user"}, "visibility": "public"},
    )
    assert second.status_code == 201, second.text
    one, two = active(api, first.json()["wasteland_id"]), active(api, second.json()["wasteland_id"])
    commons = [tuple(w["upstream"].split("/")) for w in (one, two)]
    assert commons[0] != commons[1]
    assert {owner for owner, _ in commons} == {"alice"}
    for owner, db in commons:
        meta = on_dolthub(
            stack, owner, db, "SELECT value FROM _meta WHERE `key` = 'schema_version'"
        )
        assert meta == [{"value": "1.2"}]
    owner, db = commons[0]
    wid = one["wasteland_id"]
    base = f"/v1/wastelands/{wid}"
    inbox = Inbox(api, base)

    # alice posts an item; her post is a pull request she merges from the inbox.
    posted = api.post(
        f"{base}/wanted",
        headers=alice,
        json={"title": "Sort the scrap", "type": "feature", "priority": 2, "effort_level": "small"},
    )
    assert posted.status_code == 200, posted.text
    item_id = posted.json()["wanted_id"]
    own = [p for p in inbox.pulls(alice) if p["kind"] in ("registration", "post")]
    assert "post" in {p["kind"] for p in own}  # and her rig, if it still needs registering
    for pull in own:
        inbox.merged(alice, pull["pull_id"])
    assert on_dolthub(
        stack, owner, db, bind("SELECT status FROM wanted WHERE id = ?", item_id)
    ) == [{"status": "open"}]

    # bob joins and claims it: his registration and his claim are two pull requests.
    connected = api.put(
        f"{base}/credential", headers=bob, json={"dolthub_token": BOB_TOKEN, "dolthub_org": "bob"}
    )
    assert connected.status_code == 200, connected.text
    joined = api.post(f"{base}/join", headers=bob, json={})
    assert joined.status_code == 200, joined.text
    assert joined.json()["rig_handle"] == "bob"
    claimed = api.post(f"{base}/wanted/{item_id}/claim", headers=bob)
    assert claimed.status_code == 200, claimed.text
    registration = inbox.find(alice, "registration", author_rig="bob")
    claim = inbox.find(alice, "claim", wanted_id=item_id)
    assert claim["author_rig"] == "bob"
    inbox.merged(alice, registration["pull_id"])
    inbox.merged(alice, claim["pull_id"])
    item = api.get(f"{base}/wanted/{item_id}", headers=alice).json()["item"]
    assert (item["status"], item["claimed_by"], item["pending"]) == ("claimed", "bob", False)

    # bob's done and alice's accept, through the inbox; the stamp lands upstream.
    done = api.post(f"{base}/wanted/{item_id}/done", headers=bob, json={"evidence": WORK})
    assert done.status_code == 200, done.text
    done_pull = inbox.find(alice, "done", wanted_id=item_id)
    assert done_pull["warnings"] == []
    inbox.merged(alice, done_pull["pull_id"])
    item = api.get(f"{base}/wanted/{item_id}", headers=alice).json()["item"]
    assert (item["status"], item["pending"]) == ("in_review", False)
    accepted = api.post(
        f"{base}/wanted/{item_id}/accept", headers=alice, json={"quality": 5, "reliability": 4}
    )
    assert accepted.status_code == 200, accepted.text
    accept = inbox.find(alice, "accept", wanted_id=item_id)
    assert accept["stamp_subjects"] == ["bob"]
    inbox.merged(alice, accept["pull_id"])
    item = api.get(f"{base}/wanted/{item_id}", headers=alice).json()["item"]
    assert (item["status"], item["pending"]) == ("completed", False)
    stamps = on_dolthub(
        stack,
        owner,
        db,
        bind(
            "SELECT author, subject FROM stamps WHERE context_id IN"
            " (SELECT id FROM completions WHERE wanted_id = ?)",
            item_id,
        ),
    )
    assert stamps == [{"author": "alice", "subject": "bob"}]

    # The activity log lists every step with its actor, oldest first here.
    events: list[dict[str, Any]] = []
    token = ""
    while True:
        page = api.get(
            f"{base}/activity", headers=bob, params={"page_size": 100, "page_token": token}
        )
        assert page.status_code == 200, page.text
        events.extend(page.json()["events"])
        token = page.json()["next_page_token"]
        if not token:
            break
    steps = [
        (e["kind"], e["actor"])
        for e in reversed(events)
        if e["kind"]
        not in ("woke", "slept", "fork_synced", "credential_connected", "rig_registered")
    ]
    merged = ("merged", "alice")
    assert steps == [
        ("created", "alice"),
        ("provisioned", "alice"),
        ("posted", "alice"),
        *[merged] * len(own),  # her post, and her rig's registration if it had one
        ("member_added", "bob"),
        ("claimed", "bob"),
        merged,
        merged,
        ("done", "bob"),
        merged,
        ("accepted", "alice"),
        merged,
    ], steps
    registered = [e["actor"] for e in events if e["kind"] == "rig_registered"]
    assert sorted(set(registered)) == ["alice", "bob"], events
    assert all(e["request_id"] for e in events)

    # No DoltHub token reached any service's output.
    for proc in stack.procs:
        for secret in (ALICE_TOKEN, BOB_TOKEN):
            assert secret not in proc.text(), proc.name
