"""Binary-agnostic ``wl`` scenarios against a DoltHub sandbox.

Every scenario runs a ``wl`` executable as a subprocess (the stand-in, or the real Go
binary built to point at the sandbox) and then checks DoltHub state through the sandbox's
REST API. Nothing here depends on which implementation is under test, so the same
functions certify the stand-in today and the real binary wherever it can be built.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from wasteland_common.dolthub import DoltHubClient, PollPolicy, PullRequest, bind

UPSTREAM = "hop/wl-commons"
T = TypeVar("T")


@dataclass
class Run:
    code: int
    out: str
    err: str


@dataclass
class Hub:
    """Checks (and maintainer set-up writes) through the shared DoltHub client, so the
    assertions do not depend on the ``wl`` implementation under test."""

    api: str  # http://127.0.0.1:PORT/api/v1alpha1

    def _call(self, token: str, action: Callable[[DoltHubClient], Awaitable[T]]) -> T:
        async def go() -> T:
            client = DoltHubClient(
                self.api, token=token, poll=PollPolicy(initial=0.02, maximum=0.2)
            )
            try:
                return await action(client)
            finally:
                await client.aclose()

        return asyncio.run(go())

    def rows(self, owner: str, db: str, ref: str, sql: str, token: str) -> list[dict[str, Any]]:
        result = self._call(token, lambda c: c.read(owner, db, sql, ref=ref))
        return [dict(r) for r in result.rows]

    def exists(self, owner: str, db: str, token: str) -> bool:
        return self._call(token, lambda c: c.database_exists(owner, db))

    def branches(self, owner: str, db: str, token: str) -> list[str]:
        return self._call(token, lambda c: c.list_branches(owner, db))

    def pulls(self, owner: str, db: str, token: str) -> list[PullRequest]:
        """Every PR of ``owner/db`` in detail."""

        async def all_pulls(c: DoltHubClient) -> list[PullRequest]:
            return [await c.get_pull(owner, db, p.pull_id) for p in await c.list_pulls(owner, db)]

        return self._call(token, all_pulls)

    def write_main(self, owner: str, db: str, sql: str, token: str) -> None:
        """A maintainer's change to ``main``: written on a branch, then merged."""
        branch = f"setup/{uuid.uuid4().hex[:8]}"

        async def change(c: DoltHubClient) -> None:
            await c.write(owner, db, "main", branch, sql)
            await c.merge_branch(owner, db, branch, "main")

        self._call(token, change)


@dataclass
class Rig:
    """One user of ``wl``: their own config home, token and org."""

    binary: str
    api: str
    home: Path
    handle: str
    token: str

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("DOLTHUB_", "XDG_"))}
        base.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / "config"),
            XDG_DATA_HOME=str(self.home / "data"),
            DOLTHUB_TOKEN=self.token,
            DOLTHUB_ORG=self.handle,
            DOLTHUB_API_URL=self.api,
            GIT_CONFIG_GLOBAL=os.devnull,
            GIT_CONFIG_NOSYSTEM="1",
            NO_COLOR="1",
        )
        return base

    def wl(self, *args: str, timeout: float = 120.0) -> Run:
        proc = subprocess.run(
            [self.binary, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def config(self) -> dict[str, Any]:
        path = self.home / "config" / "wasteland" / "wastelands" / "hop" / "wl-commons.json"
        data = json.loads(path.read_text())
        assert isinstance(data, dict)
        return data

    def join(self) -> Run:
        result = self.wl(
            "join",
            UPSTREAM,
            "--display-name",
            self.handle.title(),
            "--email",
            f"{self.handle}@example.com",
        )
        assert result.code == 0, result
        return result


def open_item(hub: Hub, token: str) -> tuple[str, str]:
    """``(id, title)`` of some open upstream item."""
    rows = hub.rows(
        "hop",
        "wl-commons",
        "main",
        "SELECT id, title FROM wanted WHERE status = 'open' ORDER BY id",
        token,
    )
    assert rows, "the sandbox seed has no open wanted item"
    return str(rows[0]["id"]), str(rows[0]["title"])


def item_on(hub: Hub, owner: str, ref: str, item_id: str, token: str) -> dict[str, Any] | None:
    rows = hub.rows(
        owner,
        "wl-commons",
        ref,
        bind(
            "SELECT id, title, status, claimed_by, evidence_url FROM wanted WHERE id = ?", item_id
        ),
        token,
    )
    return rows[0] if rows else None


# --- scenarios ---------------------------------------------------------------------------------


def scenario_join(alice: Rig, hub: Hub) -> None:
    result = alice.join()
    assert "✓ Joined wasteland: hop/wl-commons (remote mode)\n" in result.out
    assert "  Backend: remote (DoltHub API)\n" in result.out
    assert hub.exists("alice", "wl-commons", alice.token)
    assert "wl/register/alice" in hub.branches("alice", "wl-commons", alice.token)
    rigs = hub.rows(
        "alice",
        "wl-commons",
        "wl/register/alice",
        "SELECT handle, trust_level, hop_uri FROM rigs WHERE handle = 'alice'",
        alice.token,
    )
    assert [(r["handle"], str(r["trust_level"]), r["hop_uri"]) for r in rigs] == [
        ("alice", "1", "hop://alice@example.com/alice/")
    ]
    pulls = [
        p
        for p in hub.pulls("hop", "wl-commons", alice.token)
        if p.from_branch == "wl/register/alice"
    ]
    assert len(pulls) == 1
    assert pulls[0].from_owner == "alice"
    cfg = alice.config()
    assert list(cfg)[:7] == [
        "upstream",
        "provider_type",
        "upstream_url",
        "fork_org",
        "fork_db",
        "local_dir",
        "rig_handle",
    ]
    assert (cfg["rig_handle"], cfg["fork_org"], cfg["mode"], cfg["backend"]) == (
        "alice",
        "alice",
        "pr",
        "remote",
    )
    again = alice.wl("join")
    assert again.code == 0
    assert again.out.startswith("⚠ Already joined wasteland: hop/wl-commons\n")


def scenario_browse_json(alice: Rig, hub: Hub) -> None:
    alice.join()
    result = alice.wl("browse", "--json", "--view", "upstream", "--limit", "500")
    assert result.code == 0, result
    items = json.loads(result.out)
    upstream = hub.rows("hop", "wl-commons", "main", "SELECT id, status FROM wanted", alice.token)
    assert sorted((i["id"], i["status"]) for i in items) == sorted(
        (r["id"], r["status"]) for r in upstream
    )
    assert all(set(i) >= {"id", "title", "priority", "status", "effort_level"} for i in items)
    empty = alice.wl("browse", "--json", "--status", "no-such-status")
    assert (empty.code, empty.out) == (0, "null\n")
    table = alice.wl("browse")
    assert table.code == 0
    assert table.out.startswith(
        f"Wanted items ({len(items) if len(items) <= 50 else 50}):\n\n  ID "
    )


def scenario_claim(alice: Rig, hub: Hub) -> str:
    alice.join()
    item_id, title = open_item(hub, alice.token)
    result = alice.wl("claim", item_id)
    assert result.code == 0, result
    assert result.out.startswith(
        f"✓ Claimed {item_id}\n  Title: {title}\n  Status: claimed\n  Claimed by: alice\n"
    )
    assert f"  Branch: wl/alice/{item_id}\n" in result.out
    row = item_on(hub, "alice", f"wl/alice/{item_id}", item_id, alice.token)
    assert row is not None
    assert (row["status"], row["claimed_by"]) == ("claimed", "alice")
    upstream = item_on(hub, "hop", "main", item_id, alice.token)
    assert upstream is not None
    assert upstream["status"] == "open"
    prs = [
        p
        for p in hub.pulls("hop", "wl-commons", alice.token)
        if p.from_branch == f"wl/alice/{item_id}"
    ]
    assert len(prs) == 1
    assert prs[0].title == f"[wl] {title}"
    assert re.search(
        r"  PR: https://www\.dolthub\.com/repositories/hop/wl-commons/pulls(/\S+)?\n", result.out
    )
    return item_id


def scenario_claim_not_open_is_silent(alice: Rig, hub: Hub, maintainer_token: str) -> None:
    item_id, _ = open_item(hub, maintainer_token)
    hub.write_main(
        "hop",
        "wl-commons",
        bind("UPDATE wanted SET status='completed' WHERE id = ?", item_id),
        maintainer_token,
    )
    alice.join()  # the fork copies the completed state
    result = alice.wl("claim", item_id)
    assert result.code == 0, result
    assert result.out.startswith(f"✓ Claimed {item_id}\n")
    assert "  Status: completed\n" in result.out
    assert "  Status: claimed\n" not in result.out
    row = item_on(hub, "hop", "main", item_id, alice.token)
    assert row is not None
    assert row["status"] == "completed"


def scenario_status(alice: Rig, hub: Hub) -> None:
    item_id = scenario_claim(alice, hub)
    result = alice.wl("status", item_id)
    assert result.code == 0, result
    assert "  Status:      claimed\n" in result.out
    assert f"  Branch:      wl/alice/{item_id}\n" in result.out
    assert "  Main status: open\n" in result.out
    assert "  Claimed by:  alice\n" in result.out
    missing = alice.wl("status", "w-does-not-exist")
    assert missing.code == 1
    assert missing.err == 'wl: no wanted item matching "w-does-not-exist"\n'


def scenario_unclaim(alice: Rig, hub: Hub) -> None:
    item_id = scenario_claim(alice, hub)
    result = alice.wl("unclaim", item_id)
    assert result.code == 0, result
    assert "  Status: open\n" in result.out
    assert "\n  reverted — branch cleaned up\n" in result.out
    assert f"wl/alice/{item_id}" not in hub.branches("alice", "wl-commons", alice.token)
    prs = [
        p
        for p in hub.pulls("hop", "wl-commons", alice.token)
        if p.from_branch == f"wl/alice/{item_id}"
    ]
    assert [p.state for p in prs] == ["closed"]


def scenario_done(alice: Rig, hub: Hub) -> None:
    item_id = scenario_claim(alice, hub)
    evidence = "https://example.com/pull/42"
    result = alice.wl("done", item_id, "--evidence", evidence)
    assert result.code == 0, result
    assert result.out.startswith(f"✓ Completion submitted for {item_id}\n")
    assert "  Status: in_review\n" in result.out
    assert f"  Evidence: {evidence}\n" in result.out
    ref = f"wl/alice/{item_id}"
    row = item_on(hub, "alice", ref, item_id, alice.token)
    assert row is not None
    assert (row["status"], row["evidence_url"]) == ("in_review", evidence)
    completions = hub.rows(
        "alice",
        "wl-commons",
        ref,
        bind("SELECT id, completed_by, evidence FROM completions WHERE wanted_id = ?", item_id),
        alice.token,
    )
    assert len(completions) == 1
    assert completions[0]["completed_by"] == "alice"
    assert re.fullmatch(r"c-[0-9a-f]{16}", str(completions[0]["id"]))
    prs = [p for p in hub.pulls("hop", "wl-commons", alice.token) if p.from_branch == ref]
    assert len(prs) == 1  # the claim's PR is reused


def scenario_post(alice: Rig, hub: Hub) -> None:
    alice.join()
    result = alice.wl(
        "post", "--title", "Scenario item", "--type", "docs", "--tags", "a,b", "--effort", "small"
    )
    assert result.code == 0, result
    match = re.search(r"Posted wanted item: (\S*)", result.out)
    assert match is not None
    item_id = match.group(1)
    assert re.fullmatch(r"w-[0-9a-f]{10}", item_id)
    assert f"  Branch:   wl/alice/{item_id}\n" in result.out
    row = item_on(hub, "alice", f"wl/alice/{item_id}", item_id, alice.token)
    assert row is not None
    assert (row["title"], row["status"]) == ("Scenario item", "open")
    prs = [
        p
        for p in hub.pulls("hop", "wl-commons", alice.token)
        if p.from_branch == f"wl/alice/{item_id}"
    ]
    assert [p.title for p in prs] == ["[wl] Scenario item"]


def scenario_sync(alice: Rig, hub: Hub) -> None:
    alice.join()
    result = alice.wl("sync")
    assert (result.code, result.out, result.err) == (
        0,
        "Remote mode: reads are always fresh from the DoltHub API.\n",
        "",
    )
