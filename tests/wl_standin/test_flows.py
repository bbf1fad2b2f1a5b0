"""Whole commands in-process against the in-memory DoltHub: the requests the stand-in sends
(order, escaping, bodies), what it prints, and the real CLI's quirks."""

# ruff: noqa: E501, S608 - expected values are the real CLI's SQL statements, verbatim.

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from .conftest import FIXED_NS, VirtualTime, WlRunner, write_config
from .fakehub import Call, FakeHub

ITEM = "w-open000001"
BRANCH = f"wl/alice/{ITEM}"
BRANCH_ESC = "wl%2Falice%2Fw-open000001"
STATUS_Q = f"SELECT status FROM wanted WHERE id = '{ITEM}'"
DETAIL_Q = (
    "SELECT id, title, COALESCE(description,'') as description, COALESCE(project,'') as project, "
    "COALESCE(type,'') as type, priority, COALESCE(tags,'') as tags, COALESCE(posted_by,'') as "
    "posted_by, COALESCE(claimed_by,'') as claimed_by, status, COALESCE(effort_level,'medium') as "
    "effort_level, COALESCE(created_at,'') as created_at, COALESCE(updated_at,'') as updated_at "
    f"FROM wanted WHERE id='{ITEM}'"
)
CLAIM_DML = (
    f"UPDATE wanted SET claimed_by='alice', status='claimed', updated_at=NOW() WHERE id='{ITEM}' "
    "AND status='open'"
)


def _writes(hub: FakeHub) -> list[Call]:
    return [c for c in hub.calls if c.method == "POST" and "/write/" in c.path]


def _pr_posts(hub: FakeHub) -> list[Call]:
    return [c for c in hub.calls if c.method == "POST" and c.path.endswith("/pulls")]


def test_claim_sends_the_real_sequence(
    wl: WlRunner, joined: Path, hub: FakeHub, vtime: VirtualTime
) -> None:
    result = wl("claim", "w-open")
    assert result.code == 0, result.err
    assert hub.sequence() == [
        ("GET", "/hop/wl-commons/main", "SELECT id FROM wanted WHERE id LIKE 'w-open%' LIMIT 3"),
        ("GET", f"/alice/wl-commons/{BRANCH}", STATUS_Q),  # idempotency probe
        ("GET", "/alice/wl-commons/main", STATUS_Q),  # fork-main status
        (
            "GET",
            f"/alice/wl-commons/{BRANCH}",
            f"SELECT COUNT(*) AS cnt FROM wanted WHERE id='{ITEM}'",
        ),
        ("POST", f"/alice/wl-commons/write/main/{BRANCH}", CLAIM_DML),
        ("GET", "/alice/wl-commons/write", ""),  # operation poll
        ("GET", f"/alice/wl-commons/{BRANCH}", DETAIL_Q),  # read-back
        ("GET", "/hop/wl-commons/pulls", ""),  # CheckPR: list
        ("GET", f"/alice/wl-commons/{BRANCH}", DETAIL_Q),  # PR title
        (
            "GET",
            f"/alice/wl-commons/{BRANCH}",
            "SELECT table_name, rows_added, rows_modified, rows_deleted FROM dolt_diff_stat('main', 'wl/alice/w-open000001')",
        ),
        (
            "GET",
            f"/alice/wl-commons/{BRANCH}",
            "SELECT * FROM dolt_diff('main', 'wl/alice/w-open000001', 'wanted')",
        ),
        ("POST", "/hop/wl-commons/pulls", ""),
    ]
    # Branch names are one %2F-escaped path segment; SQL goes in q= with "+" for spaces.
    write = _writes(hub)[0]
    assert write.raw_path.startswith(
        f"/api/v1alpha1/alice/wl-commons/write/main/{BRANCH_ESC}?q=UPDATE+wanted+SET+claimed_by%3D%27alice%27"
    )
    assert write.body == b""
    assert (
        hub.calls[5].raw_path
        == "/api/v1alpha1/alice/wl-commons/write?operationName=users%2Fu%2FuserOperations%2F1"
    )
    assert all(c.headers["authorization"] == "token test-token-alice" for c in hub.calls)
    pr = _pr_posts(hub)[0]
    assert pr.headers["content-type"] == "application/json"
    body = pr.json
    assert list(body) == sorted(body)  # Go marshals map[string]string with sorted keys
    assert body["title"] == "[wl] Fix the flux capacitor"
    assert (body["fromBranchOwnerName"], body["fromBranchRepoName"], body["fromBranchName"]) == (
        "alice",
        "wl-commons",
        BRANCH,
    )
    assert (body["toBranchOwnerName"], body["toBranchRepoName"], body["toBranchName"]) == (
        "hop",
        "wl-commons",
        "main",
    )
    assert body["description"].startswith("## wanted\n\n```\n~ modified: id=x\n")
    assert vtime.sleeps == [0.5]  # the real CLI sleeps before its first poll
    assert result.out == (
        f"✓ Claimed {ITEM}\n"
        "  Title: Fix the flux capacitor\n"
        "  Status: claimed\n"
        "  Claimed by: alice\n"
        f"  Branch: {BRANCH}\n"
        f"  Branch URL: https://www.dolthub.com/repositories/alice/wl-commons/data/{BRANCH_ESC}\n"
        "  PR: https://www.dolthub.com/repositories/hop/wl-commons/pulls/1\n"
        "  Delta: claim\n"
        "\n"
        f"  Next: do the work, then: wl done {ITEM} --evidence <url>\n"
    )
    row = hub.dbs[("alice", "wl-commons")][BRANCH]["wanted"][ITEM]
    assert (row["status"], row["claimed_by"]) == ("claimed", "alice")
    assert hub.dbs[("hop", "wl-commons")]["main"]["wanted"][ITEM]["status"] == "open"


def test_claim_of_non_open_item_is_a_silent_no_op(wl: WlRunner, joined: Path, hub: FakeHub) -> None:
    result = wl("claim", "w-review0001")
    assert result.code == 0
    assert result.err == ""
    assert result.out == (
        "✓ Claimed w-review0001\n"
        "  Title: Waiting for review\n"
        "  Status: in_review\n"
        "  Claimed by: alice\n"
        "\n"
        "  reverted — branch cleaned up\n"
        "\n"
        "  Next: do the work, then: wl done w-review0001 --evidence <url>\n"
    )
    # The guarded UPDATE matched nothing: the operation poll answered HTTP 400 about a
    # null toCommitId, which counts as success.
    claim_op = next(op for op in hub.ops.values() if "0 rows" in op["query_execution_message"])
    assert claim_op["nochange"] is True
    deletes = [c for c in _writes(hub) if c.sql.startswith("CALL DOLT_BRANCH")]
    # Deleted, then deleted again as the "remote" branch (that second call fails quietly).
    assert [c.path for c in deletes] == ["/api/v1alpha1/alice/wl-commons/write/main/main"] * 2
    assert deletes[0].sql == "CALL DOLT_BRANCH('-D', 'wl/alice/w-review0001')"
    assert "wl/alice/w-review0001" not in hub.dbs[("alice", "wl-commons")]
    assert _pr_posts(hub) == []


def test_claim_on_stale_fork_reads_back_upstream(wl: WlRunner, joined: Path, hub: FakeHub) -> None:
    # Posted upstream after alice forked: her fork's main does not have the row.
    hub.add_item("hop", "wl-commons", "w-newer00001", "Posted later")
    result = wl("claim", "w-newer00001")
    assert result.code == 0
    assert "  Status: open\n" in result.out  # the only sign that nothing was claimed
    assert "  Delta: new\n" in result.out
    assert len(_pr_posts(hub)) == 1


def test_second_mutation_continues_the_branch(wl: WlRunner, joined: Path, hub: FakeHub) -> None:
    assert wl("claim", ITEM).code == 0
    before = len(hub.calls)
    result = wl("done", ITEM, "--evidence", "https://example.com/pr/1")
    assert result.code == 0, result.err
    writes = [c for c in _writes(hub) if hub.calls.index(c) >= before]
    assert [c.path.split("/write/")[1] for c in writes] == [f"{BRANCH}/{BRANCH}"] * 2
    assert writes[0].sql == (
        "UPDATE wanted SET status='in_review', evidence_url='https://example.com/pr/1', "
        f"updated_at=NOW() WHERE id='{ITEM}' AND status='claimed' AND claimed_by='alice'"
    )
    cid = "c-" + hashlib.sha256(f"{ITEM}|alice|2026-03-08T12:00:00Z".encode()).digest()[:8].hex()
    assert writes[1].sql.startswith(
        "INSERT IGNORE INTO completions (id, wanted_id, completed_by, evidence, hop_uri, completed_at) "
        f"SELECT '{cid}', '{ITEM}', 'alice', 'https://example.com/pr/1', 'hop://alice@example.com/alice/', NOW() FROM wanted"
    )
    assert len(_pr_posts(hub)) == 1  # the claim's PR is found and reused
    assert result.out.startswith(
        f"✓ Completion submitted for {ITEM}\n  Title: Fix the flux capacitor\n  Status: in_review\n"
        "  Completed by: alice\n  Evidence: https://example.com/pr/1\n"
    )
    assert (
        "  PR: https://www.dolthub.com/repositories/hop/wl-commons/pulls/1\n  Delta: changes\n"
        in result.out
    )
    assert result.out.endswith(f"\n  Next: wait for review. Check: wl status {ITEM}\n")


def test_repeated_claim_skips_the_write(wl: WlRunner, joined: Path, hub: FakeHub) -> None:
    first = wl("claim", ITEM)
    writes = len(_writes(hub))
    second = wl("claim", ITEM)
    assert second.code == 0
    assert len(_writes(hub)) == writes
    assert second.out == first.out


def test_unclaim_back_to_fork_main_state_cleans_up(
    wl: WlRunner, joined: Path, hub: FakeHub
) -> None:
    assert wl("claim", ITEM).code == 0
    result = wl("unclaim", ITEM)
    assert result.code == 0
    assert result.out == (
        f"✓ Unclaimed {ITEM}\n  Title: Fix the flux capacitor\n  Status: open\n"
        "\n  reverted — branch cleaned up\n"
        "\n  Next: item is back on the board. Browse: wl browse\n"
    )
    closes = [c for c in hub.calls if c.method == "PATCH"]
    assert [c.json for c in closes] == [{"state": "closed"}]
    assert hub.pulls[("hop", "wl-commons")][0]["state"] == "Closed"
    assert BRANCH not in hub.dbs[("alice", "wl-commons")]


def test_no_push_writes_but_opens_no_pr(wl: WlRunner, joined: Path, hub: FakeHub) -> None:
    result = wl("claim", ITEM, "--no-push")
    assert result.code == 0
    assert len(_writes(hub)) == 1
    assert _pr_posts(hub) == []
    assert "\n  changes saved locally (--no-push)\n" in result.out
    assert "  PR:" not in result.out


def test_post_inserts_and_opens_pr(wl: WlRunner, joined: Path, hub: FakeHub) -> None:
    result = wl(
        "post",
        "--title",
        "New 'thing'",
        "-d",
        "desc",
        "--type",
        "feature",
        "--tags",
        " go, ,auth ",
        "--priority",
        "1",
    )
    assert result.code == 0, result.err
    wid = "w-" + hashlib.sha256(f"New 'thing':{FIXED_NS}:{'07' * 8}".encode()).hexdigest()[:10]
    (insert,) = _writes(hub)
    assert insert.path.endswith(f"/write/main/wl/alice/{wid}")
    assert insert.sql == (
        "INSERT INTO wanted (id, title, description, project, type, priority, tags, posted_by, status, "
        "effort_level, created_at, updated_at)\n"
        f"VALUES ('{wid}', 'New ''thing''', 'desc', NULL, 'feature', 1, '[\"go\",\"auth\"]', 'alice', "
        "'open', 'medium', '2026-03-08 12:00:00', '2026-03-08 12:00:00')"
    )
    assert _pr_posts(hub)[0].json["title"] == "[wl] New 'thing'"
    assert result.out == (
        f"✓ Posted wanted item: {wid}\n"
        "  Title:    New 'thing'\n"
        "  Type:     feature\n"
        "  Priority: 1\n"
        "  Effort:   medium\n"
        "  Tags:     go, auth\n"
        "  Posted by: alice\n"
        f"  Branch:   wl/alice/{wid}\n"
        "  PR: https://www.dolthub.com/repositories/hop/wl-commons/pulls/1\n"
        "\n  Next: others can claim this. Browse: wl browse\n"
    )


def test_join_forks_registers_and_opens_pr(wl: WlRunner, hub: FakeHub, wl_env: Path) -> None:
    result = wl("join", "--display-name", "Alice A", "--email", "a@example.com")
    assert result.code == 0, result.err
    fork, poll, probe, write, op, pr = hub.calls
    assert (fork.method, fork.path) == ("POST", "/api/v1alpha1/fork")
    assert (
        fork.body
        == b'{"ownerName":"alice","parentDatabaseName":"wl-commons","parentOwnerName":"hop"}'
    )
    assert poll.raw_path == "/api/v1alpha1/fork?operationName=forkops/1"
    # The branch-has-data probe looks for a wanted row named after the handle.
    assert (probe.path, probe.sql) == (
        "/api/v1alpha1/alice/wl-commons/wl/register/alice",
        "SELECT COUNT(*) AS cnt FROM wanted WHERE id='alice'",
    )
    assert write.raw_path.startswith(
        "/api/v1alpha1/alice/wl-commons/write/main/wl%2Fregister%2Falice?q="
    )
    assert write.sql == (
        "INSERT INTO rigs (handle, display_name, dolthub_org, hop_uri, owner_email, gt_version, "
        "trust_level, registered_at, last_seen) VALUES ('alice', 'Alice A', 'alice', "
        "'hop://a@example.com/alice/', 'a@example.com', 'dev', 1, NOW(), NOW()) ON DUPLICATE KEY "
        "UPDATE display_name = 'Alice A', dolthub_org = 'alice', hop_uri = "
        "'hop://a@example.com/alice/', owner_email = 'a@example.com', gt_version = 'dev', "
        "last_seen = NOW()"
    )
    assert op.path == "/api/v1alpha1/alice/wl-commons/write"
    assert pr.json == {
        "description": "Register rig **alice** (Alice A) in the commons.",
        "fromBranchName": "wl/register/alice",
        "fromBranchOwnerName": "alice",
        "fromBranchRepoName": "wl-commons",
        "title": "Register rig: alice",
        "toBranchName": "main",
        "toBranchOwnerName": "hop",
        "toBranchRepoName": "wl-commons",
    }
    assert result.out == (
        "Joining wasteland hop/wl-commons (fork to alice/wl-commons, remote mode)...\n"
        "  Forking commons...\n"
        "  Registering rig via API...\n"
        "  Opening pull request...\n"
        "\n✓ Joined wasteland: hop/wl-commons (remote mode)\n"
        "  Handle: alice\n"
        "  Fork: alice/wl-commons\n"
        "  Backend: remote (DoltHub API)\n"
        "  PR: https://www.dolthub.com/repositories/hop/wl-commons/pulls/1\n"
        "\n  Next: wl browse  — browse the wanted board\n"
    )
    config = json.loads(
        (wl_env / "wasteland" / "wastelands" / "hop" / "wl-commons.json").read_text()
    )
    assert config == {
        "upstream": "hop/wl-commons",
        "provider_type": "dolthub",
        "upstream_url": "https://doltremoteapi.dolthub.com/hop/wl-commons",
        "fork_org": "alice",
        "fork_db": "wl-commons",
        "local_dir": "",
        "rig_handle": "alice",
        "hop_uri": "hop://a@example.com/alice/",
        "joined_at": "2026-03-08T12:00:00.123456789Z",
        "mode": "pr",
        "backend": "remote",
    }
    assert (
        hub.dbs[("alice", "wl-commons")]["wl/register/alice"]["rigs"]["alice"]["display_name"]
        == "Alice A"
    )

    calls = len(hub.calls)
    again = wl("join", "hop/wl-commons")
    assert again.code == 0
    assert len(hub.calls) == calls
    assert again.out == (
        "⚠ Already joined wasteland: hop/wl-commons\n  Handle: alice\n  Fork: alice/wl-commons\n"
        "  Backend: remote\n"
    )


def test_join_fork_required_prints_instructions(wl: WlRunner, hub: FakeHub) -> None:
    def refuse(call: Call) -> httpx.Response | None:
        if call.path == "/api/v1alpha1/fork":
            return httpx.Response(403, text="forbidden")
        if call.path == "/api/v1alpha1/alice/wl-commons/main":
            return httpx.Response(404, text="no such repository")
        return None

    hub.override = refuse
    result = wl("join")
    assert (result.code, result.err) == (1, "")
    assert result.out.endswith(
        "  Forking commons...\n\n! Fork required\n\n"
        "  To join this wasteland, fork the commons on DoltHub:\n\n"
        "  1. Go to https://www.dolthub.com/repositories/hop/wl-commons\n"
        "  2. Click Fork (top right)\n"
        "  3. Select your organization: alice\n"
        "  4. Rerun: wl join\n"
    )


def test_join_pr_failure_is_a_warning(wl: WlRunner, hub: FakeHub) -> None:
    hub.override = lambda c: httpx.Response(500, text="nope") if c.path.endswith("/pulls") else None
    result = wl("join", "--handle", "al", "--display-name", "A")
    assert result.code == 0
    assert (
        "  warning: could not create PR: DoltHub create PR error (HTTP 500): nope\n" in result.out
    )
    assert "  PR:" not in result.out


def test_sync_in_remote_mode_makes_no_calls(wl: WlRunner, joined: Path, hub: FakeHub) -> None:
    result = wl("sync")
    assert (result.code, result.out, hub.calls) == (
        0,
        "Remote mode: reads are always fresh from the DoltHub API.\n",
        [],
    )


def test_browse_overlays_own_branches(wl: WlRunner, joined: Path, hub: FakeHub) -> None:
    assert wl("claim", ITEM).code == 0
    overlaid = json.loads(wl("browse", "--json").out)
    assert [(i["id"], i["status"], i.get("claimed_by")) for i in overlaid] == [
        (ITEM, "claimed", "alice"),
        ("w-review0001", "in_review", "bob"),
        ("w-taken00001", "claimed", "bob"),
    ]
    upstream = json.loads(wl("browse", "--json", "--view", "upstream").out)
    assert upstream[0]["status"] == "open"
    assert "claimed_by" not in upstream[0]
    # Status filter applies after the overlay: the open item is claimed on alice's branch.
    assert wl("browse", "--json", "--status", "open").out == "null\n"


def test_browse_query_and_error_wrapping(wl: WlRunner, joined: Path, hub: FakeHub) -> None:
    hub.override = lambda c: (
        httpx.Response(503, text="down") if c.path.endswith("/hop/wl-commons/main") else None
    )
    result = wl(
        "browse",
        "--status",
        "open",
        "--type",
        "bug",
        "--priority",
        "1",
        "--search",
        "50%_x",
        "--limit",
        "5",
    )
    assert result.code == 1
    assert (
        result.err
        == "wl: querying wanted board: querying wanted board: query failed: HTTP 503: down\n"
    )
    assert hub.calls[0].sql == (
        "SELECT id, title, COALESCE(project,'') as project, COALESCE(type,'') as type, priority, "
        "COALESCE(posted_by,'') as posted_by, COALESCE(claimed_by,'') as claimed_by, status, "
        "COALESCE(effort_level,'medium') as effort_level FROM wanted WHERE status = 'open' AND "
        "type = 'bug' AND priority = 1 AND title LIKE '%50\\%\\_x%' ORDER BY priority ASC, "
        "created_at DESC LIMIT 5"
    )


def test_write_poll_gives_up_after_five_errors(
    wl: WlRunner, joined: Path, hub: FakeHub, vtime: VirtualTime
) -> None:
    hub.override = lambda c: httpx.Response(500, text="boom") if c.path.endswith("/write") else None
    result = wl("claim", ITEM)
    assert result.code == 1
    assert result.err == 'wl: polling write operation "users/u/userOperations/1": HTTP 500: boom\n'
    assert vtime.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_write_error_envelope(wl: WlRunner, joined: Path, hub: FakeHub) -> None:
    def fail(call: Call) -> httpx.Response | None:
        if call.method == "POST" and "/write/" in call.path:
            return httpx.Response(
                200, json={"query_execution_status": "Error", "query_execution_message": "no way"}
            )
        return None

    hub.override = fail
    result = wl("claim", ITEM)
    assert (result.code, result.err) == (1, "wl: write operation failed: no way\n")


def test_poll_reports_done_with_unknown_status(wl: WlRunner, joined: Path, hub: FakeHub) -> None:
    hub.override = lambda c: (
        httpx.Response(200, json={"done": True}) if c.path.endswith("/write") else None
    )
    result = wl("claim", ITEM)
    assert (
        result.err
        == 'wl: write operation "users/u/userOperations/1" finished with unknown status\n'
    )


def test_status_shows_branch_state(wl: WlRunner, joined: Path, hub: FakeHub) -> None:
    assert wl("claim", ITEM).code == 0
    result = wl("show", "w-open0")
    assert result.code == 0, result.err
    assert result.out == (
        f"{ITEM}: Fix the flux capacitor\n\n"
        "  Status:      claimed\n"
        "  Type:        bug           Priority: P1\n"
        "  Project:     gt            Effort:   medium\n"
        "  Posted by:   hop\n"
        "  Created:     2026-03-08 12:00:00\n"
        "  Updated:     2026-03-08 12:00:00\n"
        "\n  Claimed by:  alice\n"
        f"\n  Branch:      {BRANCH}\n"
        f"  Branch URL:  https://www.dolthub.com/repositories/alice/wl-commons/data/{BRANCH_ESC}\n"
        "  Delta:       claim\n"
        "  Main status: open\n"
        "  PR:          https://www.dolthub.com/repositories/hop/wl-commons/pulls/1\n"
    )


def test_status_errors(wl: WlRunner, joined: Path) -> None:
    assert wl("status", "w-zzz").err == 'wl: no wanted item matching "w-zzz"\n'
    assert wl("status", "w-").err == (
        'wl: ambiguous prefix "w-" matches: w-open000001, w-review0001, w-taken00001\n'
    )


def test_accept_refuses_own_completion(wl: WlRunner, joined: Path, hub: FakeHub) -> None:
    hub.dbs[("hop", "wl-commons")]["main"]["completions"]["c-1"] = {
        "id": "c-1",
        "wanted_id": "w-review0001",
        "completed_by": "alice",
        "evidence": "e",
    }
    result = wl("accept", "w-review0001", "--quality", "4")
    assert (result.code, result.err) == (1, "wl: cannot accept your own completion\n")
    missing = wl("accept", "w-taken00001", "--quality", "4")
    assert (
        missing.err
        == 'wl: querying completion: no completion found for wanted item "w-taken00001"\n'
    )


def test_accept_by_maintainer_issues_stamp(wl: WlRunner, hub: FakeHub, wl_env: Path) -> None:
    hub.dbs[("hop", "wl-commons")]["main"]["completions"]["c-1"] = {
        "id": "c-1",
        "wanted_id": "w-review0001",
        "completed_by": "bob",
        "evidence": "e",
    }
    write_config(wl_env, handle="hop", fork_org="hop")
    result = wl(
        "accept", "w-review0001", "--quality", "5", "--skills", "go, sql", "--message", "great"
    )
    assert result.code == 0, result.err
    sqls = [c.sql for c in _writes(hub)]
    assert len(sqls) == 3
    assert sqls[0].startswith(
        "INSERT INTO stamps (id, author, subject, valence, confidence, severity"
    )
    assert (
        "'hop', 'bob', '{\"quality\": 5, \"reliability\": 5}', 1.0, 'leaf', 'c-1', 'completion', '[\"go\",\"sql\"]', 'great',"
        in sqls[0]
    )
    assert (
        sqls[2]
        == "UPDATE wanted SET status='completed', updated_at=NOW() WHERE id='w-review0001' AND status='in_review'"
    )
    assert result.out.startswith(
        "✓ Accepted w-review0001\n  Title: Waiting for review\n  Status: completed\n"
        "  Quality: 5, Reliability: 5\n  Severity: leaf\n  Skills: go, sql\n  Message: great\n"
    )


def test_wild_west_mode_cannot_write_remotely(wl: WlRunner, hub: FakeHub, wl_env: Path) -> None:
    write_config(wl_env, mode="wild-west")
    result = wl("claim", ITEM)
    assert (
        result.err
        == "wl: wild-west mode requires direct upstream access; switch to PR mode in settings\n"
    )
    assert [c.method for c in hub.calls] == ["GET"]  # only the ID resolution ran


def test_pr_url_falls_back_to_pulls_page(wl: WlRunner, joined: Path, hub: FakeHub) -> None:
    hub.pr_id_field = "pull_id"  # the real CLI only reads "_id" from the create answer
    result = wl("claim", ITEM)
    assert "  PR: https://www.dolthub.com/repositories/hop/wl-commons/pulls\n" in result.out


@pytest.mark.parametrize("color", ["never", "auto"])
def test_no_escape_codes_when_not_a_terminal(wl: WlRunner, joined: Path, color: str) -> None:
    assert "\x1b" not in wl("--color", color, "browse").out


def test_color_always_styles_output(wl: WlRunner, joined: Path) -> None:
    out = wl("--color", "always", "browse").out
    assert "\x1b[1mID\x1b[0m" in out


def test_reject_and_close_statements(wl: WlRunner, hub: FakeHub, wl_env: Path) -> None:
    hub.dbs[("hop", "wl-commons")]["main"]["completions"]["c-9"] = {
        "id": "c-9",
        "wanted_id": "w-review0001",
        "completed_by": "bob",
        "evidence": "e",
    }
    write_config(wl_env, handle="hop", fork_org="hop")
    rejected = wl("reject", "w-review0001", "--reason", "tests fail")
    assert rejected.code == 0, rejected.err
    assert [c.sql for c in _writes(hub)] == [
        "DELETE FROM completions WHERE wanted_id='w-review0001'",
        "UPDATE wanted SET status='claimed', updated_at=NOW() WHERE id='w-review0001' AND status='in_review'",
    ]
    assert "  Status: claimed\n  Reason: tests fail\n" in rejected.out
    assert rejected.out.endswith(
        "\n  Next: claimer can fix and resubmit: wl done w-review0001 --evidence <url>\n"
    )


def test_close_on_fresh_branch(wl: WlRunner, hub: FakeHub, wl_env: Path) -> None:
    write_config(wl_env, handle="hop", fork_org="hop")
    closed = wl("close", "w-review0001")
    assert closed.code == 0, closed.err
    assert [c.sql for c in _writes(hub)] == [
        "UPDATE wanted SET status='completed', updated_at=NOW() WHERE id='w-review0001' AND status='in_review'"
    ]
    assert closed.out.startswith(
        "✓ Closed w-review0001\n  Title: Waiting for review\n  Status: completed\n"
    )
    assert "  Delta: accept\n" in closed.out  # in_review→completed is labelled by the first rule


def test_delete_of_branch_only_item(wl: WlRunner, joined: Path, hub: FakeHub) -> None:
    posted = wl("post", "--title", "Oops")
    wid = posted.out.split("Posted wanted item: ")[1].split("\n")[0]
    result = wl("delete", wid)
    assert result.code == 0, result.err
    assert result.out == (
        f"✓ Withdrawn {wid}\n  Status: withdrawn\n  Branch: wl/alice/{wid}\n"
        "\n  branch-only item — branch deleted\n"
        "\n  Next: wl browse to see the board\n"
    )
    assert f"wl/alice/{wid}" not in hub.dbs[("alice", "wl-commons")]
    assert hub.pulls[("hop", "wl-commons")][0]["state"] == "Closed"


def test_update_statement_and_write_http_error(wl: WlRunner, joined: Path, hub: FakeHub) -> None:
    # The in-memory hub does not implement this UPDATE and answers 404, which the CLI
    # reports as the real one does.
    result = wl("update", ITEM, "--priority", "0", "--tags", "a", "--title", "Renamed")
    assert result.code == 1
    assert result.err.startswith('wl: exec failed: HTTP 404: {"status":"Error"')
    (write,) = _writes(hub)
    assert write.sql == (
        "UPDATE wanted SET title='Renamed', priority=0, tags='[\"a\"]', updated_at=NOW() "
        f"WHERE id='{ITEM}' AND status='open'"
    )


def test_me_sections(wl: WlRunner, hub: FakeHub, wl_env: Path) -> None:
    write_config(wl_env, handle="bob", fork_org="bob")

    def answer(call: Call) -> httpx.Response | None:
        if "claimed_by = 'bob' AND status IN" in call.sql:
            rows = [
                {
                    "id": "w-taken00001",
                    "title": "Already taken",
                    "status": "claimed",
                    "priority": "1",
                    "effort_level": "small",
                }
            ]
        elif "posted_by = 'bob'" in call.sql or "status = 'completed'" in call.sql:
            rows = []
        else:
            return None
        return httpx.Response(200, json={"query_execution_status": "Success", "rows": rows})

    hub.override = answer
    result = wl("me")
    assert result.code == 0, result.err
    assert result.out == (
        "\nClaimed items:\n  w-taken00001 Already taken                  claimed      P1   small\n"
    )
    assert [c.sql for c in hub.calls] == [
        "SELECT id, title, status, priority, effort_level FROM wanted WHERE claimed_by = 'bob' AND status IN ('claimed','in_review') ORDER BY priority ASC",
        "SELECT id, title, claimed_by FROM wanted WHERE posted_by = 'bob' AND status = 'in_review' ORDER BY priority ASC",
        "SELECT id, title FROM wanted WHERE claimed_by = 'bob' AND status = 'completed' ORDER BY updated_at DESC LIMIT 5",
    ]
    hub.override = lambda c: httpx.Response(200, json={"rows": []})
    assert wl("me").out == "\nNothing here — browse the board: wl browse\n"


def test_config_get_and_set(wl: WlRunner, hub: FakeHub, wl_env: Path) -> None:
    path = write_config(wl_env, joined_at="2026-03-08T12:00:00.500+00:00")
    assert wl("config", "get", "mode").out == "pr\n"
    assert wl("config", "get", "signing").out == "false\n"
    assert wl("config", "get", "nope").err == (
        'wl: unknown config key "nope" (supported: mode, signing, provider-type, github-repo)\n'
    )
    assert (
        wl("config", "set", "mode", "yolo").err
        == 'wl: invalid mode "yolo": must be "wild-west" or "pr"\n'
    )
    assert (
        wl("config", "set", "provider-type", "x").err
        == "wl: provider-type is read-only (set during 'wl join')\n"
    )
    assert wl("config", "get").err == "wl: accepts 1 arg(s), received 0\n"
    assert wl("config", "set", "signing", "true").out == "signing = true\n"
    saved = json.loads(path.read_text())
    assert saved["signing"] is True
    assert saved["joined_at"] == "2026-03-08T12:00:00.5Z"  # re-encoded like Go's time.Time
    assert list(saved)[-1] == "signing"
    assert wl("config").code == 0
    assert hub.calls == []


def test_join_with_session_token_forks_over_graphql(
    wl: WlRunner, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOLTHUB_SESSION_TOKEN", "sess-1")

    def graphql(call: Call) -> httpx.Response | None:
        if call.path == "/graphql":
            src = hub.dbs[("hop", "wl-commons")]["main"]
            hub.dbs[("alice", "wl-commons")] = {"main": json.loads(json.dumps(src))}
            return httpx.Response(200, json={"data": {"createFork": {"forkOperationName": "op"}}})
        return None

    hub.override = graphql
    result = wl("join", "--display-name", "A")
    assert result.code == 0, result.err
    fork = hub.calls[0]
    assert fork.raw_path == "/graphql"
    assert "authorization" not in fork.headers
    assert fork.headers["cookie"] == "dolthubToken=sess-1"
    body = fork.json
    assert body["variables"] == {
        "ownerName": "alice",
        "parentOwnerName": "hop",
        "parentRepoName": "wl-commons",
    }
    assert body["query"].startswith("mutation CreateFork($ownerName: String!")
    assert list(body) == ["query", "variables"]
    assert hub.calls[1].path == "/api/v1alpha1/alice/wl-commons/wl/register/alice"  # no fork poll
