"""The review inbox routes: list and read from board-sync, merge and close through the
executor, with the permission rules of the API conventions."""

from __future__ import annotations

import httpx
from wasteland.v1 import common_pb2

from .conftest import bearer
from .fakes import Backends

PULL_FIELDS = {
    "pull_id", "title", "state", "kind", "wanted_id", "author_rig", "from_branch",
    "created_at", "mergeable", "url",
}  # fmt: skip


def make_maintainer(backends: Backends, wid: str, user: str, rig: str) -> None:
    backends.registry.record_rig(wid, user, rig)
    backends.registry.members[wid][user].role = common_pb2.MEMBER_ROLE_MAINTAINER


async def test_members_and_readers_list_and_read_the_inbox(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str], bob: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice", visibility="public")
    base = f"/v1/wastelands/{wid}/pulls"
    for who in (alice, bob, bearer("root", is_admin=True)):  # owner, reader, site admin
        listed = await api.get(base, headers=who)
        assert listed.status_code == 200, listed.text
    body = listed.json()
    assert set(body) == {"pulls", "next_page_token"}
    pulls = body["pulls"]
    assert [p["pull_id"] for p in pulls] == ["10", "11", "12", "13", "14"]  # open by default
    assert all(set(p) >= PULL_FIELDS for p in pulls)
    first = pulls[1]
    assert (first["kind"], first["wanted_id"], first["author_rig"], first["state"]) == (
        "claim", "w-1", "bob", "open",
    )  # fmt: skip
    assert first["mergeable"] is True
    assert first["changes"] is None  # a listing carries no changes
    assert pulls[0]["wanted_id"] is None
    assert pulls[3]["warnings"] == [{"code": "done_not_by_claimer", "message": "bob is not carol"}]
    assert pulls[2]["stamp_subjects"] == ["alice"]

    merged = await api.get(base, headers=alice, params={"state": "merged"})
    assert [(p["pull_id"], p["state"], p["kind"]) for p in merged.json()["pulls"]] == [
        ("9", "merged", "post")
    ]
    paged = await api.get(base, headers=alice, params={"page_size": 2})
    assert [p["pull_id"] for p in paged.json()["pulls"]] == ["10", "11"]
    assert paged.json()["next_page_token"]

    one = await api.get(f"{base}/11", headers=bob)
    assert one.status_code == 200, one.text
    assert one.json()["changes"] == [
        {
            "table": "wanted",
            "key": "w-1",
            "kind": "modified",
            "before": {"id": "w-1", "status": "open", "claimed_by": None},
            "after": {"id": "w-1", "status": "claimed", "claimed_by": "bob"},
        }
    ]
    # Reading never reaches the executor (no workload wakes).
    assert backends.executor.common.calls == {}


async def test_invisible_unknown_and_malformed(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str], bob: dict[str, str]
) -> None:
    private = backends.registry.seed("alice", visibility="private")
    for path in ("pulls", "pulls/11"):
        hidden = await api.get(f"/v1/wastelands/{private}/{path}", headers=bob)
        assert hidden.status_code == 404, path
    hidden_merge = await api.post(f"/v1/wastelands/{private}/pulls/11/merge", headers=bob)
    assert hidden_merge.status_code == 404
    wid = backends.registry.seed("alice")
    assert (await api.get(f"/v1/wastelands/{wid}/pulls/77", headers=alice)).status_code == 404
    bad_state = await api.get(f"/v1/wastelands/{wid}/pulls", headers=alice, params={"state": "x"})
    assert bad_state.status_code == 400
    assert bad_state.json()["error"]["details"][0]["field"] == "state"
    bad_id = await api.get(f"/v1/wastelands/{wid}/pulls/abc", headers=alice)
    assert bad_id.status_code == 400
    bad_body = await api.post(
        f"/v1/wastelands/{wid}/pulls/11/merge", headers=alice, json={"confirm": "yes"}
    )
    assert bad_body.status_code == 400


async def test_maintainers_merge_and_close(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str], bob: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    base = f"/v1/wastelands/{wid}/pulls"
    backends.registry.connect(wid, "bob", "bob", rig="bob")  # a contributor
    for verb in ("merge", "close"):
        refused = await api.post(f"{base}/11/{verb}", headers=bob)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "PERMISSION_DENIED"

    merged = await api.post(f"{base}/11/merge", headers=alice)
    assert merged.status_code == 200, merged.text
    pull = merged.json()
    assert (pull["pull_id"], pull["state"], pull["kind"], pull["mergeable"]) == (
        "11", "merged", "claim", False,
    )  # fmt: skip
    assert pull["changes"][0]["key"] == "w-1"
    closed = await api.post(f"{base}/10/close", headers=alice)
    assert closed.status_code == 200, closed.text
    assert closed.json()["state"] == "closed"
    assert [p["pull_id"] for p in (await api.get(base, headers=alice)).json()["pulls"]] == [
        "12", "13", "14",
    ]  # fmt: skip


async def test_own_stamps_warnings_and_slow_merges(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str], bob: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    base = f"/v1/wastelands/{wid}/pulls"
    backends.registry.record_rig(wid, "alice", "alice")
    # 12 stamps alice's work: she may not merge it, whatever she confirms.
    own = await api.post(f"{base}/12/merge", headers=alice, json={"confirm": True})
    assert own.status_code == 403
    assert "your own work" in own.json()["error"]["message"]
    # bob, a maintainer, may (without a credential of his own).
    make_maintainer(backends, wid, "bob", "bob")
    assert (await api.post(f"{base}/12/merge", headers=bob)).status_code == 200

    flagged = await api.post(f"{base}/13/merge", headers=alice)
    assert flagged.status_code == 400
    assert flagged.json()["error"]["code"] == "FAILED_PRECONDITION"
    confirmed = await api.post(f"{base}/13/merge", headers=alice, json={"confirm": True})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["state"] == "merged"

    slow = await api.post(f"{base}/14/merge", headers=alice)
    assert slow.status_code == 202, slow.text
    assert (slow.json()["status"], slow.json()["kind"], slow.json()["pull_id"]) == (
        "running", "merge_pull", "14",
    )  # fmt: skip
    polled = await api.get(f"/v1/operations/{slow.json()['operation_id']}", headers=alice)
    assert polled.json()["kind"] == "merge_pull"


async def test_the_openapi_document_has_the_inbox(api: httpx.AsyncClient) -> None:
    doc = (await api.get("/openapi.json")).json()
    paths = doc["paths"]
    assert set(paths["/v1/wastelands/{wasteland_id}/pulls"]) == {"get"}
    assert set(paths["/v1/wastelands/{wasteland_id}/pulls/{pull_id}"]) == {"get"}
    merge = paths["/v1/wastelands/{wasteland_id}/pulls/{pull_id}/merge"]["post"]
    assert {"200", "202", "403", "409"} <= set(merge["responses"])
    assert "Idempotency-Key" in {p["name"] for p in merge["parameters"]}
    assert "post" in paths["/v1/wastelands/{wasteland_id}/pulls/{pull_id}/close"]
    schemas = doc["components"]["schemas"]
    assert set(schemas["Pull"]["properties"]) >= PULL_FIELDS | {"changes", "warnings"}
    assert set(schemas["PullChange"]["properties"]) == {"table", "key", "kind", "before", "after"}
