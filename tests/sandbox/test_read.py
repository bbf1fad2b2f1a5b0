"""SQL reads: wire format, status codes, refs, MySQL semantics (on a shared seeded sandbox)."""

from __future__ import annotations

import pytest

from tests.sandbox.helpers import ALICE, BOB, HOP, Api


def test_success_envelope_has_string_cells_and_select_order(shared_api: Api) -> None:
    resp = shared_api.read(
        "hop",
        "wl-commons",
        "main",
        "SELECT status, priority, id, tags, claimed_by FROM wanted WHERE id = 'w-demo-001'",
    )
    assert resp.status_code == 200
    body = resp.json()
    assert list(body) == [
        "query_execution_status",
        "query_execution_message",
        "repository_owner",
        "repository_name",
        "commit_ref",
        "sql_query",
        "schema",
        "rows",
    ]
    assert body["query_execution_status"] == "Success"
    assert body["repository_owner"] == "hop"
    assert body["repository_name"] == "wl-commons"
    assert body["commit_ref"] == "main"
    assert [c["columnName"] for c in body["schema"]] == [
        "status",
        "priority",
        "id",
        "tags",
        "claimed_by",
    ]
    assert body["schema"][1]["columnType"] == "INT"
    row = body["rows"][0]
    assert list(row) == ["status", "priority", "id", "tags", "claimed_by"]
    assert row == {
        "status": "open",
        "priority": "0",
        "id": "w-demo-001",
        "tags": '["ui","board"]',
        "claimed_by": None,
    }


def test_seed_contract(api: Api) -> None:
    shared_api = api  # a fresh sandbox: the shared one has a tiny row limit
    meta = shared_api.rows(
        "hop", "wl-commons", "main", "SELECT `key`, value FROM _meta ORDER BY `key`"
    )
    assert {r["key"]: r["value"] for r in meta}["schema_version"] == "1.2"
    assert "wasteland_name" in {r["key"] for r in meta}
    tables = shared_api.rows("hop", "wl-commons", "main", "SHOW TABLES")
    assert sorted(r["Tables_in_wl-commons"] for r in tables) == sorted(
        [
            "_meta",
            "rigs",
            "wanted",
            "completions",
            "stamps",
            "badges",
            "boot_blocks",
            "chain_meta",
            "rig_links",
        ]
    )
    open_items = shared_api.rows(
        "hop",
        "wl-commons",
        "main",
        "SELECT type, priority FROM wanted WHERE status = 'open' ORDER BY priority",
    )
    assert len(open_items) >= 5
    assert {r["type"] for r in open_items} >= {"feature", "bug", "docs", "design", "rfc"}
    assert {r["priority"] for r in open_items} == {"0", "1", "2", "3", "4"}
    statuses = shared_api.rows("hop", "wl-commons", "main", "SELECT status FROM wanted")
    assert {"claimed", "completed"} <= {r["status"] for r in statuses}
    done = shared_api.rows(
        "hop",
        "wl-commons",
        "main",
        "SELECT c.id, s.subject FROM completions c JOIN stamps s ON s.context_id = c.id",
    )
    assert len(done) == 1
    template = shared_api.rows("kilo-wastelands", "wl-template", "main", "SHOW TABLES")
    assert len(template) == 9
    empty = shared_api.rows(
        "kilo-wastelands", "wl-template", "main", "SELECT COUNT(*) AS cnt FROM wanted"
    )
    assert empty == [{"cnt": "0"}]


def test_row_limit_truncates_with_status(shared_api: Api) -> None:
    # The shared sandbox runs with row_limit=5; the seed has 7 wanted items.
    resp = shared_api.read("hop", "wl-commons", "main", "SELECT id FROM wanted ORDER BY id")
    assert resp.status_code == 200
    assert resp.json()["query_execution_status"] == "RowLimit"
    assert [r["id"] for r in resp.json()["rows"]] == [f"w-demo-00{i}" for i in range(1, 6)]
    paged = shared_api.rows(
        "hop", "wl-commons", "main", "SELECT id FROM wanted ORDER BY id LIMIT 5 OFFSET 5"
    )
    assert [r["id"] for r in paged] == ["w-demo-006", "w-demo-007"]


def test_sql_error_is_400_with_error_envelope(shared_api: Api) -> None:
    resp = shared_api.read("hop", "wl-commons", "main", "SELECT nope FROM wanted")
    assert resp.status_code == 400
    body = resp.json()
    assert body["query_execution_status"] == "Error"
    assert "nope" in body["query_execution_message"]
    assert body["sql_query"] == "SELECT nope FROM wanted"
    missing = shared_api.read("hop", "wl-commons", "main", "SELECT * FROM no_table")
    assert missing.status_code == 400
    assert missing.json()["query_execution_message"] == "table not found: no_table"
    syntax = shared_api.read("hop", "wl-commons", "main", "SELEC id FROM wanted")
    assert syntax.status_code == 400


def test_writes_are_refused_on_the_read_endpoint(shared_api: Api) -> None:
    resp = shared_api.read("hop", "wl-commons", "main", "DELETE FROM wanted", HOP)
    assert resp.status_code == 400
    assert resp.json()["query_execution_status"] == "Error"
    assert len(shared_api.rows("hop", "wl-commons", "main", "SELECT id FROM wanted LIMIT 5")) == 5


def test_unknown_database_and_private_database_say_no_such_repository(shared_api: Api) -> None:
    resp = shared_api.read("nobody", "nothing", "main", "SELECT 1")
    assert resp.status_code == 404
    assert "no such repository" in resp.text
    created = shared_api.http.post(
        "/database",
        headers=ALICE,
        json={"ownerName": "alice", "repoName": "secret", "visibility": "private"},
    )
    assert created.status_code == 200, created.text
    assert shared_api.read("alice", "secret", "main", "SELECT 1", ALICE).status_code == 200
    for headers in ({}, BOB):
        hidden = shared_api.read("alice", "secret", "main", "SELECT 1", headers)
        assert hidden.status_code == 404
        assert "no such repository" in hidden.text


def test_token_checks(shared_api: Api) -> None:
    bad = shared_api.read(
        "hop", "wl-commons", "main", "SELECT 1", {"authorization": "token not-a-real-token"}
    )
    assert bad.status_code == 400
    assert "invalid authorization" in bad.text
    # wl sends "token " when it has none (trailing space dropped on the wire): anonymous.
    empty = shared_api.read("hop", "wl-commons", "main", "SELECT 1", {"authorization": "token"})
    assert empty.status_code == 200


def test_branchless_read_only_anonymously(shared_api: Api) -> None:
    anon = shared_api.read("hop", "wl-commons", None, "SELECT COUNT(*) AS cnt FROM wanted")
    assert anon.status_code == 200
    assert anon.json()["rows"] == [{"cnt": "7"}]
    assert anon.json()["commit_ref"] == "main"
    authed = shared_api.read("hop", "wl-commons", None, "SELECT 1", ALICE)
    assert authed.status_code == 400
    assert authed.json()["query_execution_status"] == "Error"


def test_existence_check_without_query(shared_api: Api) -> None:
    assert shared_api.read("hop", "wl-commons", "main", None, ALICE).status_code == 200
    assert shared_api.read("hop", "wl-commons", "no-such-branch", None).status_code == 404
    assert shared_api.read("alice", "wl-commons", "main", None, ALICE).status_code in (200, 404)
    assert shared_api.read("zed", "wl-commons", "main", None).status_code == 404


def test_commit_hash_and_ancestry_refs(shared_api: Api) -> None:
    head = shared_api.head("hop", "wl-commons", "main")
    assert len(head) == 32
    assert set(head) <= set("0123456789abcdefghijklmnopqrstuv")
    at_hash = shared_api.rows("hop", "wl-commons", head, "SELECT COUNT(*) AS cnt FROM wanted")
    assert at_hash == [{"cnt": "7"}]
    # Two commits back the seed had only the five open items.
    older = shared_api.rows("hop", "wl-commons", "main~1", "SELECT COUNT(*) AS cnt FROM wanted")
    assert older == [{"cnt": "5"}]
    log = shared_api.rows(
        "hop", "wl-commons", "main", "SELECT commit_hash, message FROM dolt_log LIMIT 2"
    )
    assert log[0]["commit_hash"] == head
    assert shared_api.read("hop", "wl-commons", "0" * 32, "SELECT 1").status_code == 404


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT COUNT(*) AS cnt FROM wanted", [{"cnt": "7"}]),
        ("SELECT count(*) FROM wanted", [{"count(*)": "7"}]),
        (
            "SELECT priority+1, w.id FROM wanted w WHERE id = 'w-demo-002'",
            [{"priority+1": "2", "id": "w-demo-002"}],
        ),
        (
            "SELECT COALESCE(project,'') as project FROM wanted WHERE id = 'w-demo-004'",
            [{"project": "art"}],
        ),
        ("SELECT COALESCE(description, '') AS d FROM wanted WHERE id = 'w-demo-004'", [{"d": ""}]),
        (
            "SELECT 1.5 AS x, 3/2 AS y, 'it\\'s' AS z, NULL AS n",
            [{"x": "1.5", "y": "1.5", "z": "it's", "n": None}],
        ),
        (
            "SELECT IF(priority < 2, 'hi', 'lo') AS band, CONCAT(id, ':', type) AS k"
            " FROM wanted WHERE id = 'w-demo-001'",
            [{"band": "hi", "k": "w-demo-001:feature"}],
        ),
        ("SELECT JSON_EXTRACT(valence, '$.quality') AS q FROM stamps", [{"q": "4"}]),
        ("SELECT confidence FROM stamps", [{"confidence": "1"}]),
        ("SELECT COUNT(*) AS cnt FROM wanted WHERE title LIKE 'add%'", [{"cnt": "0"}]),
        ("SELECT COUNT(*) AS cnt FROM wanted WHERE title LIKE 'Add%'", [{"cnt": "1"}]),
        ("SELECT id FROM wanted WHERE id LIKE 'w-demo-00_' AND id LIKE 'w\\_%'", []),
        ("SELECT id FROM wanted WHERE id LIKE 'w-demo\\-001%'", [{"id": "w-demo-001"}]),
        ("SELECT DATABASE() AS db, ACTIVE_BRANCH() AS b", [{"db": "wl-commons", "b": "main"}]),
        (
            "SELECT handle FROM rigs ORDER BY trust_level DESC LIMIT 1",
            [{"handle": "hop-maintainer"}],
        ),
        (
            "SELECT id FROM wanted ORDER BY priority ASC, created_at DESC LIMIT 3, 1",
            [{"id": "w-demo-006"}],
        ),
    ],
)
def test_mysql_semantics(shared_api: Api, sql: str, expected: list[dict[str, str]]) -> None:
    assert shared_api.rows("hop", "wl-commons", "main", sql) == expected


def test_like_honours_backslash_escapes(shared_api: Api) -> None:
    # wl's EscapeLIKE turns "_" into "\_" and EscapeSQL doubles the backslash.
    rows = shared_api.rows(
        "hop",
        "wl-commons",
        "main",
        "SELECT name FROM dolt_branches WHERE name LIKE 'ma\\\\_n%' ORDER BY name",
    )
    assert rows == []
    rows = shared_api.rows(
        "hop",
        "wl-commons",
        "main",
        "SELECT name FROM dolt_branches WHERE name LIKE 'ma_n%' ORDER BY name",
    )
    assert rows == [{"name": "main"}]


def test_statement_with_trailing_comment_is_one_statement(shared_api: Api) -> None:
    assert shared_api.rows("hop", "wl-commons", "main", "SELECT 1 AS one; -- note") == [
        {"one": "1"}
    ]
    two = shared_api.read("hop", "wl-commons", "main", "SELECT 1; SELECT 2")
    assert two.status_code == 400
