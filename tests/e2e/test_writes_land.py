"""Writes that land, end to end: real processes, the real `wl`, the DoltHub sandbox.

bob forks; the commons moves on (alice posts, the upstream maintainer merges); bob cannot
claim the new item until the owner connects an upstream credential, then his claim syncs
his fork first; claim + done show in review and pending on the very next board read; a
maintainer rejects and bob's second `done` opens a new pull request; a town registers by
pull request; deleting the wasteland stops its control server at once. Every success is
checked on the sandbox itself: an open pull request whose branch holds the change.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from devstack.stack import Stack
from wasteland_common.dolthub import DoltHubClient, PollPolicy, bind
from wasteland_common.dolthub.pulls import pull_id_in

from tests.support.sandbox import ALICE_TOKEN, BOB_TOKEN, HOP_TOKEN

from .conftest import auth, wait_for

pytestmark = [pytest.mark.e2e]

UP = ("hop", "wl-commons")
POLL = PollPolicy(initial=0.05, maximum=0.5, timeout=60.0)


def hop(stack: Stack) -> DoltHubClient:
    """The upstream's maintainer on DoltHub itself (outside the service)."""
    return DoltHubClient(stack.config.dolthub_api_url, token=HOP_TOKEN, poll=POLL)


def merge_upstream(stack: Stack, pull_request_url: str) -> None:
    pull_id = pull_id_in(pull_request_url)
    assert pull_id is not None, pull_request_url

    async def merge() -> None:
        async with hop(stack) as client:
            await client.merge_pull(*UP, pull_id)

    asyncio.run(merge())


def landed(stack: Stack, result: dict[str, Any], owner: str) -> dict[str, str | None]:
    """The open upstream pull request of ``result`` comes from ``owner``'s branch; returns
    the item's row on that branch."""
    assert result["status"] == "succeeded", result
    pull_id = pull_id_in(result["pull_request_url"] or "")
    assert pull_id is not None, result

    async def read() -> dict[str, str | None]:
        async with hop(stack) as client:
            pull = await client.get_pull(*UP, pull_id)
            assert pull.state == "open"
            assert (pull.from_owner, pull.from_branch) == (owner, result["branch"])
            rows = await client.read(
                owner,
                UP[1],
                bind("SELECT status, claimed_by FROM wanted WHERE id = ?", result["wanted_id"]),
                ref=result["branch"],
            )
            return rows.rows[0]

    return asyncio.run(read())


def control_server_pids(wasteland_id: str) -> list[int]:
    """Processes whose environment names this wasteland (its control servers)."""
    marker = f"WASTELAND_ID={wasteland_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return [pid for pid in found if pid != os.getpid()]


def test_writes_land_and_forks_keep_up(stack: Stack) -> None:
    api = httpx.Client(base_url=stack.gateway.url, timeout=120)
    alice, bob = auth("alice"), auth("bob")
    created = api.post(
        "/v1/wastelands",
        headers=alice,
        json={"name": "Landing", "owner": {"type": "user"}, "visibility": "public",
              "upstream": "hop/wl-commons"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    wid = created.json()["wasteland_id"]
    base = f"/v1/wastelands/{wid}"
    for who, token, org in ((alice, ALICE_TOKEN, "alice"), (bob, BOB_TOKEN, "bob")):
        connected = api.put(
            f"{base}/credential", headers=who, json={"dolthub_token": token, "dolthub_org": org}
        )
        assert connected.status_code == 200, connected.text
    assert api.get(f"{base}/credential", headers=bob).json()["fork_behind"] is False

    # The commons moves on after bob forked: alice posts, the maintainer merges upstream.
    posted = api.post(
        f"{base}/wanted",
        headers=alice,
        json={"title": "Landing: posted after the forks", "type": "feature", "priority": 1},
    )
    assert posted.status_code == 200, posted.text
    new_id = posted.json()["wanted_id"]
    assert landed(stack, posted.json(), "alice")["status"] == "open"
    # alice's own pending post is on her board, not bob's.
    mine = api.get(f"{base}/wanted/{new_id}", headers=alice)
    assert mine.status_code == 200, mine.text
    assert mine.json()["item"]["pending"] is True
    assert api.get(f"{base}/wanted/{new_id}", headers=bob).status_code == 404
    merge_upstream(stack, posted.json()["pull_request_url"])
    wait_for(
        "bob's fork to be reported behind",
        lambda: api.get(f"{base}/credential", headers=bob).json()["fork_behind"] is True,
        timeout=90,
    )

    # bob cannot claim it: his fork lacks it and there is no upstream credential.
    refused = api.post(f"{base}/wanted/{new_id}/claim", headers=bob)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "FAILED_PRECONDITION"
    assert "upstream-credential" in refused.json()["error"]["message"]
    assert "exit" not in refused.json()["error"]["message"]

    # The owner connects the upstream credential; bob's claim syncs his fork first.
    upstream = api.put(
        f"{base}/upstream-credential", headers=alice, json={"dolthub_token": HOP_TOKEN}
    )
    assert upstream.status_code == 200, upstream.text
    assert HOP_TOKEN not in upstream.text
    claimed = api.post(f"{base}/wanted/{new_id}/claim", headers=bob)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["fork_sync"]["fork_behind_before"] is True
    assert claimed.json()["fork_sync"]["fork_behind_after"] is False
    assert landed(stack, claimed.json(), "bob") == {"status": "claimed", "claimed_by": "bob"}
    assert api.get(f"{base}/credential", headers=bob).json()["fork_behind"] is False

    # claim + done on one branch: in review and pending on the very next read.
    done = api.post(
        f"{base}/wanted/{new_id}/done",
        headers=bob,
        json={"evidence": "https://example.com/pull/1"},
    )
    assert done.status_code == 200, done.text
    assert done.json()["pull_request_url"] == claimed.json()["pull_request_url"]
    assert landed(stack, done.json(), "bob")["status"] == "in_review"
    item = api.get(f"{base}/wanted/{new_id}", headers=alice).json()["item"]
    assert (item["status"], item["claimed_by"], item["pending"]) == ("in_review", "bob", True)
    in_review = api.get(f"{base}/wanted", headers=alice, params={"status": "in_review"}).json()
    assert new_id in {i["wanted_id"] for i in in_review["items"]}
    counts = api.get(f"{base}/wanted:counts", headers=alice).json()["by_status"]
    assert counts["in_review"] >= 1

    # The maintainer merges; the owner rejects; that is merged too.
    merge_upstream(stack, done.json()["pull_request_url"])
    rejected = api.post(f"{base}/wanted/{new_id}/reject", headers=alice, json={"reason": "tests"})
    assert rejected.status_code == 200, rejected.text
    assert landed(stack, rejected.json(), "alice") == {"status": "claimed", "claimed_by": "bob"}
    merge_upstream(stack, rejected.json()["pull_request_url"])

    # bob's second done: a fresh branch from his synced fork, a new pull request.
    again = api.post(
        f"{base}/wanted/{new_id}/done",
        headers=bob,
        json={"evidence": "https://example.com/pull/2"},
    )
    assert again.status_code == 200, again.text
    assert again.json()["pull_request_url"] != done.json()["pull_request_url"]
    assert landed(stack, again.json(), "bob")["status"] == "in_review"

    # An explicit sync: nothing left to pull, bob's merged branch of the first round gone.
    synced = api.post(f"{base}/sync", headers=bob)
    assert synced.status_code == 200, synced.text
    assert synced.json()["fork_sync"]["fork_behind_before"] is False

    # A town registers on DoltHub through bob's fork, by pull request.
    town = api.post(
        f"{base}/towns",
        headers=bob,
        json={"town_id": "town-7", "rig_handle": "bob-town", "owner_email": "bob@example.com"},
    )
    assert town.status_code == 201, town.text
    pull_id = pull_id_in(town.json()["pull_request_url"] or "")
    assert pull_id is not None, town.text

    async def town_rows() -> tuple[Any, Any, Any]:
        async with hop(stack) as client:
            pull = await client.get_pull(*UP, pull_id)
            rigs = await client.read(
                "bob",
                UP[1],
                "SELECT handle, rig_type, parent_rig, trust_level, hop_uri FROM rigs"
                " WHERE handle = 'bob-town'",
                ref="wl/register/bob-town",
            )
            links = await client.read(
                "bob",
                UP[1],
                "SELECT rig_a, rig_b FROM rig_links WHERE rig_b = 'bob-town'",
                ref="wl/register/bob-town",
            )
            return pull, rigs.rows, links.rows

    pull, rigs, links = asyncio.run(town_rows())
    assert (pull.state, pull.from_owner, pull.from_branch) == (
        "open", "bob", "wl/register/bob-town",
    )  # fmt: skip
    assert rigs == [
        {
            "handle": "bob-town",
            "rig_type": "agent",
            "parent_rig": "bob",
            "trust_level": "1",
            "hop_uri": "hop://bob@example.com/bob-town/",
        }
    ]
    assert links == [{"rig_a": "bob", "rig_b": "bob-town"}]
    listed = api.get(f"{base}/towns", headers=bob).json()["towns"]
    assert [t["pull_request_url"] for t in listed] == [town.json()["pull_request_url"]]

    # Deleting the wasteland stops its control server before the answer.
    assert api.get(f"{base}/runtime", headers=alice).json()["state"] == "running"
    assert control_server_pids(wid) != []
    assert api.delete(base, headers=alice).status_code == 204
    assert control_server_pids(wid) == []

    # No secret reached any service's output.
    for proc in stack.procs:
        for token in (ALICE_TOKEN, BOB_TOKEN, HOP_TOKEN):
            assert token not in proc.text(), proc.name
