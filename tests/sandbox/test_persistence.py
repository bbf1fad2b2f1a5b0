"""Durability across restarts, and the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.sandbox.helpers import ALICE, HOP, FakeClock, serving
from tests.support.sandbox import ALICE_TOKEN, api_url, start_sandbox


def test_state_survives_restart(tmp_path: Path, seeded: Path) -> None:
    data = tmp_path / "data"
    with serving(data, seeded) as api:
        api.fork_done("alice", "hop", "wl-commons", ALICE)
        api.commit_write(
            "alice",
            "wl-commons",
            "main",
            "wl/alice/w-demo-003",
            "UPDATE wanted SET status='claimed' WHERE id='w-demo-003'",
        )
        api.http.post(
            "/hop/wl-commons/pulls",
            headers=ALICE,
            json={
                "title": "t",
                "description": "d",
                "fromBranchOwnerName": "alice",
                "fromBranchRepoName": "wl-commons",
                "fromBranchName": "wl/alice/w-demo-003",
                "toBranchOwnerName": "hop",
                "toBranchRepoName": "wl-commons",
                "toBranchName": "main",
            },
        )
        head = api.head("alice", "wl-commons", "wl/alice/w-demo-003")
    with serving(data) as api:
        assert api.head("alice", "wl-commons", "wl/alice/w-demo-003") == head
        rows = api.rows(
            "alice",
            "wl-commons",
            "wl/alice/w-demo-003",
            "SELECT status FROM wanted WHERE id='w-demo-003'",
            ALICE,
        )
        assert rows == [{"status": "claimed"}]
        assert api.http.get("/hop/wl-commons/pulls/1").json()["state"] == "Open"
        # Not re-seeded: still exactly the seven demo items upstream.
        assert len(api.rows("hop", "wl-commons", "main", "SELECT id FROM wanted")) == 7


def test_pending_operation_survives_restart(tmp_path: Path, seeded: Path) -> None:
    data = tmp_path / "data"
    clock = FakeClock()
    with serving(data, seeded, clock=clock, op_delay=60) as api:
        operation = api.write(
            "hop", "wl-commons", "main", "main", "DELETE FROM wanted WHERE id='w-demo-002'", HOP
        ).json()["operation_name"]
        assert api.poll("hop", "wl-commons", operation, HOP).json()["done"] is False
    clock.advance(60)
    with serving(data, clock=clock, op_delay=60) as api:
        done = api.poll("hop", "wl-commons", operation, HOP)
        assert done.json()["done"] is True
        assert (
            api.rows("hop", "wl-commons", "main", "SELECT id FROM wanted WHERE id='w-demo-002'")
            == []
        )


def test_seed_none_starts_empty(tmp_path: Path) -> None:
    with serving(tmp_path / "data", seed="none") as api:
        assert api.read("hop", "wl-commons", "main", None).status_code == 404
        assert api.read("hop", "wl-commons", "main", "SELECT 1", ALICE).status_code == 400


def test_command_line_serves_the_seeded_api(tmp_path: Path) -> None:
    with start_sandbox(tmp_path / "cli") as proc:
        assert "dolthub-sandbox listening on http://127.0.0.1:" in proc.text()
        health = httpx.get(proc.url + "/healthz", timeout=10)
        assert health.status_code == 200
        resp = httpx.get(
            api_url(proc) + "/hop/wl-commons/main",
            params={"q": "SELECT COUNT(*) AS cnt FROM wanted WHERE status = 'open'"},
            headers={"authorization": f"token {ALICE_TOKEN}"},
            timeout=10,
        )
        assert resp.status_code == 200
        assert int(resp.json()["rows"][0]["cnt"]) >= 5
    assert ALICE_TOKEN not in proc.text()


def test_module_entry_point_and_bad_arguments() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "dolthub_sandbox", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0
    for flag in ("--host", "--port", "--data-dir", "--seed", "--row-limit", "--op-delay"):
        assert flag in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "dolthub_sandbox", "--data-dir", "x", "--row-limit", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "row_limit" in bad.stderr
