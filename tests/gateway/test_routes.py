"""Every route of api.md, its JSON shape and its happy path against the fake backends."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import grpc
import httpx
import pytest
from wasteland.v1 import activity_pb2, board_pb2, common_pb2

from .conftest import AppFactory
from .fakes import T0_TEXT, Backends, Fault, ts

# (method, path) of every route in design/api.md.
API_ROUTES = [
    ("post", "/v1/wastelands"),
    ("get", "/v1/wastelands"),
    ("get", "/v1/wastelands/{wasteland_id}"),
    ("patch", "/v1/wastelands/{wasteland_id}"),
    ("delete", "/v1/wastelands/{wasteland_id}"),
    ("put", "/v1/wastelands/{wasteland_id}/credential"),
    ("get", "/v1/wastelands/{wasteland_id}/credential"),
    ("delete", "/v1/wastelands/{wasteland_id}/credential"),
    ("get", "/v1/wastelands/{wasteland_id}/members"),
    ("post", "/v1/wastelands/{wasteland_id}/members"),
    ("patch", "/v1/wastelands/{wasteland_id}/members/{user_id}"),
    ("delete", "/v1/wastelands/{wasteland_id}/members/{user_id}"),
    ("post", "/v1/wastelands/{wasteland_id}/join"),
    ("get", "/v1/wastelands/{wasteland_id}/rigs"),
    ("get", "/v1/wastelands/{wasteland_id}/wanted"),
    ("get", "/v1/wastelands/{wasteland_id}/wanted/{wanted_id}"),
    ("get", "/v1/wastelands/{wasteland_id}/wanted:counts"),
    ("get", "/v1/wastelands/{wasteland_id}/completions"),
    ("get", "/v1/wastelands/{wasteland_id}/events"),
    ("get", "/v1/wastelands/{wasteland_id}/activity"),
    ("post", "/v1/wastelands/{wasteland_id}/wanted"),
    ("post", "/v1/wastelands/{wasteland_id}/wanted/{wanted_id}/claim"),
    ("post", "/v1/wastelands/{wasteland_id}/wanted/{wanted_id}/unclaim"),
    ("post", "/v1/wastelands/{wasteland_id}/wanted/{wanted_id}/done"),
    ("post", "/v1/wastelands/{wasteland_id}/wanted/{wanted_id}/accept"),
    ("post", "/v1/wastelands/{wasteland_id}/wanted/{wanted_id}/reject"),
    ("post", "/v1/wastelands/{wasteland_id}/wanted/{wanted_id}/close"),
    ("post", "/v1/wastelands/{wasteland_id}/sync"),
    ("get", "/v1/wastelands/{wasteland_id}/pulls"),
    ("get", "/v1/wastelands/{wasteland_id}/pulls/{pull_id}"),
    ("post", "/v1/wastelands/{wasteland_id}/pulls/{pull_id}/merge"),
    ("post", "/v1/wastelands/{wasteland_id}/pulls/{pull_id}/close"),
    ("get", "/v1/operations/{operation_id}"),
    ("get", "/v1/wastelands/{wasteland_id}/runtime"),
    ("post", "/v1/wastelands/{wasteland_id}/runtime:wake"),
    ("post", "/v1/wastelands/{wasteland_id}/towns"),
    ("get", "/v1/wastelands/{wasteland_id}/towns"),
    ("delete", "/v1/wastelands/{wasteland_id}/towns/{town_id}"),
    ("get", "/healthz"),
    ("get", "/readyz"),
]

WASTELAND_FIELDS = {
    "wasteland_id", "name", "owner", "visibility", "upstream", "status", "created_at",
    "updated_at", "my_role", "runtime_state",
}  # fmt: skip
CREDENTIAL_FIELDS = {
    "connected",
    "dolthub_org",
    "rig_handle",
    "token_hint",
    "connected_at",
    "fork_behind",
    "fork_checked_at",
}
MEMBER_FIELDS = {"user_id", "role", "trust_level", "rig_handle", "joined_at", "source"}
RIG_FIELDS = {"handle", "display_name", "rig_type", "parent_rig", "trust_level", "registered_at"}
WANTED_FIELDS = {
    "wanted_id", "title", "description", "project", "type", "priority", "tags", "posted_by",
    "claimed_by", "status", "effort_level", "sandbox_required", "sandbox_scope",
    "sandbox_min_tier", "created_at", "updated_at",
}  # fmt: skip
OPERATION_FIELDS = {
    "operation_id", "status", "kind", "wanted_id", "item", "branch", "pull_request_url", "error",
}  # fmt: skip
RUNTIME_FIELDS = {"state", "last_activity_at", "wl_version", "started_at"}
ACTIVITY_FIELDS = {
    "event_id", "kind", "actor", "wanted_id", "pull_id", "detail", "request_id", "at",
}  # fmt: skip


def resolve(ref: str, doc: dict[str, Any]) -> dict[str, Any]:
    name = ref.rsplit("/", 1)[-1]
    schema: dict[str, Any] = doc["components"]["schemas"][name]
    return schema


async def test_openapi_lists_every_route_with_real_schemas(api: httpx.AsyncClient) -> None:
    resp = await api.get("/openapi.json")
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["openapi"].startswith("3.1")
    listed = {(m, p) for p, item in doc["paths"].items() for m in item}
    missing = [r for r in API_ROUTES if r not in listed]
    assert missing == []
    schemas = doc["components"]["schemas"]
    assert set(schemas["Wasteland"]["properties"]) >= WASTELAND_FIELDS
    assert set(schemas["WantedItem"]["properties"]) >= WANTED_FIELDS
    assert set(schemas["OperationResult"]["properties"]) >= OPERATION_FIELDS
    assert set(schemas["Activity"]["properties"]) == ACTIVITY_FIELDS
    assert len(schemas["Activity"]["properties"]["kind"]["enum"]) == 20
    # Requests carry their schema; errors use the envelope, not FastAPI's 422.
    create = doc["paths"]["/v1/wastelands"]["post"]
    body_ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert {"name", "owner", "visibility"} <= set(resolve(body_ref, doc)["properties"])
    claim = doc["paths"]["/v1/wastelands/{wasteland_id}/wanted/{wanted_id}/claim"]["post"]
    assert "422" not in claim["responses"]
    error_ref = claim["responses"]["409"]["content"]["application/json"]["schema"]["$ref"]
    assert set(resolve(error_ref, doc)["properties"]) == {"error"}
    assert "202" in claim["responses"]
    params = {p["name"] for p in claim["parameters"]}
    assert "Idempotency-Key" in params
    events = doc["paths"]["/v1/wastelands/{wasteland_id}/events"]["get"]
    assert "text/event-stream" in events["responses"]["200"]["content"]
    assert "HTTPValidationError" not in schemas


async def test_wasteland_crud(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str], bob: dict[str, str]
) -> None:
    created = await api.post(
        "/v1/wastelands",
        headers=alice,
        json={"name": "Demo", "owner": {"type": "user"}, "visibility": "private",
              "upstream": "hop/wl-commons"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) >= WASTELAND_FIELDS
    assert body["name"] == "Demo"
    assert body["owner"] == {"type": "user", "user_id": "alice", "org_id": None}
    assert body["visibility"] == "private"
    assert body["status"] == "active"
    assert body["my_role"] == "owner"
    assert body["runtime_state"] == "running"
    assert body["upstream"] == "hop/wl-commons"
    assert body["created_at"] == T0_TEXT
    wid = body["wasteland_id"]

    got = await api.get(f"/v1/wastelands/{wid}", headers=alice)
    assert got.status_code == 200
    assert got.json() == body

    listed = await api.get("/v1/wastelands", headers=alice)
    assert listed.status_code == 200
    assert [w["wasteland_id"] for w in listed.json()["wastelands"]] == [wid]
    assert listed.json()["next_page_token"] == ""

    # Another user's private wasteland does not exist for them (404, not 403).
    hidden = await api.get(f"/v1/wastelands/{wid}", headers=bob)
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "NOT_FOUND"
    for path in ("wanted", "wanted:counts", "wanted/w-1", "rigs", "completions", "runtime"):
        assert (await api.get(f"/v1/wastelands/{wid}/{path}", headers=bob)).status_code == 404

    patched = await api.patch(
        f"/v1/wastelands/{wid}", headers=alice, json={"name": "Renamed", "visibility": "public"}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Renamed"
    assert patched.json()["visibility"] == "public"

    # Now public: bob sees it, as a viewer.
    seen = await api.get(f"/v1/wastelands/{wid}", headers=bob)
    assert seen.status_code == 200
    assert seen.json()["my_role"] == "viewer"
    assert (await api.delete(f"/v1/wastelands/{wid}", headers=bob)).status_code == 403

    await api.post(f"/v1/wastelands/{wid}/runtime:wake", headers=alice)
    deleted = await api.delete(f"/v1/wastelands/{wid}", headers=alice)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await api.get(f"/v1/wastelands/{wid}", headers=alice)).status_code == 404


async def test_credential_never_returns_the_token(
    api: httpx.AsyncClient,
    backends: Backends,
    alice: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wid = backends.registry.seed("alice")
    none = await api.get(f"/v1/wastelands/{wid}/credential", headers=alice)
    assert none.status_code == 200
    assert none.json()["connected"] is False

    token = "dolthub-secret-token-wxyz"
    put = await api.put(
        f"/v1/wastelands/{wid}/credential",
        headers=alice,
        json={"dolthub_token": token, "dolthub_org": "alice", "rig_handle": "alice-rig"},
    )
    assert put.status_code == 200, put.text
    assert token not in put.text
    assert set(put.json()) >= CREDENTIAL_FIELDS
    assert put.json() == {
        "connected": True,
        "dolthub_org": "alice",
        "rig_handle": "alice-rig",
        "token_hint": "wxyz",
        "connected_at": T0_TEXT,
        "fork_behind": None,
        "fork_checked_at": None,
    }
    got = await api.get(f"/v1/wastelands/{wid}/credential", headers=alice)
    assert got.json() == put.json()
    assert token not in got.text

    # The registry rejects a token DoltHub refuses: 400 naming the field, no token echoed.
    bad = await api.put(
        f"/v1/wastelands/{wid}/credential",
        headers=alice,
        json={"dolthub_token": "bad-token-1234", "dolthub_org": "alice"},
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "INVALID_ARGUMENT"
    assert bad.json()["error"]["details"] == [
        {"field": "dolthub_token", "description": "DoltHub rejected the token"}
    ]
    assert "bad-token-1234" not in bad.text

    assert (await api.delete(f"/v1/wastelands/{wid}/credential", headers=alice)).status_code == 204
    after = await api.get(f"/v1/wastelands/{wid}/credential", headers=alice)
    assert after.json()["connected"] is False
    assert token not in caplog.text
    assert alice["Authorization"].split()[1] not in caplog.text


async def test_members(api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]) -> None:
    wid = backends.registry.seed("alice")
    added = await api.post(
        f"/v1/wastelands/{wid}/members",
        headers=alice,
        json={"user_id": "carol", "role": "maintainer", "trust_level": 2},
    )
    assert added.status_code == 201, added.text
    assert added.json() == {
        "user_id": "carol",
        "role": "maintainer",
        "trust_level": 2,
        "rig_handle": None,
        "joined_at": T0_TEXT,
        "source": "explicit",
    }
    again = await api.post(
        f"/v1/wastelands/{wid}/members",
        headers=alice,
        json={"user_id": "carol", "role": "maintainer", "trust_level": 2},
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "ALREADY_EXISTS"

    patched = await api.patch(
        f"/v1/wastelands/{wid}/members/carol", headers=alice, json={"trust_level": 3}
    )
    assert patched.status_code == 200
    assert patched.json()["trust_level"] == 3
    assert patched.json()["role"] == "maintainer"

    listed = await api.get(f"/v1/wastelands/{wid}/members", headers=alice)
    assert listed.status_code == 200
    members = listed.json()["members"]
    assert all(set(m) >= MEMBER_FIELDS for m in members)
    assert {m["user_id"]: m["role"] for m in members} == {"alice": "owner", "carol": "maintainer"}
    assert listed.json()["next_page_token"] == ""

    itself = await api.delete(f"/v1/wastelands/{wid}/members/alice", headers=alice)
    assert itself.status_code == 400
    assert itself.json()["error"]["code"] == "FAILED_PRECONDITION"
    assert (
        await api.delete(f"/v1/wastelands/{wid}/members/carol", headers=alice)
    ).status_code == 204


async def test_join_answers_the_member_with_its_rig(
    api: httpx.AsyncClient, backends: Backends, bob: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    backends.registry.connect(wid, "bob", "bob")
    joined = await api.post(
        f"/v1/wastelands/{wid}/join",
        headers=bob,
        json={"rig_handle": "bobs-rig", "display_name": "Bob", "owner_email": "bob@example.com"},
    )
    assert joined.status_code == 200, joined.text
    assert set(joined.json()) >= MEMBER_FIELDS
    assert joined.json()["user_id"] == "bob"
    assert joined.json()["rig_handle"] == "bobs-rig"
    assert joined.json()["role"] == "contributor"
    # A body is optional.
    again = await api.post(f"/v1/wastelands/{wid}/join", headers=bob)
    assert again.status_code == 200, again.text


async def test_join_still_running_answers_202(
    api: httpx.AsyncClient, backends: Backends, bob: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    backends.registry.connect(wid, "bob", "bob")
    resp = await api.post(
        f"/v1/wastelands/{wid}/join", headers=bob, json={"rig_handle": "slow-rig"}
    )
    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] == "running"
    assert resp.json()["kind"] == "join"
    assert resp.json()["operation_id"]


async def test_join_without_credential_says_connect_first(
    api: httpx.AsyncClient, backends: Backends, bob: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    resp = await api.post(f"/v1/wastelands/{wid}/join", headers=bob, json={})
    assert resp.status_code == 400
    assert resp.json()["error"] == {
        "code": "FAILED_PRECONDITION",
        "message": "connect DoltHub first",
        "details": [],
    }


async def test_upstream_credential_and_fork_sync(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    backends.registry.connect(wid, "alice", "alice")
    url = f"/v1/wastelands/{wid}/upstream-credential"
    assert (await api.get(url, headers=alice)).json() == {
        "connected": False, "dolthub_user": None, "token_hint": None, "connected_at": None,
    }  # fmt: skip
    no_sync = await api.post(f"/v1/wastelands/{wid}/sync", headers=alice)
    assert no_sync.status_code == 400
    assert no_sync.json()["error"]["code"] == "FAILED_PRECONDITION"

    refused = await api.put(url, headers=alice, json={"dolthub_token": "reader-1234"})
    assert refused.status_code == 400
    assert "reader-1234" not in refused.text
    put = await api.put(url, headers=alice, json={"dolthub_token": "writer-token-9876"})
    assert put.status_code == 200, put.text
    assert put.json() == {
        "connected": True, "dolthub_user": "hop", "token_hint": "9876", "connected_at": T0_TEXT,
    }  # fmt: skip
    assert "writer-token" not in put.text
    assert (await api.get(url, headers=alice)).json() == put.json()

    synced = await api.post(f"/v1/wastelands/{wid}/sync", headers=alice)
    assert synced.status_code == 200, synced.text
    assert synced.json()["fork_sync"] == {
        "fork_behind_before": True,
        "fork_behind_after": False,
        "pull_request_url": "https://www.dolthub.com/repositories/alice/wl-commons/pulls/1",
        "branches_removed": ["wl/alice/w-1"],
    }
    assert (await api.delete(url, headers=alice)).status_code == 204
    assert (await api.get(url, headers=alice)).json()["connected"] is False


async def test_rigs_and_towns(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    rigs = await api.get(f"/v1/wastelands/{wid}/rigs", headers=alice)
    assert rigs.status_code == 200
    assert all(set(r) >= RIG_FIELDS for r in rigs.json()["rigs"])
    assert rigs.json()["rigs"][1]["parent_rig"] == "alice"
    assert rigs.json()["rigs"][0]["parent_rig"] is None

    backends.registry.connect(wid, "alice", "alice")
    town = await api.post(
        f"/v1/wastelands/{wid}/towns",
        headers=alice,
        json={"town_id": "town-1", "rig_handle": "alice-town", "owner_email": "a@example.com"},
    )
    assert town.status_code == 201, town.text
    assert town.json()["town_id"] == "town-1"
    assert town.json()["rig_handle"] == "alice-town"
    assert town.json()["connected_by"] == "alice"
    assert town.json()["pull_request_url"].endswith("/pulls/op-1")
    listed = await api.get(f"/v1/wastelands/{wid}/towns", headers=alice)
    assert [t["town_id"] for t in listed.json()["towns"]] == ["town-1"]
    assert listed.json()["towns"][0]["pull_request_url"] == town.json()["pull_request_url"]
    # A registration DoltHub refuses leaves no town behind.
    refused = await api.post(
        f"/v1/wastelands/{wid}/towns",
        headers=alice,
        json={"town_id": "town-2", "rig_handle": "taken-town", "owner_email": "a@example.com"},
    )
    assert refused.status_code == 409, refused.text
    listed = await api.get(f"/v1/wastelands/{wid}/towns", headers=alice)
    assert [t["town_id"] for t in listed.json()["towns"]] == ["town-1"]
    gone = await api.delete(f"/v1/wastelands/{wid}/towns/town-1", headers=alice)
    assert gone.status_code == 204
    missing = await api.delete(f"/v1/wastelands/{wid}/towns/town-1", headers=alice)
    assert missing.status_code == 404


async def test_browse_filters_pages_and_reports_sync(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    resp = await api.get(f"/v1/wastelands/{wid}/wanted", headers=alice, params={"status": "open"})
    assert resp.status_code == 200, resp.text
    page = resp.json()
    assert {i["wanted_id"] for i in page["items"]} == {"w-1", "w-2", "w-4"}
    assert page["synced_at"] == "2023-11-14T22:18:20Z"
    assert page["stale"] is False
    assert page["next_page_token"] == ""
    item = page["items"][0]
    assert set(item) >= WANTED_FIELDS
    assert item["tags"] == ["go", "cli"]
    assert item["sandbox_required"] is False
    assert item["claimed_by"] is None

    typed = await api.get(
        f"/v1/wastelands/{wid}/wanted", headers=alice, params={"type": "bug", "priority": "1"}
    )
    assert [i["wanted_id"] for i in typed.json()["items"]] == ["w-1"]

    first = await api.get(f"/v1/wastelands/{wid}/wanted", headers=alice, params={"page_size": 2})
    assert len(first.json()["items"]) == 2
    token = first.json()["next_page_token"]
    assert token
    rest = await api.get(
        f"/v1/wastelands/{wid}/wanted", headers=alice, params={"page_size": 2, "page_token": token}
    )
    assert [i["wanted_id"] for i in rest.json()["items"]] == ["w-3", "w-4"]


async def test_browse_mine_uses_the_callers_rig(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    wid = backends.registry.seed("bob")
    empty = await api.get(f"/v1/wastelands/{wid}/wanted", headers=alice, params={"mine": "true"})
    assert empty.status_code == 200
    assert empty.json()["items"] == []
    backends.registry.connect(wid, "alice", "alice", rig="alice")
    mine = await api.get(f"/v1/wastelands/{wid}/wanted", headers=alice, params={"mine": "true"})
    assert {i["wanted_id"] for i in mine.json()["items"]} == {"w-3", "w-4"}
    everything = await api.get(
        f"/v1/wastelands/{wid}/wanted", headers=alice, params={"mine": "false"}
    )
    assert len(everything.json()["items"]) == 5


async def test_item_detail_counts_and_completions(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    detail = await api.get(f"/v1/wastelands/{wid}/wanted/w-3", headers=alice)
    assert detail.status_code == 200
    assert detail.json()["item"]["claimed_by"] == "alice"
    assert detail.json()["completions"][0]["completion_id"] == "c-1"
    assert detail.json()["stamps"][0]["quality"] == 4
    assert (await api.get(f"/v1/wastelands/{wid}/wanted/w-404", headers=alice)).status_code == 404

    counts = await api.get(f"/v1/wastelands/{wid}/wanted:counts", headers=alice)
    assert counts.status_code == 200, counts.text
    assert counts.json() == {
        "by_status": {"open": 3, "claimed": 1, "in_review": 0, "completed": 0, "withdrawn": 1}
    }
    completions = await api.get(
        f"/v1/wastelands/{wid}/completions", headers=alice, params={"status": "pending"}
    )
    assert completions.status_code == 200
    assert completions.json()["completions"][0]["evidence"] == "https://example.com/pr/1"


async def test_actions_run_through_the_executor(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    backends.registry.connect(wid, "alice", "alice", rig="alice")
    base = f"/v1/wastelands/{wid}"

    posted = await api.post(
        f"{base}/wanted",
        headers=alice,
        json={"title": "New thing", "type": "bug", "priority": 1, "tags": ["x"],
              "description": "Long text\nwith lines"},
    )  # fmt: skip
    assert posted.status_code == 200, posted.text
    result = posted.json()
    assert set(result) >= OPERATION_FIELDS
    assert result["status"] == "succeeded"
    assert result["kind"] == "post"
    assert result["item"]["title"] == "New thing"
    assert result["item"]["type"] == "bug"
    assert result["item"]["priority"] == 1
    assert result["item"]["tags"] == ["x"]
    assert result["error"] is None

    claim = await api.post(f"{base}/wanted/w-1/claim", headers=alice)
    assert claim.status_code == 200
    assert claim.json()["branch"] == "wl/alice/w-1"
    assert claim.json()["kind"] == "claim"

    done = await api.post(
        f"{base}/wanted/w-1/done", headers=alice, json={"evidence": "https://github.com/x/y/pull/1"}
    )
    assert done.status_code == 200, done.text
    assert done.json()["item"]["evidence_url"] == "https://github.com/x/y/pull/1"
    assert done.json()["item"]["status"] == "in_review"

    accept = await api.post(
        f"{base}/wanted/w-1/accept",
        headers=alice,
        json={"quality": 4, "reliability": 5, "severity": "branch", "skill_tags": ["go"]},
    )
    assert accept.status_code == 200, accept.text
    assert accept.json()["kind"] == "accept"
    for path, kind in (("unclaim", "unclaim"), ("reject", "reject"), ("close", "close")):
        resp = await api.post(f"{base}/wanted/w-1/{path}", headers=alice)
        assert resp.status_code == 200, resp.text
        assert resp.json()["kind"] == kind
    rejected = await api.post(f"{base}/wanted/w-1/reject", headers=alice, json={"reason": "no"})
    assert rejected.status_code == 200
    backends.registry.upstream[wid] = common_pb2.UpstreamCredentialStatus(connected=True)
    synced = await api.post(f"{base}/sync", headers=alice)
    assert synced.status_code == 200
    assert synced.json()["kind"] == "sync"


async def test_action_errors(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str], bob: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    backends.registry.connect(wid, "alice", "alice")
    base = f"/v1/wastelands/{wid}/wanted"

    taken = await api.post(f"{base}/w-3/claim", headers=alice)
    assert taken.status_code == 409
    assert taken.headers["RateLimit-Policy"] == "10;w=60"  # counted, and said so
    assert taken.json()["error"]["code"] == "ABORTED"
    assert "already claimed" in taken.json()["error"]["message"]

    failed = await api.post(f"{base}/w-failed/claim", headers=alice)
    assert failed.status_code == 409
    assert failed.json()["error"] == {
        "code": "ABORTED",
        "message": "already claimed",
        "details": [],
    }

    unconnected = await api.post(f"{base}/w-1/claim", headers=bob)
    assert unconnected.status_code == 400
    assert unconnected.json()["error"]["code"] == "FAILED_PRECONDITION"
    assert unconnected.json()["error"]["message"] == "connect DoltHub first"

    down = await api.post(f"{base}/w-down/claim", headers=alice)
    assert down.status_code == 503
    assert down.headers["Retry-After"] == "17"
    assert down.json()["error"]["code"] == "UNAVAILABLE"


async def test_running_operation_answers_202_then_polls(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    backends.registry.connect(wid, "alice", "alice")
    slow = await api.post(f"/v1/wastelands/{wid}/wanted/w-slow/claim", headers=alice)
    assert slow.status_code == 202, slow.text
    assert slow.json()["status"] == "running"
    op = slow.json()["operation_id"]
    assert op

    polled = await api.get(f"/v1/operations/{op}", headers=alice)
    assert polled.status_code == 200
    assert polled.json()["status"] == "running"
    backends.executor.finish(op)
    polled = await api.get(f"/v1/operations/{op}", headers=alice)
    assert polled.json()["status"] == "succeeded"
    assert (await api.get("/v1/operations/op-nope", headers=alice)).status_code == 404


async def test_idempotency_key_reaches_the_executor(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    backends.registry.connect(wid, "alice", "alice")
    url = f"/v1/wastelands/{wid}/wanted/w-1/claim"
    key = str(uuid.uuid4())
    first = await api.post(url, headers={**alice, "Idempotency-Key": key})
    repeat = await api.post(url, headers={**alice, "Idempotency-Key": key})
    other = await api.post(url, headers={**alice, "Idempotency-Key": str(uuid.uuid4())})
    assert first.status_code == repeat.status_code == other.status_code == 200
    assert repeat.json()["operation_id"] == first.json()["operation_id"]
    assert other.json()["operation_id"] != first.json()["operation_id"]

    garbage = await api.post(url, headers={**alice, "Idempotency-Key": "not a key!"})
    assert garbage.status_code == 400
    assert garbage.json()["error"]["details"][0]["field"] == "Idempotency-Key"
    too_long = await api.post(url, headers={**alice, "Idempotency-Key": "k" * 201})
    assert too_long.status_code == 400


async def test_runtime(api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]) -> None:
    wid = backends.registry.seed("alice")
    asleep = await api.get(f"/v1/wastelands/{wid}/runtime", headers=alice)
    assert asleep.status_code == 200
    assert set(asleep.json()) >= RUNTIME_FIELDS
    assert asleep.json()["state"] == "sleeping"
    assert asleep.json()["started_at"] is None
    woke = await api.post(f"/v1/wastelands/{wid}/runtime:wake", headers=alice)
    assert woke.status_code == 202
    assert woke.json()["state"] == "starting"
    assert woke.json()["wl_version"] == "0.9.1"
    awake = await api.get(f"/v1/wastelands/{wid}/runtime", headers=alice)
    assert awake.json()["state"] == "starting"


def sse_events(text: str) -> list[dict[str, str]]:
    """The events of a server-sent event stream, each as its fields."""
    found = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":")
        )
        if fields:
            found.append(fields)
    return found


def logged(wid: str, n: int, kind: Any = activity_pb2.ACTIVITY_KIND_CLAIMED, **more: Any) -> Any:
    values: dict[str, Any] = {
        "event_id": f"ev-{n}",
        "wasteland_id": wid,
        "kind": kind,
        "actor": "alice",
        "wanted_id": "w-1",
        "detail": f"entry {n}",
        "request_id": f"req-{n}",
        "at": ts(),
        **more,
    }
    return activity_pb2.Activity(**values)


async def test_events_stream_board_changes_and_activity(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    backends.activity.stream = [
        activity_pb2.WastelandEvent(
            cursor="41",
            board=board_pb2.BoardEvent(
                wasteland_id=wid, wanted_id="w-1", status="claimed", observed_at=ts()
            ),
        ),
        activity_pb2.WastelandEvent(cursor="42", activity=logged(wid, 1, pull_id="7")),
        # A kind this gateway does not know yet is left out, not shown wrongly.
        activity_pb2.WastelandEvent(cursor="43", activity=logged(wid, 2, kind=99)),
        activity_pb2.WastelandEvent(
            cursor="44",
            board=board_pb2.BoardEvent(wasteland_id=wid, wanted_id="w-2", status="in_review"),
        ),
    ]
    resp = await api.get(f"/v1/wastelands/{wid}/events", headers=alice)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = sse_events(resp.text)
    assert [(e["event"], e["id"]) for e in events] == [
        ("board", "41"),
        ("activity", "42"),
        ("board", "44"),
    ]
    data = [json.loads(e["data"]) for e in events]
    assert data[0] == {"wanted_id": "w-1", "status": "claimed", "observed_at": T0_TEXT}
    assert data[1] == {
        "event_id": "ev-1",
        "kind": "claimed",
        "actor": "alice",
        "wanted_id": "w-1",
        "pull_id": "7",
        "detail": "entry 1",
        "request_id": "req-1",
        "at": T0_TEXT,
    }
    assert (data[2]["wanted_id"], data[2]["status"]) == ("w-2", "in_review")
    assert backends.activity.watches[-1].after == ""

    # A reconnecting client resumes after the last event it saw.
    resumed = await api.get(
        f"/v1/wastelands/{wid}/events", headers={**alice, "Last-Event-ID": "42"}
    )
    assert resumed.status_code == 200
    assert backends.activity.watches[-1].after == "42"
    bad = await api.get(f"/v1/wastelands/{wid}/events", headers={**alice, "Last-Event-ID": "x"})
    assert bad.status_code == 400
    assert bad.json()["error"]["details"][0]["field"] == "Last-Event-ID"

    private = backends.registry.seed("bob", visibility="private")
    assert (await api.get(f"/v1/wastelands/{private}/events", headers=alice)).status_code == 404
    assert len(backends.activity.watches) == 2


async def test_events_answer_board_syncs_refusal_not_an_empty_stream(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    backends.activity.common.faults["WatchEvents"] = Fault(code=grpc.StatusCode.UNAVAILABLE)
    resp = await api.get(f"/v1/wastelands/{wid}/events", headers=alice)
    assert resp.status_code == 503, resp.text
    assert resp.json()["error"]["code"] == "UNAVAILABLE"


async def test_activity_pages_newest_first_for_readers(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str], bob: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    backends.activity.entries = [
        logged(wid, 1, kind=activity_pb2.ACTIVITY_KIND_CREATED, wanted_id=""),
        logged(wid, 2),
        logged(wid, 3, kind=activity_pb2.ACTIVITY_KIND_DONE, actor="service:executor"),
        logged("elsewhere", 4),
    ]
    first = await api.get(f"/v1/wastelands/{wid}/activity", headers=alice, params={"page_size": 2})
    assert first.status_code == 200, first.text
    body = first.json()
    assert [e["event_id"] for e in body["events"]] == ["ev-3", "ev-2"]
    assert set(body["events"][0]) == ACTIVITY_FIELDS
    assert body["events"][0]["actor"] == "service:executor"
    assert body["events"][0]["at"] == T0_TEXT
    rest = await api.get(
        f"/v1/wastelands/{wid}/activity",
        headers=alice,
        params={"page_size": 2, "page_token": body["next_page_token"]},
    )
    assert [e["event_id"] for e in rest.json()["events"]] == ["ev-1"]
    assert rest.json()["events"][0]["wanted_id"] is None
    assert rest.json()["next_page_token"] == ""
    done = await api.get(f"/v1/wastelands/{wid}/activity", headers=alice, params={"kind": "done"})
    assert [e["kind"] for e in done.json()["events"]] == ["done"]

    unknown = await api.get(
        f"/v1/wastelands/{wid}/activity", headers=alice, params={"kind": "exploded"}
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"]["details"][0]["field"] == "kind"
    too_big = await api.get(
        f"/v1/wastelands/{wid}/activity", headers=alice, params={"page_size": 201}
    )
    assert too_big.status_code == 400
    # A reader of a public wasteland reads it; a private one does not exist for others.
    public = backends.registry.seed("alice", visibility="public")
    assert (await api.get(f"/v1/wastelands/{public}/activity", headers=bob)).status_code == 200
    private = backends.registry.seed("alice", visibility="private")
    hidden = await api.get(f"/v1/wastelands/{private}/activity", headers=bob)
    assert hidden.status_code == 404


async def test_request_id_is_echoed_generated_and_forwarded(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    sent = await api.get(f"/v1/wastelands/{wid}", headers={**alice, "X-Request-Id": "req-123"})
    assert sent.headers["X-Request-Id"] == "req-123"
    assert backends.registry.common.request_ids[-1] == "req-123"

    made = await api.get(f"/v1/wastelands/{wid}", headers=alice)
    generated = made.headers["X-Request-Id"]
    assert generated
    assert generated != "req-123"
    assert backends.registry.common.request_ids[-1] == generated

    odd = await api.get("/healthz", headers={"X-Request-Id": "bad id\twith spaces"})
    assert odd.headers["X-Request-Id"] != "bad id\twith spaces"
    # Errors carry it too.
    unauth = await api.get("/v1/wastelands", headers={"X-Request-Id": "req-err"})
    assert unauth.status_code == 401
    assert unauth.headers["X-Request-Id"] == "req-err"


async def test_health_and_readiness(
    make_app: AppFactory, backends: Backends, tmp_path: Any
) -> None:
    _, api = await make_app()
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"
    assert set(ready.json()["checks"]) == {"registry", "board-sync", "executor", "database"}

    from tests.support.ports import free_port

    _, broken = await make_app(
        f"sqlite+pysqlite:///{tmp_path / 'other.db'}", EXECUTOR_ADDR=f"127.0.0.1:{free_port()}"
    )
    down = await broken.get("/readyz")
    assert down.status_code == 503
    assert down.json()["checks"]["executor"] == "unavailable"
    assert down.json()["checks"]["registry"] == "serving"


async def test_unexpected_errors_answer_the_internal_envelope(
    make_app: AppFactory, alice: dict[str, str]
) -> None:
    app, api = await make_app()

    async def boom() -> None:
        raise RuntimeError("kaboom with a secret dhat.v1.secretsecret")

    app.add_api_route("/v1/boom", boom)
    resp = await api.get("/v1/boom", headers={**alice, "X-Request-Id": "req-boom"})
    assert resp.status_code == 500
    assert resp.json() == {
        "error": {"code": "INTERNAL", "message": "internal error", "details": []}
    }
    assert resp.headers["X-Request-Id"] == "req-boom"
    assert "kaboom" not in resp.text


async def test_unknown_route_and_method_use_the_envelope(
    api: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    missing = await api.get("/v1/nope", headers=alice)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    wrong = await api.put("/v1/wastelands", headers=alice)
    assert wrong.status_code == 405
    assert "error" in wrong.json()


async def test_cors_when_configured(make_app: AppFactory, tmp_path: Any) -> None:
    _, api = await make_app(CORS_ORIGINS="https://app.kilo.ai, https://other.example")
    pre = await api.options(
        "/v1/wastelands",
        headers={
            "Origin": "https://app.kilo.ai",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,idempotency-key",
        },
    )
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == "https://app.kilo.ai"
    other = await api.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
