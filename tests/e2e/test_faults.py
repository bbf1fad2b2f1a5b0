"""Actions under DoltHub faults, end to end with real processes and the real `wl`.

With 30 % of DoltHub's answers failing (503), 20 actions: every 200 names a pull request
that exists and holds the change; every other answer is a clean 4xx, or a 503 with
Retry-After, whose message names no command line or exit code. During a full outage no
action answers 200.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from devstack.stack import Stack, running_stack
from wasteland_common.dolthub import DoltHubClient, PollPolicy, bind
from wasteland_common.dolthub.pulls import pull_id_in

from tests.support.sandbox import ALICE_TOKEN, HOP_TOKEN

from .conftest import auth, stack_config, wait_for

pytestmark = [pytest.mark.e2e]

UP = ("hop", "wl-commons")
CLAIMS = 14
POSTS = 6
INTERNALS = ("exit", "wl claim", "wl post", "Traceback", "HTTP 503")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    cfg = stack_config(
        tmp_path_factory.mktemp("faults"),
        RATE_LIMIT_CLAIM="1000",
        RATE_LIMIT_POST="1000",
        WAIT_BUDGET_SECONDS="200",
        ACTION_TIMEOUT_SECONDS="260",
        ACTION_RETRY_BUDGET_SECONDS="10",
        POLL_INTERVAL_SECONDS="3600",
    )
    with running_stack(cfg) as running:
        yield running


def set_faults(stack: Stack, owner: str, **settings: Any) -> None:
    root = stack.config.dolthub_api_url.removesuffix("/api/v1alpha1")
    resp = httpx.post(
        f"{root}/_sandbox/faults", json={"owner": owner, "db": UP[1], **settings}, timeout=10
    )
    assert resp.status_code == 200, resp.text


async def _seed(api: str, ids: list[str]) -> None:
    async with DoltHubClient(api, token=HOP_TOKEN) as hop:
        for wanted_id in ids:
            await hop.write(
                *UP,
                "main",
                "main",
                bind(
                    "INSERT INTO wanted (id, title, type, priority, posted_by, status,"
                    " effort_level, created_at, updated_at)"
                    " VALUES (?, ?, 'bug', 2, 'hop', 'open', 'small', NOW(), NOW())",
                    wanted_id,
                    f"Fault test {wanted_id}",
                ),
            )


async def _landed(api: str, result: dict[str, Any]) -> tuple[str, dict[str, str | None]]:
    """The state of the pull request a 200 names, and the item on its branch."""
    pull_id = pull_id_in(result["pull_request_url"] or "")
    assert pull_id is not None, result
    async with DoltHubClient(api, token=HOP_TOKEN, poll=PollPolicy(timeout=30)) as hop:
        pull = await hop.get_pull(*UP, pull_id)
        assert (pull.from_owner, pull.from_branch) == ("alice", result["branch"]), result
        rows = await hop.read(
            "alice",
            UP[1],
            bind("SELECT status, claimed_by, title FROM wanted WHERE id = ?", result["wanted_id"]),
            ref=result["branch"],
        )
    assert rows.rows, result
    return pull.state, rows.rows[0]


def check_clean_failure(response: httpx.Response) -> None:
    assert response.status_code in (400, 404, 409, 429, 503), response.text
    error = response.json()["error"]
    for word in INTERNALS:
        assert word not in error["message"], error
    if response.status_code == 503:
        assert int(response.headers["Retry-After"]) >= 1


def test_actions_under_faults_land_or_fail_cleanly(stack: Stack) -> None:
    dolthub_api = stack.config.dolthub_api_url
    items = [f"w-fault-{n:02d}" for n in range(CLAIMS + 2)]
    asyncio.run(_seed(dolthub_api, items))
    api = httpx.Client(base_url=stack.gateway.url, timeout=300)
    alice = auth("alice")
    created = api.post(
        "/v1/wastelands",
        headers=alice,
        json={"name": "Faults", "owner": {"type": "user"}, "visibility": "public",
              "upstream": "hop/wl-commons"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    base = f"/v1/wastelands/{created.json()['wasteland_id']}"
    connected = api.put(
        f"{base}/credential",
        headers=alice,
        json={"dolthub_token": ALICE_TOKEN, "dolthub_org": "alice"},
    )
    assert connected.status_code == 200, connected.text
    # Wake the workload and register alice's rig before the faults start.
    joined = api.post(f"{base}/join", headers=alice, json={})
    assert joined.status_code == 200, joined.text

    for owner in ("hop", "alice"):
        set_faults(stack, owner, error_rate_503=0.3, seed=7)
    answers: list[tuple[str, httpx.Response]] = []
    for wanted_id in items[:CLAIMS]:
        answers.append(("claim", api.post(f"{base}/wanted/{wanted_id}/claim", headers=alice)))
    for n in range(POSTS):
        body = {"title": f"Fault test post {n}", "type": "docs", "priority": 3}
        answers.append(("post", api.post(f"{base}/wanted", headers=alice, json=body)))
    for owner in ("hop", "alice"):
        set_faults(stack, owner)

    succeeded = [(kind, r.json()) for kind, r in answers if r.status_code == 200]
    failed = [r for _, r in answers if r.status_code != 200]
    for response in failed:
        check_clean_failure(response)
    for kind, result in succeeded:
        assert result["status"] == "succeeded", result
        state, row = asyncio.run(_landed(dolthub_api, result))
        assert state == "open", result
        if kind == "claim":
            assert (row["status"], row["claimed_by"]) == ("claimed", "alice"), result
        else:
            assert row["status"] == "open"
            assert (row["title"] or "").startswith("Fault test post"), result
    # Both outcomes happen under these faults; which ones is up to the dice.
    assert succeeded, [r.text for _, r in answers]
    assert len(succeeded) + len(failed) == CLAIMS + POSTS

    # A full outage: nothing answers 200.
    set_faults(stack, "hop", outage=True)
    try:
        outage = [
            api.post(f"{base}/wanted/{items[CLAIMS]}/claim", headers=alice),
            api.post(f"{base}/wanted", headers=alice, json={"title": "During the outage",
                                                            "type": "docs", "priority": 3}),
        ]  # fmt: skip
    finally:
        set_faults(stack, "hop")
    for response in outage:
        assert response.status_code == 503, response.text
        check_clean_failure(response)
    # After the outage the service works again.
    wait_for(
        "a claim after the outage",
        lambda: (
            api.post(f"{base}/wanted/{items[CLAIMS + 1]}/claim", headers=alice).status_code == 200
        ),
        timeout=120,
    )
