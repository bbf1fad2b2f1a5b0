"""SQL writes: operation lifecycle, commits, the toCommitId quirk, MySQL DML, procedures."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.sandbox.helpers import ALICE, BOB, HOP, Api, FakeClock, ref_path, serving

CLAIM = (
    "UPDATE wanted SET claimed_by='alice', status='claimed', updated_at=NOW() "
    "WHERE id='w-demo-001' AND status='open'"
)


def test_write_then_poll_commits_to_a_new_branch(api: Api) -> None:
    api.fork_done("alice", "hop", "wl-commons", ALICE)
    main_head = api.head("alice", "wl-commons", "main")
    started = api.write("alice", "wl-commons", "main", "wl/alice/w-demo-001", CLAIM)
    assert started.status_code == 200
    body = started.json()
    assert body["query_execution_status"] == "Success"
    assert body["query_execution_message"] == (
        "Operation created. Poll the operation endpoint to see the execution status of this query."
    )
    assert body["from_branch_name"] == "main"
    assert body["to_branch_name"] == "wl/alice/w-demo-001"
    assert body["query"] == CLAIM
    assert body["operation_name"].startswith("users/alice/userOperations/")

    done = api.poll("alice", "wl-commons", body["operation_name"])
    assert done.status_code == 200
    assert done.json()["_id"] == body["operation_name"]
    assert done.json()["done"] is True
    details = done.json()["res_details"]
    assert details["query_execution_status"] == "Success"
    assert details["query_execution_message"] == "Query OK, 1 rows affected."
    assert details["owner_name"] == "alice"
    assert details["repository_name"] == "wl-commons"
    assert details["from_commit_id"] == main_head
    assert details["to_commit_id"] != main_head
    assert details["to_commit_id"] == api.head("alice", "wl-commons", "wl/alice/w-demo-001")

    on_branch = api.rows(
        "alice",
        "wl-commons",
        "wl/alice/w-demo-001",
        "SELECT status, claimed_by FROM wanted WHERE id = 'w-demo-001'",
        ALICE,
    )
    assert on_branch == [{"status": "claimed", "claimed_by": "alice"}]
    on_main = api.rows(
        "alice", "wl-commons", "main", "SELECT status FROM wanted WHERE id = 'w-demo-001'", ALICE
    )
    assert on_main == [{"status": "open"}]
    upstream = api.rows(
        "hop", "wl-commons", "main", "SELECT status FROM wanted WHERE id = 'w-demo-001'"
    )
    assert upstream == [{"status": "open"}]


def test_noop_write_answers_400_bare_text_and_commits_nothing(api: Api) -> None:
    head = api.head("hop", "wl-commons", "main")
    resp = api.write_done(
        "hop",
        "wl-commons",
        "main",
        "main",
        "INSERT IGNORE INTO _meta (`key`, value) VALUES ('schema_version','9')",
        HOP,
    )
    assert resp.status_code == 400
    assert resp.text == "Cannot return null for non-nullable field SqlWrite.toCommitId."
    assert "sqlwrite.tocommitid" in resp.text.lower()
    assert api.head("hop", "wl-commons", "main") == head
    # Setting a value to what it already is changes nothing either.
    same = api.write_done(
        "hop",
        "wl-commons",
        "main",
        "main",
        "UPDATE wanted SET status = 'open' WHERE id = 'w-demo-001'",
        HOP,
    )
    assert same.status_code == 400
    # A no-op does not create the to-branch.
    api.write_done(
        "hop", "wl-commons", "main", "scratch", "UPDATE wanted SET status='x' WHERE id='none'", HOP
    )
    assert api.read("hop", "wl-commons", "scratch", None).status_code == 404


def test_failed_write_is_done_with_error_details(api: Api) -> None:
    resp = api.write_done(
        "hop",
        "wl-commons",
        "main",
        "main",
        "INSERT INTO wanted (id, title) VALUES ('w-demo-001', 'dup')",
        HOP,
    )
    assert resp.status_code == 200
    assert resp.json()["done"] is True
    details = resp.json()["res_details"]
    assert details["query_execution_status"] == "Error"
    assert "duplicate primary key" in details["query_execution_message"]
    check = api.write_done(
        "hop",
        "wl-commons",
        "main",
        "main",
        "INSERT INTO stamps (id, author, subject, valence) VALUES ('s', 'a', 'a', '{}')",
        HOP,
    )
    assert "Check constraint" in check.json()["res_details"]["query_execution_message"]
    missing = api.write_done("hop", "wl-commons", "nope", "main", "DELETE FROM wanted", HOP)
    assert missing.json()["res_details"]["query_execution_status"] == "Error"
    assert "branch not found" in missing.json()["res_details"]["query_execution_message"]
    assert len(api.rows("hop", "wl-commons", "main", "SELECT id FROM wanted")) == 7


def test_write_request_validation_and_permissions(api: Api) -> None:
    two = api.write(
        "hop", "wl-commons", "main", "main", "DELETE FROM badges; DELETE FROM rigs", HOP
    )
    assert two.status_code == 400
    assert two.json()["query_execution_status"] == "Error"
    assert two.json()["operation_name"] == ""
    commented = api.write_done(
        "hop",
        "wl-commons",
        "main",
        "main",
        "DELETE FROM rigs WHERE handle = 'scav-ruby'; -- wl: retire rig",
        HOP,
    )
    assert commented.status_code == 200, commented.text
    log = api.rows("hop", "wl-commons", "main", "SELECT message FROM dolt_log LIMIT 1")
    assert log == [{"message": "DELETE FROM rigs WHERE handle = 'scav-ruby'; -- wl: retire rig"}]

    forbidden = api.write("hop", "wl-commons", "main", "main", "DELETE FROM rigs", ALICE)
    assert forbidden.status_code == 403
    assert "API token is not allowed to operate on this resource" in forbidden.text
    api.fork_done("alice", "hop", "wl-commons", ALICE)
    bob = api.write("alice", "wl-commons", "main", "b", "DELETE FROM rigs", BOB)
    assert bob.status_code == 403
    anonymous = api.write("alice", "wl-commons", "main", "b", "DELETE FROM rigs", {})
    assert anonymous.status_code == 401
    bad = api.write(
        "alice", "wl-commons", "main", "b", "DELETE FROM rigs", {"authorization": "token nope"}
    )
    assert bad.status_code == 400
    assert "invalid authorization" in bad.text
    private = api.http.post(
        "/database",
        headers=BOB,
        json={"ownerName": "bob", "repoName": "hidden", "visibility": "private"},
    )
    assert private.status_code == 200
    unseen = api.write(
        "bob", "hidden", "main", "main", "CREATE TABLE t (id INT PRIMARY KEY)", ALICE
    )
    assert unseen.status_code == 404
    assert "no such repository" in unseen.text


def test_query_in_json_body(api: Api) -> None:
    resp = api.http.post(
        "/hop/wl-commons/write/main/main",
        headers=HOP,
        json={"query": "DELETE FROM wanted WHERE id = 'w-demo-005'"},
    )
    assert resp.status_code == 200
    done = api.poll("hop", "wl-commons", resp.json()["operation_name"], HOP)
    assert done.json()["res_details"]["query_execution_status"] == "Success"
    assert (
        api.rows("hop", "wl-commons", "main", "SELECT id FROM wanted WHERE id = 'w-demo-005'") == []
    )


def test_slash_branches_round_trip_encoded(api: Api) -> None:
    branch = "wl/alice/w-demo-002"
    api.fork_done("alice", "hop", "wl-commons", ALICE)
    api.commit_write(
        "alice",
        "wl-commons",
        "main",
        branch,
        "UPDATE wanted SET status='claimed', claimed_by='alice' WHERE id='w-demo-002'",
    )
    raw = api.http.get(
        f"/alice/wl-commons/{ref_path(branch)}",
        params={"q": "SELECT status FROM wanted WHERE id='w-demo-002'"},
        headers=ALICE,
    )
    assert "%2F" in str(raw.request.url)
    assert raw.json()["commit_ref"] == branch
    assert raw.json()["rows"] == [{"status": "claimed"}]
    names = api.rows(
        "alice",
        "wl-commons",
        "main",
        "SELECT name FROM dolt_branches WHERE name LIKE 'wl/%' ORDER BY name",
        ALICE,
    )
    assert names == [{"name": branch}]


def test_insert_ignore_select_not_exists_and_on_duplicate_key_update(api: Api) -> None:
    done_sql = (
        "INSERT IGNORE INTO completions (id,wanted_id,completed_by,evidence,hop_uri,"
        "completed_at) SELECT 'c-1','w-demo-006','scav-ruby','https://x',NULL,NOW() "
        "FROM wanted WHERE id='w-demo-006' AND status='claimed' AND "
        "claimed_by='scav-ruby' AND NOT EXISTS (SELECT 1 FROM completions WHERE "
        "wanted_id='w-demo-006')"
    )
    api.commit_write("hop", "wl-commons", "main", "main", done_sql, HOP)
    again = api.write_done(
        "hop", "wl-commons", "main", "main", done_sql.replace("'c-1'", "'c-2'"), HOP
    )
    assert again.status_code == 400  # NOT EXISTS guard: nothing inserted, no commit
    rows = api.rows(
        "hop",
        "wl-commons",
        "main",
        "SELECT id, completed_by FROM completions WHERE wanted_id='w-demo-006'",
    )
    assert rows == [{"id": "c-1", "completed_by": "scav-ruby"}]

    register = (
        "INSERT INTO rigs (handle, display_name, dolthub_org, hop_uri, owner_email, "
        "gt_version, trust_level, registered_at, last_seen) VALUES ('alice', {name}, "
        "'alice', 'hop://a@x/alice/', 'a@x', 'dev', 1, NOW(), NOW()) ON DUPLICATE KEY "
        "UPDATE display_name = VALUES(display_name), dolthub_org = VALUES(dolthub_org), "
        "last_seen = NOW()"
    )
    api.commit_write("hop", "wl-commons", "main", "main", register.format(name="'Alice'"), HOP)
    api.commit_write("hop", "wl-commons", "main", "main", register.format(name="'Alice B'"), HOP)
    rig = api.rows(
        "hop",
        "wl-commons",
        "main",
        "SELECT display_name, trust_level, rig_type FROM rigs WHERE handle='alice'",
    )
    assert rig == [{"display_name": "Alice B", "trust_level": "1", "rig_type": "human"}]


def test_now_uses_the_sandbox_clock_in_utc(tmp_path: Path, seeded: Path) -> None:
    clock = FakeClock()
    with serving(tmp_path / "data", seeded, clock=clock) as api:
        api.commit_write(
            "hop",
            "wl-commons",
            "main",
            "main",
            "UPDATE wanted SET updated_at = NOW() WHERE id = 'w-demo-003'",
            HOP,
        )
        rows = api.rows(
            "hop", "wl-commons", "main", "SELECT updated_at FROM wanted WHERE id = 'w-demo-003'"
        )
        assert rows == [{"updated_at": "2026-03-10 12:00:00"}]


def test_operation_stays_pending_until_its_delay_passes(tmp_path: Path, seeded: Path) -> None:
    clock = FakeClock()
    with serving(tmp_path / "data", seeded, clock=clock, op_delay=5) as api:
        started = api.write(
            "hop", "wl-commons", "main", "main", "DELETE FROM wanted WHERE id = 'w-demo-004'", HOP
        )
        operation = started.json()["operation_name"]
        pending = api.poll("hop", "wl-commons", operation, HOP)
        assert pending.json() == {"_id": operation, "done": False}
        # Not visible to readers before it is done.
        assert len(api.rows("hop", "wl-commons", "main", "SELECT id FROM wanted")) == 7
        clock.advance(5)
        done = api.poll("hop", "wl-commons", operation, HOP)
        assert done.json()["done"] is True
        assert len(api.rows("hop", "wl-commons", "main", "SELECT id FROM wanted")) == 6


def test_due_operation_runs_on_any_access_to_its_database(tmp_path: Path, seeded: Path) -> None:
    clock = FakeClock()
    with serving(tmp_path / "data", seeded, clock=clock, op_delay=1) as api:
        api.write("hop", "wl-commons", "main", "main", "DELETE FROM badges", HOP)
        api.write(
            "hop",
            "wl-commons",
            "main",
            "main",
            "UPDATE wanted SET priority = 9 WHERE id = 'w-demo-001'",
            HOP,
        )
        clock.advance(1)
        # No poll: a read runs both due operations, in order.
        rows = api.rows(
            "hop", "wl-commons", "main", "SELECT priority FROM wanted WHERE id = 'w-demo-001'"
        )
        assert rows == [{"priority": "9"}]


def test_to_branch_write_replays_from_the_from_branch(api: Api) -> None:
    """wl assumes from≠to rebuilds the to-branch from the from-branch on every call."""
    api.commit_write(
        "hop",
        "wl-commons",
        "main",
        "b",
        "UPDATE wanted SET priority = 7 WHERE id = 'w-demo-001'",
        HOP,
    )
    api.commit_write(
        "hop",
        "wl-commons",
        "main",
        "b",
        "UPDATE wanted SET priority = 8 WHERE id = 'w-demo-002'",
        HOP,
    )
    rows = api.rows(
        "hop",
        "wl-commons",
        "b",
        "SELECT id, priority FROM wanted WHERE id IN ('w-demo-001','w-demo-002') ORDER BY id",
    )
    assert rows == [{"id": "w-demo-001", "priority": "0"}, {"id": "w-demo-002", "priority": "8"}]
    api.commit_write(
        "hop", "wl-commons", "b", "b", "UPDATE wanted SET priority = 7 WHERE id = 'w-demo-001'", HOP
    )
    rows = api.rows(
        "hop",
        "wl-commons",
        "b",
        "SELECT priority FROM wanted WHERE id IN ('w-demo-001','w-demo-002') ORDER BY id",
    )
    assert rows == [{"priority": "7"}, {"priority": "8"}]


def test_ddl_commits_and_unique_key_is_enforced(api: Api) -> None:
    api.http.post(
        "/database",
        headers=ALICE,
        json={"ownerName": "alice", "repoName": "fresh", "visibility": "public"},
    )
    api.commit_write(
        "alice",
        "fresh",
        "main",
        "main",
        "CREATE TABLE links (id VARCHAR(64) PRIMARY KEY, a VARCHAR(10) NOT NULL, "
        "b VARCHAR(10) NOT NULL, meta JSON, UNIQUE KEY uq (a, b), CHECK (a != b))",
    )
    api.commit_write(
        "alice", "fresh", "main", "main", "INSERT INTO links VALUES ('1', 'x', 'y', '{\"n\": 1}')"
    )
    dup = api.write_done(
        "alice", "fresh", "main", "main", "INSERT INTO links VALUES ('2', 'x', 'y', NULL)"
    )
    assert "duplicate unique key" in dup.json()["res_details"]["query_execution_message"]
    same = api.write_done(
        "alice", "fresh", "main", "main", "INSERT INTO links VALUES ('3', 'z', 'z', NULL)"
    )
    assert same.json()["res_details"]["query_execution_status"] == "Error"
    schema = api.read("alice", "fresh", "main", "SELECT * FROM links", ALICE).json()["schema"]
    assert schema == [
        {"columnName": "id", "columnType": "VARCHAR(64)"},
        {"columnName": "a", "columnType": "VARCHAR(10)"},
        {"columnName": "b", "columnType": "VARCHAR(10)"},
        {"columnName": "meta", "columnType": "JSON"},
    ]
    # Re-running CREATE TABLE IF NOT EXISTS changes nothing.
    again = api.write_done(
        "alice", "fresh", "main", "main", "CREATE TABLE IF NOT EXISTS links (id INT PRIMARY KEY)"
    )
    assert again.status_code == 400


def test_dolt_branch_procedure_creates_and_deletes(api: Api) -> None:
    created = api.write_done(
        "hop", "wl-commons", "main", "main", "CALL DOLT_BRANCH('wl/hop/x')", HOP
    )
    assert created.status_code == 200
    details = created.json()["res_details"]
    assert details["query_execution_status"] == "Success"
    assert details["from_commit_id"] == details["to_commit_id"]
    assert api.head("hop", "wl-commons", "wl/hop/x") == api.head("hop", "wl-commons", "main")
    deleted = api.write_done(
        "hop", "wl-commons", "main", "main", "CALL DOLT_BRANCH('-D', 'wl/hop/x')", HOP
    )
    assert deleted.json()["res_details"]["query_execution_status"] == "Success"
    assert api.read("hop", "wl-commons", "wl/hop/x", None).status_code == 404
    gone = api.write_done(
        "hop", "wl-commons", "main", "main", "CALL DOLT_BRANCH('-D', 'wl/hop/x')", HOP
    )
    assert gone.json()["res_details"]["query_execution_status"] == "Error"


def test_dolt_merge_procedure_and_empty_query_merge(api: Api) -> None:
    api.commit_write(
        "hop",
        "wl-commons",
        "main",
        "feature",
        "UPDATE wanted SET priority = 3 WHERE id = 'w-demo-001'",
        HOP,
    )
    before = api.head("hop", "wl-commons", "main")
    merged = api.write_done("hop", "wl-commons", "main", "main", "CALL DOLT_MERGE('feature')", HOP)
    assert merged.json()["res_details"]["from_commit_id"] == before
    assert api.rows(
        "hop", "wl-commons", "main", "SELECT priority FROM wanted WHERE id='w-demo-001'"
    ) == [{"priority": "3"}]
    again = api.write_done("hop", "wl-commons", "main", "main", "CALL DOLT_MERGE('feature')", HOP)
    assert again.status_code == 400  # already up to date: nothing to commit

    api.commit_write(
        "hop",
        "wl-commons",
        "main",
        "other",
        "UPDATE wanted SET priority = 4 WHERE id = 'w-demo-002'",
        HOP,
    )
    api.commit_write(
        "hop",
        "wl-commons",
        "main",
        "main",
        "UPDATE wanted SET priority = 0 WHERE id = 'w-demo-003'",
        HOP,
    )
    resp = api.write_done("hop", "wl-commons", "other", "main", None, HOP)
    details = resp.json()["res_details"]
    assert details["query_execution_status"] == "Success"
    assert details["to_commit_id"] == ""
    assert details["from_commit_id"] == api.head("hop", "wl-commons", "main")
    rows = api.rows(
        "hop",
        "wl-commons",
        "main",
        "SELECT id, priority FROM wanted WHERE id IN ('w-demo-002','w-demo-003') ORDER BY id",
    )
    assert rows == [{"id": "w-demo-002", "priority": "4"}, {"id": "w-demo-003", "priority": "0"}]
    parents = api.rows("hop", "wl-commons", "main", "SELECT message FROM dolt_log LIMIT 1")
    assert parents == [{"message": "Merge branch 'other' into main"}]


def test_concurrent_writes_to_one_branch_are_serialised(api: Api) -> None:
    """Each write starts from the branch head at execution time, so none is lost."""
    items = [f"w-demo-00{i}" for i in range(1, 8)]

    def bump(item: str) -> int:
        resp = api.write_done(
            "hop",
            "wl-commons",
            "main",
            "main",
            f"UPDATE wanted SET priority = 42 WHERE id = '{item}'",  # noqa: S608
            HOP,
        )
        return resp.status_code

    with ThreadPoolExecutor(max_workers=7) as pool:
        assert list(pool.map(bump, items)) == [200] * 7
    rows = api.rows("hop", "wl-commons", "main", "SELECT DISTINCT priority FROM wanted")
    assert rows == [{"priority": "42"}]
    log = api.rows("hop", "wl-commons", "main", "SELECT message FROM dolt_log LIMIT 7")
    assert len({r["message"] for r in log}) == 7
