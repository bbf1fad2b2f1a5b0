"""Branch endpoints, database creation and forks."""

from __future__ import annotations

from pathlib import Path

from tests.sandbox.helpers import ALICE, BOB, HOP, Api, FakeClock, serving


def test_branch_create_list_delete(api: Api) -> None:
    created = api.http.post(
        "/hop/wl-commons/branches",
        headers=HOP,
        json={"revisionType": "branch", "revisionName": "main", "newBranchName": "wl/hop/w-1"},
    )
    assert created.status_code == 200, created.text
    assert created.json() == {
        "status": "Success",
        "database_owner": "hop",
        "database_name": "wl-commons",
        "new_branch_name": "wl/hop/w-1",
        "revision_type": "branch",
        "revision_name": "main",
    }
    head = api.head("hop", "wl-commons", "main")
    by_commit = api.http.post(
        "/hop/wl-commons/branches",
        headers=HOP,
        json={"revisionType": "commit", "revisionName": head, "newBranchName": "at-commit"},
    )
    assert by_commit.status_code == 200, by_commit.text

    listed = api.http.get("/hop/wl-commons/branches")
    assert listed.status_code == 200
    assert listed.json()["database_owner"] == "hop"
    assert [b["branch_name"] for b in listed.json()["branches"]] == [
        "at-commit",
        "main",
        "wl/hop/w-1",
    ]

    again = api.http.post(
        "/hop/wl-commons/branches",
        headers=HOP,
        json={"revisionType": "branch", "revisionName": "main", "newBranchName": "wl/hop/w-1"},
    )
    assert again.status_code == 400
    assert "already exists" in again.json()["message"]

    deleted = api.http.delete("/hop/wl-commons/branches/wl%2Fhop%2Fw-1", headers=HOP)
    assert deleted.status_code == 200, deleted.text
    missing = api.http.delete("/hop/wl-commons/branches/wl%2Fhop%2Fw-1", headers=HOP)
    assert missing.status_code == 404
    assert api.http.delete("/hop/wl-commons/branches/main", headers=HOP).status_code == 400
    names = [b["branch_name"] for b in api.http.get("/hop/wl-commons/branches").json()["branches"]]
    assert names == ["at-commit", "main"]


def test_branch_create_validation_and_permissions(api: Api) -> None:
    wrong_keys = api.http.post(
        "/hop/wl-commons/branches", headers=HOP, json={"name": "x", "startPoint": "main"}
    )
    assert wrong_keys.status_code == 400
    message = wrong_keys.json()["message"]
    for key in ("revisionType", "revisionName", "newBranchName"):
        assert key in message
    unknown = api.http.post(
        "/hop/wl-commons/branches",
        headers=HOP,
        json={"revisionType": "branch", "revisionName": "nope", "newBranchName": "x"},
    )
    assert unknown.status_code == 400
    forbidden = api.http.post(
        "/hop/wl-commons/branches",
        headers=ALICE,
        json={"revisionType": "branch", "revisionName": "main", "newBranchName": "x"},
    )
    assert forbidden.status_code == 403
    assert api.http.delete("/hop/wl-commons/branches/x", headers=BOB).status_code == 403


def test_create_database(api: Api) -> None:
    body = {
        "ownerName": "alice",
        "repoName": "board",
        "visibility": "public",
        "description": "my board",
    }
    created = api.http.post("/database", headers=ALICE, json=body)
    assert created.status_code == 200
    assert created.json() == {
        "status": "Success",
        "description": "my board",
        "repository_owner": "alice",
        "repository_name": "board",
        "visibility": "public",
    }
    assert api.read("alice", "board", "main", None).status_code == 200
    assert api.rows("alice", "board", "main", "SHOW TABLES") == []
    dup = api.http.post("/database", headers=ALICE, json=body)
    assert dup.status_code == 409
    assert "already exists" in dup.text
    other = api.http.post("/database", headers=BOB, json={**body, "repoName": "x"})
    assert other.status_code == 403
    anonymous = api.http.post("/database", json={**body, "repoName": "y"})
    assert anonymous.status_code == 401
    bad = api.http.post("/database", headers=ALICE, json={**body, "visibility": "secret"})
    assert bad.status_code == 400
    assert bad.json()["status"] == "Error"


def test_fork_poll_and_exists(api: Api) -> None:
    started = api.fork("alice", "hop", "wl-commons", ALICE)
    assert started.status_code == 200
    assert started.json()["status"] == "Success"
    operation = started.json()["operation_name"]
    assert operation
    done = api.http.get("/fork", params={"operationName": operation}, headers=ALICE)
    assert done.json() == {
        "status": "Success",
        "owner_name": "alice",
        "database_name": "wl-commons",
    }
    assert api.read("alice", "wl-commons", "main", None, ALICE).status_code == 200
    # Same history: the fork's main is the upstream's main commit.
    assert api.head("alice", "wl-commons", "main") == api.head("hop", "wl-commons", "main")
    again = api.fork("alice", "hop", "wl-commons", ALICE)
    assert again.status_code >= 400
    assert "already exists" in again.text.lower()


def test_fork_permissions(api: Api) -> None:
    assert api.fork("alice", "hop", "wl-commons", BOB).status_code == 403
    assert api.fork("alice", "hop", "wl-commons", {}).status_code == 401
    missing = api.fork("alice", "hop", "nothing", ALICE)
    assert missing.status_code == 404
    assert "no such repository" in missing.text
    incomplete = api.http.post("/fork", headers=ALICE, json={"ownerName": "alice"})
    assert incomplete.status_code == 400


def test_fork_keeps_branches_and_visibility(api: Api) -> None:
    api.http.post(
        "/database",
        headers=BOB,
        json={"ownerName": "bob", "repoName": "priv", "visibility": "private"},
    )
    api.commit_write("bob", "priv", "main", "dev", "CREATE TABLE t (id INT PRIMARY KEY)", BOB)
    # alice cannot see bob's private database, so she cannot fork it.
    assert api.fork("alice", "bob", "priv", ALICE).status_code == 404
    api.http.post(
        "/database",
        headers=BOB,
        json={"ownerName": "bob", "repoName": "pub", "visibility": "public"},
    )
    api.commit_write("bob", "pub", "main", "dev", "CREATE TABLE t (id INT PRIMARY KEY)", BOB)
    api.fork_done("alice", "bob", "pub", ALICE)
    names = [
        b["branch_name"]
        for b in api.http.get("/alice/pub/branches", headers=ALICE).json()["branches"]
    ]
    assert names == ["dev", "main"]
    assert api.read("alice", "pub", "dev", "SELECT * FROM t").status_code == 200


def test_fork_pending_until_delay(tmp_path: Path, seeded: Path) -> None:
    clock = FakeClock()
    with serving(tmp_path / "data", seeded, clock=clock, op_delay=3) as api:
        operation = api.fork("bob", "hop", "wl-commons", BOB).json()["operation_name"]
        pending = api.http.get("/fork", params={"operationName": operation}, headers=BOB)
        assert pending.json() == {"status": "Pending", "owner_name": "", "database_name": ""}
        assert api.read("bob", "wl-commons", "main", None, BOB).status_code == 404
        # A second fork request while the first is pending is refused too.
        assert "already exists" in api.fork("bob", "hop", "wl-commons", BOB).text
        clock.advance(3)
        done = api.http.get("/fork", params={"operationName": operation}, headers=BOB)
        assert done.json()["owner_name"] == "bob"
        assert api.read("bob", "wl-commons", "main", None, BOB).status_code == 200
    unknown = None
    with serving(tmp_path / "data") as api:
        unknown = api.http.get("/fork", params={"operationName": "users/x/userOperations/y"})
    assert unknown.status_code == 404
