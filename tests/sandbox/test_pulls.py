"""Pull requests against the upstream: create, list with paging, detail, close, merge."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.sandbox.helpers import ALICE, BOB, HOP, Api, serving


def pr_body(branch: str, owner: str = "alice", title: str = "[wl] change") -> dict[str, str]:
    return {
        "title": title,
        "description": "body",
        "fromBranchOwnerName": owner,
        "fromBranchRepoName": "wl-commons",
        "fromBranchName": branch,
        "toBranchOwnerName": "hop",
        "toBranchRepoName": "wl-commons",
        "toBranchName": "main",
    }


def claim_on_fork(
    api: Api, item: str, owner: str = "alice", headers: dict[str, str] = ALICE
) -> str:
    branch = f"wl/{owner}/{item}"
    api.commit_write(
        owner,
        "wl-commons",
        "main",
        branch,
        f"UPDATE wanted SET claimed_by='{owner}', status='claimed' "  # noqa: S608
        f"WHERE id='{item}' AND status='open'",
        headers,
    )
    return branch


def merge_and_wait(api: Api, pull_id: str, headers: dict[str, str] = HOP) -> dict[str, Any]:
    started = api.http.post(f"/hop/wl-commons/pulls/{pull_id}/merge", headers=headers)
    assert started.status_code == 200, started.text
    operation = started.json()["operation_name"]
    assert operation.startswith("repositoryOwners/hop/repositories/wl-commons/jobs/")
    assert started.json()["user_operation_name"].startswith("users/hop-maintainer/")
    deadline = time.monotonic() + 10
    while True:
        polled = api.http.get(
            f"/hop/wl-commons/pulls/{pull_id}/merge",
            params={"operationName": operation},
            headers=headers,
        )
        assert polled.status_code == 200
        body: dict[str, Any] = polled.json()
        if body["job_status"] != "In Progress":
            return body
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_create_get_and_merge_a_fork_pull(api: Api) -> None:
    api.fork_done("alice", "hop", "wl-commons", ALICE)
    branch = claim_on_fork(api, "w-demo-001")
    created = api.http.post("/hop/wl-commons/pulls", json=pr_body(branch), headers=ALICE)
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["pull_id"] == body["_id"] == "1"
    assert body["from_owner_name"] == "alice"
    assert body["from_branch_name"] == branch
    assert body["to_owner_name"] == "hop"
    assert body["to_branch_name"] == "main"

    detail = api.http.get("/hop/wl-commons/pulls/1", headers=ALICE).json()
    assert detail["state"] == "Open"
    assert detail["from_branch_owner"] == "alice"
    assert detail["from_branch_database"] == "wl-commons"
    assert detail["from_branch"] == detail["from_branch_name"] == branch
    assert detail["to_branch_name"] == "main"
    assert detail["author"] == "alice"
    assert detail["created_at"].endswith("Z")

    # Only writers of the destination may merge.
    assert api.http.post("/hop/wl-commons/pulls/1/merge", headers=ALICE).status_code == 403
    result = merge_and_wait(api, "1")
    assert result["job_status"] == "Completed"
    assert result["job_created"] is True
    assert api.http.get("/hop/wl-commons/pulls/1").json()["state"] == "Merged"
    rows = api.rows(
        "hop", "wl-commons", "main", "SELECT status, claimed_by FROM wanted WHERE id = 'w-demo-001'"
    )
    assert rows == [{"status": "claimed", "claimed_by": "alice"}]
    again = api.http.post("/hop/wl-commons/pulls/1/merge", headers=HOP)
    assert again.status_code == 400


def test_three_way_merge_of_two_forks_and_a_conflict(api: Api) -> None:
    api.fork_done("alice", "hop", "wl-commons", ALICE)
    api.fork_done("bob", "hop", "wl-commons", BOB)
    a = claim_on_fork(api, "w-demo-002")
    b = claim_on_fork(api, "w-demo-003", "bob", BOB)
    conflicting = claim_on_fork(api, "w-demo-002", "bob", BOB)
    for branch, owner, headers in ((a, "alice", ALICE), (b, "bob", BOB), (conflicting, "bob", BOB)):
        resp = api.http.post("/hop/wl-commons/pulls", json=pr_body(branch, owner), headers=headers)
        assert resp.status_code == 200, resp.text
    assert merge_and_wait(api, "1")["job_status"] == "Completed"  # fast-forward
    assert merge_and_wait(api, "2")["job_status"] == "Completed"  # three-way
    rows = api.rows(
        "hop",
        "wl-commons",
        "main",
        "SELECT id, claimed_by FROM wanted WHERE id IN ('w-demo-002','w-demo-003') ORDER BY id",
    )
    assert rows == [
        {"id": "w-demo-002", "claimed_by": "alice"},
        {"id": "w-demo-003", "claimed_by": "bob"},
    ]
    failed = merge_and_wait(api, "3")
    assert failed["job_status"] == "Failed"
    assert failed["status"] == "Error"
    assert "conflict" in failed["message"]
    assert api.http.get("/hop/wl-commons/pulls/3").json()["state"] == "Open"


def test_create_validation_and_duplicates(api: Api) -> None:
    api.fork_done("alice", "hop", "wl-commons", ALICE)
    branch = claim_on_fork(api, "w-demo-004")
    # Bob cannot open a PR from alice's fork: he cannot write it.
    assert (
        api.http.post("/hop/wl-commons/pulls", json=pr_body(branch), headers=BOB).status_code == 403
    )
    assert api.http.post("/hop/wl-commons/pulls", json=pr_body(branch)).status_code == 401
    missing = api.http.post("/hop/wl-commons/pulls", json={"title": "x"}, headers=ALICE)
    assert missing.status_code == 400
    assert "fromBranchName" in missing.json()["message"]
    no_branch = api.http.post("/hop/wl-commons/pulls", json=pr_body("wl/alice/none"), headers=ALICE)
    assert no_branch.status_code == 400
    first = api.http.post("/hop/wl-commons/pulls", json=pr_body(branch), headers=ALICE)
    assert first.status_code == 200
    dup = api.http.post("/hop/wl-commons/pulls", json=pr_body(branch), headers=ALICE)
    assert dup.status_code == 400
    assert dup.json()["status"] == "Error"
    assert "already exists" in dup.json()["message"]
    # Unrelated databases cannot be compared.
    api.http.post(
        "/database",
        headers=ALICE,
        json={"ownerName": "alice", "repoName": "other", "visibility": "public"},
    )
    unrelated = {**pr_body("main"), "fromBranchRepoName": "other"}
    assert api.http.post("/hop/wl-commons/pulls", json=unrelated, headers=ALICE).status_code == 400


def test_close_update_and_comment(api: Api) -> None:
    api.fork_done("alice", "hop", "wl-commons", ALICE)
    branch = claim_on_fork(api, "w-demo-005")
    api.http.post("/hop/wl-commons/pulls", json=pr_body(branch), headers=ALICE)
    updated = api.http.patch(
        "/hop/wl-commons/pulls/1",
        headers=ALICE,
        json={"title": "[wl] new title", "description": "new"},
    )
    assert updated.status_code == 200
    assert updated.json()["title"] == "[wl] new title"
    assert (
        api.http.patch(
            "/hop/wl-commons/pulls/1", headers=ALICE, json={"state": "merged"}
        ).status_code
        == 400
    )
    assert (
        api.http.patch("/hop/wl-commons/pulls/1", headers=BOB, json={"state": "closed"}).status_code
        == 403
    )
    comment = api.http.post(
        "/hop/wl-commons/pulls/1/comments", headers=BOB, json={"comment": "looks good"}
    )
    assert comment.status_code == 200
    assert comment.json()["comment"] == "looks good"
    assert comment.json()["pull_id"] == "1"
    closed = api.http.patch("/hop/wl-commons/pulls/1", headers=ALICE, json={"state": "closed"})
    assert closed.status_code == 200
    assert closed.json()["state"] == "Closed"
    assert api.http.get("/hop/wl-commons/pulls/1").json()["state"] == "Closed"
    # A closed pull no longer blocks a new one from the same branch.
    reopened = api.http.post("/hop/wl-commons/pulls", json=pr_body(branch), headers=ALICE)
    assert reopened.json()["pull_id"] == "2"
    assert api.http.get("/hop/wl-commons/pulls/99").status_code == 404


def all_pulls(http: httpx.Client) -> tuple[list[dict[str, Any]], int]:
    """Every pull through the pages, and how many pages it took."""
    pulls: list[dict[str, Any]] = []
    token = ""
    pages = 0
    while True:
        params = {"pageToken": token} if token else {}
        body = http.get("/hop/wl-commons/pulls", params=params).json()
        pages += 1
        pulls.extend(body["pulls"])
        token = body["next_page_token"]
        if not token:
            return pulls, pages


def test_list_pages_through_every_pull(tmp_path: Path, seeded: Path) -> None:
    with serving(tmp_path / "data", seeded, pulls_page_size=2) as api:
        for i in range(5):
            api.commit_write(
                "hop",
                "wl-commons",
                "main",
                f"b{i}",
                f"UPDATE wanted SET priority = {i + 10} WHERE id = 'w-demo-001'",  # noqa: S608
                HOP,
            )
            body = {**pr_body(f"b{i}", "hop", title=f"pull {i}")}
            assert (
                api.http.post("/hop/wl-commons/pulls", json=body, headers=ALICE).status_code == 403
            )  # alice cannot write hop
            assert api.http.post("/hop/wl-commons/pulls", json=body, headers=HOP).status_code == 200
        pulls, pages = all_pulls(api.http)
        assert pages == 3
        assert [p["pull_id"] for p in pulls] == ["5", "4", "3", "2", "1"]
        assert set(pulls[0]) == {
            "pull_id",
            "title",
            "description",
            "state",
            "created_at",
            "creator",
        }
        assert pulls[0]["creator"] == "hop-maintainer"
        assert pulls[0]["state"] == "Open"
        bad = api.http.get("/hop/wl-commons/pulls", params={"pageToken": "garbage!"})
        assert bad.status_code == 400
