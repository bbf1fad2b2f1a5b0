"""Dolt system tables, table functions and HASHOF, as wl queries them."""

from __future__ import annotations

from tests.sandbox.helpers import ALICE, Api

BRANCH = "wl/alice/w-demo-001"


def prepare(api: Api) -> None:
    """On alice's fork: claim w-demo-001, add an item and delete one, on BRANCH."""
    api.fork_done("alice", "hop", "wl-commons", ALICE)
    api.commit_write(
        "alice",
        "wl-commons",
        "main",
        BRANCH,
        "UPDATE wanted SET claimed_by='alice', status='claimed' WHERE id='w-demo-001'",
    )
    api.commit_write(
        "alice",
        "wl-commons",
        BRANCH,
        BRANCH,
        "INSERT INTO wanted (id, title, status) VALUES ('w-new-1', 'New', 'open')",
    )
    api.commit_write(
        "alice", "wl-commons", BRANCH, BRANCH, "DELETE FROM wanted WHERE id = 'w-demo-005'"
    )


def test_dolt_diff_rows_and_columns(api: Api) -> None:
    prepare(api)
    resp = api.read(
        "alice",
        "wl-commons",
        BRANCH,
        f"SELECT * FROM dolt_diff('main', '{BRANCH}', 'wanted') ORDER BY diff_type",  # noqa: S608
        ALICE,
    )
    assert resp.status_code == 200, resp.text
    names = [c["columnName"] for c in resp.json()["schema"]]
    assert names[0] == "to_id"
    assert names[names.index("to_updated_at") + 1 : names.index("from_id")] == [
        "to_commit",
        "to_commit_date",
    ]
    assert names[-3:] == ["from_commit", "from_commit_date", "diff_type"]
    rows = resp.json()["rows"]
    assert [(r["diff_type"], r["to_id"], r["from_id"]) for r in rows] == [
        ("added", "w-new-1", None),
        ("modified", "w-demo-001", "w-demo-001"),
        ("removed", None, "w-demo-005"),
    ]
    modified = rows[1]
    assert (modified["from_status"], modified["to_status"]) == ("open", "claimed")
    assert modified["to_commit"] == api.head("alice", "wl-commons", BRANCH)
    assert modified["from_commit"] == api.head("alice", "wl-commons", "main")


def test_pending_pr_scan_query(api: Api) -> None:
    prepare(api)
    sql = (
        "SELECT COALESCE(to_id, from_id) as id, COALESCE(to_status, '') as status, "  # noqa: S608
        "COALESCE(to_claimed_by, '') as claimed_by, diff_type "
        f"FROM dolt_diff('main', '{BRANCH}', 'wanted') "
        "WHERE diff_type <> 'modified' OR COALESCE(to_status,'') <> COALESCE(from_status,'') "
        "OR COALESCE(to_claimed_by,'') <> COALESCE(from_claimed_by,'')"
    )
    rows = api.rows("alice", "wl-commons", BRANCH, sql, ALICE)
    assert sorted(rows, key=lambda r: r["id"]) == [
        {"id": "w-demo-001", "status": "claimed", "claimed_by": "alice", "diff_type": "modified"},
        {"id": "w-demo-005", "status": "", "claimed_by": "", "diff_type": "removed"},
        {"id": "w-new-1", "status": "open", "claimed_by": "", "diff_type": "added"},
    ]


def test_dolt_diff_stat_and_summary(api: Api) -> None:
    prepare(api)
    stat = api.rows(
        "alice",
        "wl-commons",
        BRANCH,
        f"SELECT table_name, rows_added, rows_modified, rows_deleted, rows_unmodified "  # noqa: S608
        f"FROM dolt_diff_stat('main', '{BRANCH}')",
        ALICE,
    )
    assert stat == [
        {
            "table_name": "wanted",
            "rows_added": "1",
            "rows_modified": "1",
            "rows_deleted": "1",
            "rows_unmodified": "5",
        }
    ]
    same = api.rows(
        "alice", "wl-commons", "main", "SELECT * FROM dolt_diff_stat('main', 'main')", ALICE
    )
    assert same == []
    dotted = api.rows(
        "alice",
        "wl-commons",
        BRANCH,
        f"SELECT table_name FROM dolt_diff_stat('main...{BRANCH}')",  # noqa: S608
        ALICE,
    )
    assert dotted == [{"table_name": "wanted"}]
    summary = api.rows(
        "alice",
        "wl-commons",
        BRANCH,
        f"SELECT to_table_name, diff_type, data_change, schema_change "  # noqa: S608
        f"FROM dolt_diff_summary('main', '{BRANCH}')",
        ALICE,
    )
    assert summary == [
        {
            "to_table_name": "wanted",
            "diff_type": "modified",
            "data_change": "1",
            "schema_change": "0",
        }
    ]


def test_dolt_branches_hashof_and_log(api: Api) -> None:
    prepare(api)
    branches = api.read(
        "alice", "wl-commons", "main", "SELECT * FROM dolt_branches ORDER BY name", ALICE
    ).json()
    names = [c["columnName"] for c in branches["schema"]]
    assert names[:6] == [
        "name",
        "hash",
        "latest_committer",
        "latest_committer_email",
        "latest_commit_date",
        "latest_commit_message",
    ]
    rows = branches["rows"]
    assert [r["name"] for r in rows] == ["main", BRANCH]
    assert rows[1]["latest_committer"] == "alice"
    assert rows[1]["latest_commit_message"] == "DELETE FROM wanted WHERE id = 'w-demo-005'"
    assert rows[1]["hash"] == api.head("alice", "wl-commons", BRANCH)
    count = api.rows(
        "alice",
        "wl-commons",
        "main",
        f"SELECT COUNT(*) AS cnt FROM dolt_branches WHERE name='{BRANCH}'",  # noqa: S608
        ALICE,
    )
    assert count == [{"cnt": "1"}]
    hashes = api.rows(
        "alice", "wl-commons", "main", f"SELECT HASHOF('main') AS m, HASHOF('{BRANCH}') AS b", ALICE
    )
    assert hashes[0]["m"] != hashes[0]["b"]
    log = api.rows(
        "alice",
        "wl-commons",
        BRANCH,
        "SELECT commit_hash, committer, message FROM dolt_log LIMIT 4",
        ALICE,
    )
    assert [r["committer"] for r in log] == ["alice", "alice", "alice", "hop-maintainer"]
    assert log[0]["commit_hash"] == hashes[0]["b"]
    assert log[3]["commit_hash"] == hashes[0]["m"]
    fn_log = api.rows(
        "alice",
        "wl-commons",
        "main",
        f"SELECT commit_hash FROM dolt_log('{BRANCH}') LIMIT 1",  # noqa: S608
        ALICE,
    )
    assert fn_log == [{"commit_hash": hashes[0]["b"]}]


def test_bad_refs_in_dolt_functions(api: Api) -> None:
    bad = api.read("hop", "wl-commons", "main", "SELECT HASHOF('nope') AS h")
    assert bad.status_code == 400
    assert "branch not found: nope" in bad.json()["query_execution_message"]
    bad_table = api.read(
        "hop", "wl-commons", "main", "SELECT * FROM dolt_diff('main', 'main', 'no_table')"
    )
    assert bad_table.status_code == 400
