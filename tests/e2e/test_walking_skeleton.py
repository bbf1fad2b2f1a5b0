"""One user journey through every real service process over real sockets.

gateway (HTTP) → registry / board-sync / executor (gRPC) → control server (gRPC, started by
the executor) → `wl` → the DoltHub sandbox. Run once with the registry on SQLite and once
on PostgreSQL.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from devstack.demo import ensure_demo_wasteland
from devstack.stack import Stack
from wasteland_common.auth import mint_user_token
from wasteland_common.dolthub.sql import bind
from wasteland_common.settings import DEV_JWT_SECRET

from tests.support.sandbox import ALICE_TOKEN, BOB_TOKEN

from .conftest import auth, wait_for

pytestmark = [pytest.mark.e2e]


def test_create_connect_browse_claim(stack: Stack) -> None:
    api = httpx.Client(base_url=stack.gateway.url, timeout=60)
    sandbox = httpx.Client(base_url=stack.config.dolthub_api_url, timeout=30)
    alice, bob = auth("alice"), auth("bob")

    # Authentication at the edge.
    assert api.get("/v1/wastelands").status_code == 401
    bad = api.get("/v1/wastelands", headers={"Authorization": "Bearer not-a-jwt"})
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "UNAUTHENTICATED"

    # Create a personal wasteland joined to the sandbox's demo commons.
    created = api.post(
        "/v1/wastelands",
        headers=alice,
        json={
            "name": "Journey",
            "owner": {"type": "user"},
            "visibility": "public",
            "upstream": "hop/wl-commons",
        },
    )
    assert created.status_code == 201, created.text
    wasteland = created.json()
    wid = wasteland["wasteland_id"]
    assert wasteland["status"] == "active"
    assert wasteland["my_role"] == "owner"
    assert wasteland["upstream"] == "hop/wl-commons"

    # Connect DoltHub: the token never comes back.
    connected = api.put(
        f"/v1/wastelands/{wid}/credential",
        headers=alice,
        json={"dolthub_token": ALICE_TOKEN, "dolthub_org": "alice"},
    )
    assert connected.status_code == 200, connected.text
    assert ALICE_TOKEN not in connected.text
    assert connected.json()["connected"] is True
    assert connected.json()["token_hint"] == ALICE_TOKEN[-4:]
    assert ALICE_TOKEN not in api.get(f"/v1/wastelands/{wid}/credential", headers=alice).text

    # Browse: the seeded open items, served from board-sync's cache.
    def open_items() -> list[dict[str, Any]]:
        resp = api.get(f"/v1/wastelands/{wid}/wanted", headers=alice, params={"status": "open"})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        return body["items"] if body["synced_at"] else []

    items = wait_for("the first board sync", open_items)
    assert len(items) >= 5
    assert all(item["status"] == "open" for item in items)
    target = items[0]["wanted_id"]

    # Claim it.
    claim = api.post(
        f"/v1/wastelands/{wid}/wanted/{target}/claim",
        headers={**alice, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert claim.status_code == 200, claim.text
    result = claim.json()
    assert result["status"] == "succeeded"
    assert result["branch"] == f"wl/alice/{target}"

    # The sandbox has the claim on alice's fork branch.
    branch = f"wl%2Falice%2F{target}"
    row = sandbox.get(
        f"/alice/wl-commons/{branch}",
        params={"q": bind("SELECT status, claimed_by FROM wanted WHERE id = ?", target)},
        headers={"authorization": f"token {ALICE_TOKEN}"},
    )
    assert row.status_code == 200, row.text
    assert row.json()["rows"] == [{"status": "claimed", "claimed_by": "alice"}]

    # The board shows it claimed (the executor refreshed board-sync after the mutation).
    detail = api.get(f"/v1/wastelands/{wid}/wanted/{target}", headers=alice)
    assert detail.status_code == 200, detail.text
    assert detail.json()["item"]["status"] == "claimed"
    assert detail.json()["item"]["claimed_by"] == "alice"
    assert detail.json()["item"]["pending"] is True  # on alice's PR until upstream merges it

    # The workload is awake.
    runtime = api.get(f"/v1/wastelands/{wid}/runtime", headers=alice)
    assert runtime.status_code == 200, runtime.text
    assert runtime.json()["state"] == "running"
    expected_version = "0.4.0" if stack.wl.real else "dev"
    assert runtime.json()["wl_version"] == expected_version

    # Bob (a signed-in user on a public wasteland) connects and tries the same item.
    bob_conn = api.put(
        f"/v1/wastelands/{wid}/credential",
        headers=bob,
        json={"dolthub_token": BOB_TOKEN, "dolthub_org": "bob"},
    )
    assert bob_conn.status_code == 200, bob_conn.text
    second = api.post(f"/v1/wastelands/{wid}/wanted/{target}/claim", headers=bob)
    assert second.status_code == 409, second.text
    assert second.json()["error"]["code"] == "ABORTED"
    assert "already claimed" in second.json()["error"]["message"]

    # The activity log has every step with its actor (a refused claim is not a step).
    log = api.get(f"/v1/wastelands/{wid}/activity", headers=bob)
    assert log.status_code == 200, log.text
    assert [(e["kind"], e["actor"]) for e in reversed(log.json()["events"])] == [
        ("created", "alice"),
        ("credential_connected", "alice"),
        ("woke", "alice"),
        ("rig_registered", "alice"),
        ("claimed", "alice"),
        ("member_added", "bob"),
        ("credential_connected", "bob"),
    ]
    assert log.json()["events"][2]["request_id"] == claim.headers["X-Request-Id"]

    # Another user's private wasteland does not exist for bob.
    private = api.post(
        "/v1/wastelands",
        headers=alice,
        json={
            "name": "Private",
            "owner": {"type": "user"},
            "visibility": "private",
            "upstream": "hop/wl-commons",
        },
    )
    assert private.status_code == 201, private.text
    pid = private.json()["wasteland_id"]
    hidden = api.get(f"/v1/wastelands/{pid}", headers=bob)
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "NOT_FOUND"
    assert api.get(f"/v1/wastelands/{pid}/wanted", headers=bob).status_code == 404

    # No secret reached any service's output.
    for proc in stack.procs:
        assert ALICE_TOKEN not in proc.text(), proc.name
        assert BOB_TOKEN not in proc.text(), proc.name


def test_make_run_demo_wasteland(stack: Stack) -> None:
    """``make run`` seeds alice's demo wasteland; its board lists the demo commons."""
    first = ensure_demo_wasteland(stack.gateway.url, DEV_JWT_SECRET)
    assert ensure_demo_wasteland(stack.gateway.url, DEV_JWT_SECRET) == first  # idempotent
    api = httpx.Client(base_url=stack.gateway.url, timeout=30, headers=auth("alice"))
    board = api.get(f"/v1/wastelands/{first}/wanted")
    assert board.status_code == 200, board.text
    assert {item["wanted_id"] for item in board.json()["items"]} >= {
        "w-demo-001",
        "w-demo-002",
        "w-demo-003",
        "w-demo-004",
        "w-demo-005",
    }
    status = api.get(f"/v1/wastelands/{first}/credential").json()
    assert status["connected"] is True
    assert status["dolthub_org"] == "alice"


def test_promises_of_the_api(stack: Stack) -> None:
    """Idempotent create, read-only site admins, permission before preconditions and
    strictly typed JWT claims, through the real services."""
    api = httpx.Client(base_url=stack.gateway.url, timeout=60)
    alice = auth("alice")
    body = {
        "name": "Promises",
        "owner": {"type": "user"},
        "visibility": "public",
        "upstream": "hop/wl-commons",
    }
    key = str(uuid.uuid4())
    first = api.post("/v1/wastelands", headers={**alice, "Idempotency-Key": key}, json=body)
    repeat = api.post("/v1/wastelands", headers={**alice, "Idempotency-Key": key}, json=body)
    assert first.status_code == repeat.status_code == 201, repeat.text
    assert repeat.json()["wasteland_id"] == first.json()["wasteland_id"]
    wid = first.json()["wasteland_id"]
    mine = api.get("/v1/wastelands", headers=alice, params={"page_size": 200}).json()
    assert sum(w["name"] == "Promises" for w in mine["wastelands"]) == 1
    reused = api.post(
        "/v1/wastelands", headers={**alice, "Idempotency-Key": key}, json={**body, "name": "X"}
    )
    assert reused.status_code == 400
    assert reused.json()["error"]["details"][0]["field"] == "Idempotency-Key"

    # A site admin reads the wasteland and changes nothing.
    root = {
        "Authorization": "Bearer " + mint_user_token("root", secret=DEV_JWT_SECRET, is_admin=True)
    }
    assert api.get(f"/v1/wastelands/{wid}", headers=root).json()["my_role"] == "viewer"
    refused = [
        api.post(f"/v1/wastelands/{wid}/join", headers=root, json={}),
        api.post(f"/v1/wastelands/{wid}/runtime:wake", headers=root),
        api.put(
            f"/v1/wastelands/{wid}/credential",
            headers=root,
            json={"dolthub_token": BOB_TOKEN, "dolthub_org": "bob"},
        ),
        api.patch(f"/v1/wastelands/{wid}", headers=root, json={"name": "Mine now"}),
    ]
    for resp in refused:
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"]["code"] == "PERMISSION_DENIED"

    # A contributor without a credential may not accept: 403 before "connect DoltHub first".
    added = api.post(
        f"/v1/wastelands/{wid}/members",
        headers=alice,
        json={"user_id": "carol", "role": "contributor", "trust_level": 1},
    )
    assert added.status_code == 201, added.text
    carol = auth("carol")
    accept = api.post(
        f"/v1/wastelands/{wid}/wanted/w-demo-001/accept",
        headers=carol,
        json={"quality": 4, "reliability": 4},
    )
    assert accept.status_code == 403, accept.text
    claim = api.post(f"/v1/wastelands/{wid}/wanted/w-demo-001/claim", headers=carol)
    assert claim.status_code == 400, claim.text
    assert "connect DoltHub first" in claim.json()["error"]["message"]

    # A string where the JWT needs a boolean is an invalid token, not an admin.
    now = int(time.time())
    stringly = jwt.encode(
        {"version": 3, "kiloUserId": "root", "isAdmin": "yes", "iat": now, "exp": now + 600},
        DEV_JWT_SECRET,
        algorithm="HS256",
    )
    resp = api.get(f"/v1/wastelands/{wid}", headers={"Authorization": f"Bearer {stringly}"})
    assert resp.status_code == 401
