"""The review inbox end to end: real processes, the real `wl`, the DoltHub sandbox.

bob claims an item; alice, the owner, sees bob's registration and claim in the inbox,
classified, and merges both through the service; the very next board read shows the item
claimed and not pending. bob's `done` and alice's `accept` go through the inbox the same
way and the stamp lands on the upstream. alice cannot merge a pull request that stamps her
own work, bob (made a maintainer) can; a claim is closed from the inbox. Merges use the
wasteland's upstream credential: neither alice's nor bob's token can write hop/wl-commons.
Every outcome is checked on the sandbox itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from devstack.stack import Stack
from wasteland_common.auth import mint_user_token
from wasteland_common.dolthub import DoltHubClient, PollPolicy, bind
from wasteland_common.settings import DEV_JWT_SECRET

from tests.support.sandbox import ALICE_TOKEN, BOB_TOKEN, HOP_TOKEN

from .conftest import auth

pytestmark = [pytest.mark.e2e]

UP = ("hop", "wl-commons")
POLL = PollPolicy(initial=0.05, maximum=0.5, timeout=60.0)


def upstream(stack: Stack, sql: str) -> list[dict[str, Any]]:
    """Rows of the upstream's main, read on DoltHub itself."""

    async def read() -> list[dict[str, Any]]:
        async with DoltHubClient(stack.config.dolthub_api_url, token=HOP_TOKEN, poll=POLL) as c:
            return list((await c.read(*UP, sql)).rows)

    return asyncio.run(read())


def pull_state(stack: Stack, pull_id: str) -> str:
    async def read() -> str:
        async with DoltHubClient(stack.config.dolthub_api_url, token=HOP_TOKEN, poll=POLL) as c:
            return (await c.get_pull(*UP, pull_id)).state

    return asyncio.run(read())


class Inbox:
    """The wasteland's review inbox through the public API."""

    def __init__(self, api: httpx.Client, base: str) -> None:
        self.api = api
        self.base = base

    def pulls(self, who: dict[str, str], state: str = "open") -> list[dict[str, Any]]:
        resp = self.api.get(f"{self.base}/pulls", headers=who, params={"state": state})
        assert resp.status_code == 200, resp.text
        pulls: list[dict[str, Any]] = resp.json()["pulls"]
        return pulls

    def find(self, who: dict[str, str], kind: str, **fields: Any) -> dict[str, Any]:
        found = [
            p
            for p in self.pulls(who)
            if p["kind"] == kind and all(p[k] == v for k, v in fields.items())
        ]
        assert len(found) == 1, (kind, fields, self.pulls(who))
        return found[0]

    def merge(self, who: dict[str, str], pull_id: str, **body: Any) -> httpx.Response:
        return self.api.post(f"{self.base}/pulls/{pull_id}/merge", headers=who, json=body or None)

    def merged(self, who: dict[str, str], pull_id: str) -> dict[str, Any]:
        resp = self.merge(who, pull_id)
        assert resp.status_code == 200, resp.text
        pull: dict[str, Any] = resp.json()
        assert pull["state"] == "merged"
        return pull


def test_the_review_inbox_end_to_end(stack: Stack) -> None:
    api = httpx.Client(base_url=stack.gateway.url, timeout=180)
    alice, bob, carol = auth("alice"), auth("bob"), auth("carol")
    created = api.post(
        "/v1/wastelands",
        headers=alice,
        json={"name": "Inbox", "owner": {"type": "user"}, "visibility": "public",
              "upstream": "hop/wl-commons"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    wid = created.json()["wasteland_id"]
    base = f"/v1/wastelands/{wid}"
    inbox = Inbox(api, base)
    for who, token, org in ((alice, ALICE_TOKEN, "alice"), (bob, BOB_TOKEN, "bob")):
        connected = api.put(
            f"{base}/credential", headers=who, json={"dolthub_token": token, "dolthub_org": org}
        )
        assert connected.status_code == 200, connected.text
    up_cred = api.put(
        f"{base}/upstream-credential", headers=alice, json={"dolthub_token": HOP_TOKEN}
    )
    assert up_cred.status_code == 200, up_cred.text

    # bob claims an item: his rig registers first, both by pull request.
    claimed = api.post(f"{base}/wanted/w-demo-001/claim", headers=bob)
    assert claimed.status_code == 200, claimed.text
    registration = inbox.find(alice, "registration", author_rig="bob")
    claim = inbox.find(alice, "claim", wanted_id="w-demo-001")
    assert claim["author_rig"] == "bob"
    assert claim["from_branch"] == "wl/bob/w-demo-001"
    assert claim["url"] == claimed.json()["pull_request_url"]
    assert (registration["mergeable"], claim["mergeable"]) == (True, True)
    assert registration["warnings"] == claim["warnings"] == []
    detail = api.get(f"{base}/pulls/{claim['pull_id']}", headers=alice).json()
    assert [(c["table"], c["key"], c["kind"]) for c in detail["changes"]] == [
        ("wanted", "w-demo-001", "modified")
    ]
    assert detail["changes"][0]["after"]["claimed_by"] == "bob"

    # Readers see the inbox; only maintainers and owners decide.
    assert len(inbox.pulls(carol)) >= 2
    assert inbox.merge(carol, claim["pull_id"]).status_code == 403
    assert inbox.merge(bob, claim["pull_id"]).status_code == 403  # a contributor
    admin = {
        "Authorization": "Bearer " + mint_user_token("root", secret=DEV_JWT_SECRET, is_admin=True)
    }
    assert len(inbox.pulls(admin)) >= 2  # site admins read
    assert inbox.merge(admin, claim["pull_id"]).status_code == 403

    # alice merges both; the very next board read shows the claim, not pending.
    inbox.merged(alice, registration["pull_id"])
    merged = inbox.merged(alice, claim["pull_id"])
    assert merged["kind"] == "claim"
    item = api.get(f"{base}/wanted/w-demo-001", headers=alice).json()["item"]
    assert (item["status"], item["claimed_by"], item["pending"]) == ("claimed", "bob", False)
    assert upstream(stack, "SELECT status, claimed_by FROM wanted WHERE id = 'w-demo-001'") == [
        {"status": "claimed", "claimed_by": "bob"}
    ]
    assert upstream(stack, "SELECT handle FROM rigs WHERE handle = 'bob'") == [{"handle": "bob"}]
    assert {p["pull_id"] for p in inbox.pulls(alice, "merged")} >= {
        registration["pull_id"], claim["pull_id"],
    }  # fmt: skip

    # bob's done, through the inbox.
    done = api.post(
        f"{base}/wanted/w-demo-001/done", headers=bob, json={"evidence": "https://e.x/pr/1"}
    )
    assert done.status_code == 200, done.text
    done_pull = inbox.find(alice, "done", wanted_id="w-demo-001")
    assert done_pull["warnings"] == []  # bob is the claimer
    inbox.merged(alice, done_pull["pull_id"])
    item = api.get(f"{base}/wanted/w-demo-001", headers=alice).json()["item"]
    assert (item["status"], item["pending"]) == ("in_review", False)

    # alice's accept, through the inbox: the stamp lands on the upstream.
    accepted = api.post(
        f"{base}/wanted/w-demo-001/accept", headers=alice, json={"quality": 5, "reliability": 4}
    )
    assert accepted.status_code == 200, accepted.text
    accept = inbox.find(alice, "accept", wanted_id="w-demo-001")
    assert (accept["author_rig"], accept["stamp_subjects"]) == ("alice", ["bob"])
    for pull in inbox.pulls(alice):  # alice's own registration, opened by her first action
        if pull["kind"] == "registration" and pull["author_rig"] == "alice":
            inbox.merged(alice, pull["pull_id"])
    inbox.merged(alice, accept["pull_id"])
    item = api.get(f"{base}/wanted/w-demo-001", headers=alice).json()
    assert (item["item"]["status"], item["item"]["pending"]) == ("completed", False)
    stamps = upstream(
        stack,
        bind(
            "SELECT author, subject FROM stamps WHERE context_id IN"
            " (SELECT id FROM completions WHERE wanted_id = ?)",
            "w-demo-001",
        ),
    )
    assert stamps == [{"author": "alice", "subject": "bob"}]
    assert [(s["author"], s["subject"]) for s in item["stamps"]] == [("alice", "bob")]

    # alice does w-demo-002 herself (claim and done on one branch), merged by her.
    for path, body in (("claim", None), ("done", {"evidence": "https://e.x/pr/2"})):
        resp = api.post(f"{base}/wanted/w-demo-002/{path}", headers=alice, json=body)
        assert resp.status_code == 200, resp.text
    own_done = inbox.find(alice, "done", wanted_id="w-demo-002")
    assert own_done["author_rig"] == "alice"
    inbox.merged(alice, own_done["pull_id"])
    # bob becomes a maintainer and accepts it: the stamp judges alice's work.
    promoted = api.post(
        f"{base}/members",
        headers=alice,
        json={"user_id": "bob", "role": "maintainer", "trust_level": 2},
    )
    if promoted.status_code == 409:  # bob is a member already: change his role
        promoted = api.patch(f"{base}/members/bob", headers=alice, json={"role": "maintainer"})
    assert promoted.status_code in (200, 201), promoted.text
    bobs_accept = api.post(
        f"{base}/wanted/w-demo-002/accept", headers=bob, json={"quality": 4, "reliability": 4}
    )
    assert bobs_accept.status_code == 200, bobs_accept.text
    stamp_of_alice = inbox.find(alice, "accept", wanted_id="w-demo-002")
    assert stamp_of_alice["stamp_subjects"] == ["alice"]
    refused = inbox.merge(alice, stamp_of_alice["pull_id"], confirm=True)
    assert refused.status_code == 403, refused.text
    assert "your own work" in refused.json()["error"]["message"]
    assert pull_state(stack, stamp_of_alice["pull_id"]) == "open"
    inbox.merged(bob, stamp_of_alice["pull_id"])  # another maintainer may
    assert upstream(stack, "SELECT status FROM wanted WHERE id = 'w-demo-002'") == [
        {"status": "completed"}
    ]

    # A claim closed from the inbox: the item is back to open, not pending.
    again = api.post(f"{base}/wanted/w-demo-003/claim", headers=bob)
    assert again.status_code == 200, again.text
    assert api.get(f"{base}/wanted/w-demo-003", headers=alice).json()["item"]["pending"] is True
    to_close = inbox.find(alice, "claim", wanted_id="w-demo-003")
    closed = api.post(f"{base}/pulls/{to_close['pull_id']}/close", headers=alice)
    assert closed.status_code == 200, closed.text
    assert closed.json()["state"] == "closed"
    assert pull_state(stack, to_close["pull_id"]) == "closed"
    item = api.get(f"{base}/wanted/w-demo-003", headers=alice).json()["item"]
    assert (item["status"], item["pending"]) == ("open", False)
    assert to_close["pull_id"] in {p["pull_id"] for p in inbox.pulls(alice, "closed")}

    # No secret reached any service's output.
    for proc in stack.procs:
        for token in (ALICE_TOKEN, BOB_TOKEN, HOP_TOKEN):
            assert token not in proc.text(), proc.name
