"""Binary-agnostic ``wl`` scenarios against a DoltHub sandbox.

Every scenario runs a ``wl`` executable as a subprocess (the stand-in, or the real Go
binary built to point at the sandbox) and then checks DoltHub state through the sandbox's
REST API. Nothing here depends on which implementation is under test, so the same
functions certify the stand-in today and the real binary wherever it can be built.

Most scenarios share one :class:`World`: a seeded sandbox whose upstream ``hop/wl-commons``
got every item the scenarios need *before* any rig forked it (a fork's main is frozen at
fork time, protocol spec 5.4), a contributor rig ``alice`` and the maintainer rig ``hop``
(user ``hop-maintainer``, whose "fork" is the commons itself). Each scenario works on its
own items, so the scenarios of one world may run in any order.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from wasteland_common.dolthub import DoltHubClient, PollPolicy, PullRequest, bind

UPSTREAM = "hop/wl-commons"
UP_OWNER, UP_DB = "hop", "wl-commons"
PR_URL_RE = r"https://www\.dolthub\.com/repositories/hop/wl-commons/pulls(/\S+)?"
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

    def pulls_from(self, branch: str, token: str) -> list[PullRequest]:
        """The upstream PRs whose source branch is ``branch``."""
        return [p for p in self.pulls(UP_OWNER, UP_DB, token) if p.from_branch == branch]

    def commit_main(self, owner: str, db: str, statements: list[str], token: str) -> None:
        """A maintainer's changes to ``main``: written on one branch, then merged once."""
        branch = f"setup/{uuid.uuid4().hex[:8]}"

        async def change(c: DoltHubClient) -> None:
            source = "main"
            for sql in statements:
                await c.write(owner, db, source, branch, sql)
                source = branch
            await c.merge_branch(owner, db, branch, "main")

        self._call(token, change)


@dataclass
class Rig:
    """One user of ``wl``: their own config home, token and org (= handle)."""

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

    def branch(self, item_id: str) -> str:
        return f"wl/{self.handle}/{item_id}"


# --- the shared world ----------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """A wanted item a scenario works on, as seeded on upstream main."""

    id: str
    title: str
    status: str = "open"
    claimed_by: str | None = None
    # A completion row by this rig is seeded with the item (for items in review).
    completed_by: str | None = None
    project: str | None = "scenarios"
    type: str | None = "feature"

    @property
    def completion_id(self) -> str:
        return f"c-{self.id.removeprefix('w-')}"

    def seed_sql(self) -> list[str]:
        """The maintainer's statements that put this item on upstream main."""
        statements = [
            bind(
                "INSERT INTO wanted (id, title, description, project, type, priority,"
                " posted_by, claimed_by, status, effort_level, created_at, updated_at)"
                " VALUES (?, ?, 'seeded by the wl scenarios', ?, ?, 2, 'hop-maintainer', ?, ?,"
                " 'small', NOW(), NOW())",
                self.id,
                self.title,
                self.project,
                self.type,
                self.claimed_by,
                self.status,
            )
        ]
        if self.completed_by is not None:
            statements.append(
                bind(
                    "INSERT INTO completions (id, wanted_id, completed_by, evidence,"
                    " completed_at) VALUES (?, ?, ?, 'https://example.com/pr/1', NOW())",
                    self.completion_id,
                    self.id,
                    self.completed_by,
                )
            )
        return statements


# In review upstream: claimed by carol (no sandbox account), with her completion.
_IN_REVIEW: tuple[str, str | None, str | None] = ("in_review", "carol", "carol")

# purpose -> (status, claimed_by, completed_by) on upstream main before anyone forks.
WORLD_ITEMS: dict[str, tuple[str, str | None, str | None]] = {
    "claim": ("open", None, None),
    "status": ("open", None, None),
    "unclaim": ("open", None, None),
    "done": ("open", None, None),
    "overlay": ("open", None, None),
    "notopen": ("completed", "carol", None),
    "withdrawn": ("withdrawn", None, None),
    "accept": _IN_REVIEW,
    "acceptdefaults": _IN_REVIEW,
    "acceptown": ("in_review", "hop", "hop"),
    "acceptopen": ("open", None, None),
    "reject": _IN_REVIEW,
    "close": _IN_REVIEW,
}


@dataclass
class World:
    """A sandbox shared by many scenarios: its hub, the joined rigs and the seeded items."""

    hub: Hub
    alice: Rig
    maintainer: Rig
    items: dict[str, Item] = field(default_factory=dict)

    @property
    def token(self) -> str:
        """A token for read-only checks."""
        return self.maintainer.token


def build_world(
    hub: Hub, binary: str, root: Path, *, alice_token: str, maintainer_token: str
) -> World:
    """Seed :data:`WORLD_ITEMS` on upstream main, then let ``alice`` and the maintainer
    (rig ``hop``) join, in that order."""
    run = uuid.uuid4().hex[:6]
    items: dict[str, Item] = {}
    for purpose, (status, claimed_by, completed_by) in WORLD_ITEMS.items():
        items[purpose] = Item(
            id=f"w-{purpose}-{run}",
            title=f"Scenario {purpose} {run}",
            status=status,
            claimed_by=claimed_by,
            completed_by=completed_by,
            project=None if purpose == "withdrawn" else "scenarios",
            type=None if purpose == "withdrawn" else "feature",
        )
    hub.commit_main(
        UP_OWNER,
        UP_DB,
        [sql for item in items.values() for sql in item.seed_sql()],
        maintainer_token,
    )
    rigs = []
    for handle, token in (("alice", alice_token), ("hop", maintainer_token)):
        home = root / handle
        home.mkdir(parents=True)
        rig = Rig(binary=binary, api=hub.api, home=home, handle=handle, token=token)
        rig.join()
        rigs.append(rig)
    return World(hub=hub, alice=rigs[0], maintainer=rigs[1], items=items)


# --- DoltHub reads -------------------------------------------------------------------------


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


def completions_on(
    hub: Hub, owner: str, ref: str, item_id: str, token: str
) -> list[dict[str, Any]]:
    return hub.rows(
        owner,
        UP_DB,
        ref,
        bind(
            "SELECT id, completed_by, evidence, validated_by, stamp_id, validated_at"
            " FROM completions WHERE wanted_id = ?",
            item_id,
        ),
        token,
    )


def stamps_on(hub: Hub, owner: str, ref: str, context_id: str, token: str) -> list[dict[str, Any]]:
    return hub.rows(
        owner,
        UP_DB,
        ref,
        bind(
            "SELECT id, author, subject, valence, confidence, severity, context_id,"
            " context_type, skill_tags, message, hop_uri FROM stamps WHERE context_id = ?",
            context_id,
        ),
        token,
    )


def _claimed_on_branch(hub: Hub, rig: Rig, item_id: str) -> bool:
    """Whether the rig's branch for ``item_id`` exists and shows the item claimed."""
    if rig.branch(item_id) not in hub.branches(rig.handle, UP_DB, rig.token):
        return False
    row = item_on(hub, rig.handle, rig.branch(item_id), item_id, rig.token)
    return row is not None and row["status"] == "claimed"


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# --- scenarios: join, browse ----------------------------------------------------------------


def scenario_join(alice: Rig, hub: Hub) -> None:
    """On a pristine sandbox: the fork, the registration branch and PR, the config file."""
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
    pulls = hub.pulls_from("wl/register/alice", alice.token)
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


def _browse(rig: Rig, *flags: str) -> list[dict[str, Any]]:
    result = rig.wl("browse", "--json", *flags)
    assert result.code == 0, result
    items = json.loads(result.out)
    assert isinstance(items, list), result.out
    return items


def scenario_browse_json(w: World) -> None:
    """``--view upstream`` is upstream main, every status included; the JSON shape."""
    alice, hub = w.alice, w.hub
    items = _browse(alice, "--view", "upstream", "--limit", "500")
    upstream = hub.rows("hop", "wl-commons", "main", "SELECT id, status FROM wanted", w.token)
    assert sorted((i["id"], i["status"]) for i in items) == sorted(
        (r["id"], r["status"]) for r in upstream
    )
    # No --status means every status, withdrawn included (spec 6.2).
    withdrawn = w.items["withdrawn"]
    assert [i for i in items if i["id"] == withdrawn.id] == [
        {
            "id": withdrawn.id,
            "title": withdrawn.title,
            "priority": 2,
            "posted_by": "hop-maintainer",
            "status": "withdrawn",
            "effort_level": "small",
        }
    ]
    assert all(set(i) >= {"id", "title", "priority", "status", "effort_level"} for i in items)
    assert [i for i in items if i["id"] == "w-demo-006"] == [
        {
            "id": "w-demo-006",
            "title": "Export the leaderboard as CSV",
            "project": "board",
            "type": "feature",
            "priority": 2,
            "posted_by": "hop-maintainer",
            "claimed_by": "scav-ruby",
            "status": "claimed",
            "effort_level": "small",
        }
    ]
    assert all("description" not in i for i in items)  # only with --long
    empty = alice.wl("browse", "--json", "--status", "no-such-status")
    assert (empty.code, empty.out) == (0, "null\n")
    shown = len(_browse(alice))
    table = alice.wl("browse")
    assert table.code == 0
    assert table.out.startswith(f"Wanted items ({min(shown, 50)}):\n\n  ID ")


# Each filter and the query that selects the same rows on upstream main.
BROWSE_FILTERS: list[tuple[tuple[str, ...], str]] = [
    (("--type", "bug"), "SELECT id FROM wanted WHERE type = 'bug'"),
    (("--project", "board"), "SELECT id FROM wanted WHERE project = 'board'"),
    (("--priority", "1"), "SELECT id FROM wanted WHERE priority = 1"),
    (("--status", "completed"), "SELECT id FROM wanted WHERE status = 'completed'"),
    (
        ("--status", "open", "--type", "docs"),
        "SELECT id FROM wanted WHERE status = 'open' AND type = 'docs'",
    ),
    (("--posted-by", "scav-ruby"), "SELECT id FROM wanted WHERE posted_by = 'scav-ruby'"),
    (("--claimed-by", "scav-otto"), "SELECT id FROM wanted WHERE claimed_by = 'scav-otto'"),
    (("--search", "README"), "SELECT id FROM wanted WHERE title LIKE '%README%'"),
]


def scenario_browse_filters(w: World) -> None:
    """``browse --json`` filters select what the same SQL selects on upstream main, in
    ``priority ASC, created_at DESC`` order; ``--limit`` and ``--long``."""
    alice, hub = w.alice, w.hub
    for flags, sql in BROWSE_FILTERS:
        expected = hub.rows(UP_OWNER, UP_DB, "main", sql, w.token)
        assert expected, f"the seed has no item for {flags}"
        got = _browse(alice, "--view", "upstream", "--limit", "500", *flags)
        assert sorted(i["id"] for i in got) == sorted(r["id"] for r in expected), flags
    board = [i["id"] for i in _browse(alice, "--view", "upstream", "--project", "board")]
    assert board == ["w-demo-001", "w-demo-002", "w-demo-006"]  # P0, P1, P2
    limited = _browse(alice, "--view", "upstream", "--project", "board", "--limit", "2")
    assert [i["id"] for i in limited] == ["w-demo-001", "w-demo-002"]
    long = _browse(alice, "--view", "upstream", "--long", "--search", "dark mode")
    assert [(i["id"], i.get("description")) for i in long] == [
        (
            "w-demo-001",
            "The board is hard to read at night. Add a dark theme that follows the OS setting.",
        )
    ]


def scenario_browse_overlay(w: World) -> None:
    """The default view overlays the rig's own claim branch; ``--view upstream`` does not."""
    item = w.items["overlay"]
    claimed = w.alice.wl("claim", item.id)
    assert claimed.code == 0, claimed
    mine = _browse(w.alice, "--search", item.title)
    assert [(i["id"], i["status"], i.get("claimed_by")) for i in mine] == [
        (item.id, "claimed", "alice")
    ]
    upstream = _browse(w.alice, "--view", "upstream", "--search", item.title)
    assert [(i["id"], i["status"], i.get("claimed_by")) for i in upstream] == [
        (item.id, "open", None)
    ]


# --- scenarios: contributor mutations -------------------------------------------------------


def scenario_claim(alice: Rig, hub: Hub, item_id: str, title: str) -> str:
    """A claim lands on the rig's branch with an open PR; upstream is untouched."""
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
    prs = hub.pulls_from(f"wl/alice/{item_id}", alice.token)
    assert len(prs) == 1
    assert prs[0].title == f"[wl] {title}"
    assert re.search(rf"  PR: {PR_URL_RE}\n", result.out)
    return item_id


def scenario_claim_not_open_is_silent(w: World) -> None:
    """Spec 5.5 B: a claim of an item the fork already has as completed exits 0."""
    alice, item = w.alice, w.items["notopen"]
    result = alice.wl("claim", item.id)
    assert result.code == 0, result
    assert result.out.startswith(f"✓ Claimed {item.id}\n")
    assert "  Status: completed\n" in result.out
    assert "  Status: claimed\n" not in result.out
    assert "\n  reverted — branch cleaned up\n" in result.out
    # The branch never existed, so DOLT_BRANCH -D fails and the fallback DELETEs (spec
    # 4.7) may leave a branch without the row; either way there is no claim on it.
    assert not _claimed_on_branch(w.hub, alice, item.id)
    assert [p.state for p in w.hub.pulls_from(alice.branch(item.id), alice.token)] in (
        [],
        ["closed"],
    )
    row = item_on(w.hub, "hop", "main", item.id, alice.token)
    assert row is not None
    assert (row["status"], row["claimed_by"]) == ("completed", "carol")


def scenario_claim_stale_fork_is_silent(w: World) -> None:
    """Spec 5.5 A: an item posted upstream after the rig forked cannot be claimed (the
    fork's main lacks it), yet ``wl claim`` exits 0 and prints the upstream status."""
    alice, hub = w.alice, w.hub
    item = Item(id=f"w-stale-{uuid.uuid4().hex[:6]}", title="Scenario posted after the fork")
    hub.commit_main(UP_OWNER, UP_DB, item.seed_sql(), w.maintainer.token)
    result = alice.wl("claim", item.id)
    assert result.code == 0, result
    assert result.out.startswith(f"✓ Claimed {item.id}\n  Title: {item.title}\n  Status: open\n")
    assert "  Status: claimed\n" not in result.out
    assert not _claimed_on_branch(hub, alice, item.id)
    upstream = item_on(hub, "hop", "main", item.id, alice.token)
    assert upstream is not None
    assert (upstream["status"], upstream["claimed_by"]) == ("open", None)


def scenario_status(w: World) -> None:
    alice, item = w.alice, w.items["status"]
    scenario_claim(alice, w.hub, item.id, item.title)
    result = alice.wl("status", item.id)
    assert result.code == 0, result
    assert result.out.startswith(f"{item.id}: {item.title}\n\n  Status:      claimed\n")
    assert f"  Branch:      wl/alice/{item.id}\n" in result.out
    assert "  Main status: open\n" in result.out
    assert "  Claimed by:  alice\n" in result.out
    missing = alice.wl("status", "w-does-not-exist")
    assert missing.code == 1
    assert missing.err == 'wl: no wanted item matching "w-does-not-exist"\n'


def scenario_unclaim(w: World) -> None:
    alice, item = w.alice, w.items["unclaim"]
    scenario_claim(alice, w.hub, item.id, item.title)
    result = alice.wl("unclaim", item.id)
    assert result.code == 0, result
    assert result.out.startswith(f"✓ Unclaimed {item.id}\n")
    assert "  Status: open\n" in result.out
    assert "\n  reverted — branch cleaned up\n" in result.out
    assert alice.branch(item.id) not in w.hub.branches("alice", "wl-commons", alice.token)
    prs = w.hub.pulls_from(alice.branch(item.id), alice.token)
    assert [p.state for p in prs] == ["closed"]


def scenario_done(w: World) -> None:
    alice, hub, item = w.alice, w.hub, w.items["done"]
    item_id = scenario_claim(alice, hub, item.id, item.title)
    evidence = "https://example.com/pull/42"
    result = alice.wl("done", item_id, "--evidence", evidence)
    assert result.code == 0, result
    assert result.out.startswith(f"✓ Completion submitted for {item_id}\n")
    assert "  Status: in_review\n" in result.out
    assert "  Completed by: alice\n" in result.out
    assert f"  Evidence: {evidence}\n" in result.out
    ref = f"wl/alice/{item_id}"
    row = item_on(hub, "alice", ref, item_id, alice.token)
    assert row is not None
    assert (row["status"], row["evidence_url"]) == ("in_review", evidence)
    completions = completions_on(hub, "alice", ref, item_id, alice.token)
    assert len(completions) == 1
    assert completions[0]["completed_by"] == "alice"
    assert completions[0]["evidence"] == evidence
    assert re.fullmatch(r"c-[0-9a-f]{16}", str(completions[0]["id"]))
    assert len(hub.pulls_from(ref, alice.token)) == 1  # the claim's PR is reused


def scenario_post(w: World) -> None:
    alice, hub = w.alice, w.hub
    title = f"Scenario item {uuid.uuid4().hex[:6]}"
    result = alice.wl(
        "post", "--title", title, "--type", "docs", "--tags", "a,b", "--effort", "small"
    )
    assert result.code == 0, result
    match = re.search(r"Posted wanted item: (\S*)", result.out)
    assert match is not None
    item_id = match.group(1)
    assert re.fullmatch(r"w-[0-9a-f]{10}", item_id)
    assert f"  Branch:   wl/alice/{item_id}\n" in result.out
    row = item_on(hub, "alice", f"wl/alice/{item_id}", item_id, alice.token)
    assert row is not None
    assert (row["title"], row["status"]) == (title, "open")
    assert [p.title for p in hub.pulls_from(f"wl/alice/{item_id}", alice.token)] == [
        f"[wl] {title}"
    ]


def scenario_post_all_flags(w: World) -> None:
    """Every ``post`` flag reaches the row on the rig's branch; the output block (6.2)."""
    alice, hub = w.alice, w.hub
    title = f"Scenario all flags {uuid.uuid4().hex[:6]}"
    description = "Has 'quotes', a \\ backslash and ünïcode"
    result = alice.wl(
        "post",
        "--title",
        title,
        "-d",
        description,
        "--project",
        "scenarios",
        "--type",
        "bug",
        "--priority",
        "0",
        "--effort",
        "large",
        "--tags",
        " x, y,,z ",
    )
    assert result.code == 0, result
    match = re.fullmatch(
        r"✓ Posted wanted item: (w-[0-9a-f]{10})\n"
        rf"  Title:    {re.escape(title)}\n"
        r"  Project:  scenarios\n"
        r"  Type:     bug\n"
        r"  Priority: 0\n"
        r"  Effort:   large\n"
        r"  Tags:     x, y, z\n"
        r"  Posted by: alice\n"
        r"  Branch:   wl/alice/\1\n"
        rf"  PR: {PR_URL_RE}\n"
        r"\n  Next: others can claim this\. Browse: wl browse\n",
        result.out,
    )
    assert match is not None, result.out
    item_id = match.group(1)
    rows = hub.rows(
        "alice",
        UP_DB,
        alice.branch(item_id),
        bind(
            "SELECT title, description, project, type, priority, tags, posted_by, claimed_by,"
            " status, effort_level FROM wanted WHERE id = ?",
            item_id,
        ),
        alice.token,
    )
    assert len(rows) == 1
    row = rows[0]
    assert _json(row.pop("tags")) == ["x", "y", "z"]
    assert row == {
        "title": title,
        "description": description,
        "project": "scenarios",
        "type": "bug",
        "priority": "0",
        "posted_by": "alice",
        "claimed_by": None,
        "status": "open",
        "effort_level": "large",
    }
    assert item_on(hub, UP_OWNER, "main", item_id, alice.token) is None
    prs = hub.pulls_from(alice.branch(item_id), alice.token)
    assert [(p.title, p.state, p.from_owner) for p in prs] == [(f"[wl] {title}", "open", "alice")]
    # Validation happens before any DoltHub call.
    bad = alice.wl("post", "--title", "x", "--type", "nope")
    assert bad.code == 1
    assert re.fullmatch(
        r'wl: invalid type "nope": must be one of feature, bug, design, rfc, docs'
        r"(, inference)?\n",
        bad.err,
    )
    bad = alice.wl("post", "--title", "x", "--priority", "7")
    assert (bad.code, bad.err) == (1, "wl: invalid priority 7: must be 0-4\n")
    bad = alice.wl("post", "--type", "bug")
    assert (bad.code, bad.err) == (1, 'wl: required flag(s) "title" not set\n')


def scenario_sync(w: World) -> None:
    result = w.alice.wl("sync")
    assert (result.code, result.out, result.err) == (
        0,
        "Remote mode: reads are always fresh from the DoltHub API.\n",
        "",
    )


# --- scenarios: maintainer reviews ----------------------------------------------------------


def _review_pr(w: World, item: Item) -> PullRequest:
    """The one open upstream PR of the maintainer's branch for ``item``."""
    prs = w.hub.pulls_from(w.maintainer.branch(item.id), w.token)
    assert [(p.state, p.from_owner, p.title) for p in prs] == [
        ("open", "hop", f"[wl] {item.title}")
    ]
    return prs[0]


def _assert_upstream_in_review(w: World, item: Item) -> None:
    """A review is only proposed: upstream main still has the item in review."""
    row = item_on(w.hub, UP_OWNER, "main", item.id, w.token)
    assert row is not None
    assert (row["status"], row["claimed_by"]) == ("in_review", item.claimed_by)
    completions = completions_on(w.hub, UP_OWNER, "main", item.id, w.token)
    assert [(c["id"], c["validated_by"], c["stamp_id"]) for c in completions] == [
        (item.completion_id, None, None)
    ]


def scenario_accept(w: World) -> None:
    """``accept`` with every flag: stamp and validated completion on the branch, the
    output lines, the PR, and ``status`` showing the stamp."""
    hop, hub, item = w.maintainer, w.hub, w.items["accept"]
    result = hop.wl(
        "accept",
        item.id,
        "--quality",
        "4",
        "--reliability",
        "3",
        "--severity",
        "branch",
        "--skills",
        "python, go",
        "--message",
        "Nice work",
    )
    assert result.code == 0, result
    branch = hop.branch(item.id)
    assert result.out.startswith(
        f"✓ Accepted {item.id}\n"
        f"  Title: {item.title}\n"
        "  Status: completed\n"
        "  Quality: 4, Reliability: 3\n"
        "  Severity: branch\n"
        "  Skills: python, go\n"
        "  Message: Nice work\n"
        f"  Branch: {branch}\n"
    ), result.out
    assert re.search(rf"\n  PR: {PR_URL_RE}\n  Delta: accept\n", result.out), result.out
    assert result.out.endswith(f"\n  Next: stamp issued. View: wl status {item.id}\n")

    row = item_on(hub, "hop", branch, item.id, w.token)
    assert row is not None
    assert (row["status"], row["claimed_by"]) == ("completed", "carol")
    completions = completions_on(hub, "hop", branch, item.id, w.token)
    assert len(completions) == 1
    completion = completions[0]
    assert (completion["id"], completion["completed_by"], completion["validated_by"]) == (
        item.completion_id,
        "carol",
        "hop",
    )
    assert completion["validated_at"]
    stamp_id = str(completion["stamp_id"])
    assert re.fullmatch(r"s-[0-9a-f]{16}", stamp_id)
    stamps = stamps_on(hub, "hop", branch, item.completion_id, w.token)
    assert len(stamps) == 1
    stamp = stamps[0]
    assert _json(stamp.pop("valence")) == {"quality": 4, "reliability": 3}
    assert _json(stamp.pop("skill_tags")) == ["python", "go"]
    assert float(stamp.pop("confidence")) == 1.0
    assert stamp == {
        "id": stamp_id,
        "author": "hop",
        "subject": "carol",
        "severity": "branch",
        "context_id": item.completion_id,
        "context_type": "completion",
        "message": "Nice work",
        "hop_uri": hop.config()["hop_uri"],
    }
    _review_pr(w, item)
    _assert_upstream_in_review(w, item)

    status = hop.wl("status", item.id)
    assert status.code == 0, status
    for line in (
        "  Status:      completed\n",
        f"  Branch:      {branch}\n",
        "  Main status: in_review\n",
        f"  Completion:  {item.completion_id}\n",
        "    Completed by: carol\n",
        f"  Stamp:       {stamp_id}\n",
        "    Quality: 4  Reliability: 3  Severity: branch\n",
        "    Skills:      python, go\n",
        "    Accepted by: hop\n",
        "    Message:     Nice work\n",
    ):
        assert line in status.out, (line, status.out)


def scenario_accept_defaults(w: World) -> None:
    """``accept --quality N`` alone: reliability = quality, severity leaf, no skills or
    message (neither printed nor stored)."""
    hop, hub, item = w.maintainer, w.hub, w.items["acceptdefaults"]
    result = hop.wl("accept", item.id, "--quality", "2")
    assert result.code == 0, result
    assert result.out.startswith(
        f"✓ Accepted {item.id}\n  Title: {item.title}\n  Status: completed\n"
        "  Quality: 2, Reliability: 2\n  Severity: leaf\n"
        f"  Branch: {hop.branch(item.id)}\n"
    ), result.out
    assert "Skills:" not in result.out
    assert "Message:" not in result.out
    stamps = stamps_on(hub, "hop", hop.branch(item.id), item.completion_id, w.token)
    assert len(stamps) == 1
    assert _json(stamps[0]["valence"]) == {"quality": 2, "reliability": 2}
    assert (stamps[0]["severity"], stamps[0]["skill_tags"], stamps[0]["message"]) == (
        "leaf",
        None,
        None,
    )
    _review_pr(w, item)
    _assert_upstream_in_review(w, item)


def scenario_accept_refusals(w: World) -> None:
    """Where ``accept`` does fail (exit 1): flag validation, the self-accept guard, and an
    item without a completion upstream. No branch is left behind."""
    hop, hub = w.maintainer, w.hub
    own, unfinished = w.items["acceptown"], w.items["acceptopen"]
    missing = hop.wl("accept", own.id)
    assert (missing.code, missing.out, missing.err) == (
        1,
        "",
        'wl: required flag(s) "quality" not set\n',
    )
    for flags, prefix in (
        (("--quality", "6"), "wl: invalid quality 6"),
        (("--quality", "3", "--reliability", "9"), "wl: invalid reliability 9"),
        (("--quality", "3", "--severity", "trunk"), 'wl: invalid severity "trunk"'),
    ):
        bad = hop.wl("accept", own.id, *flags)
        assert (bad.code, bad.out) == (1, ""), bad
        assert bad.err.startswith(prefix), bad.err
    self_accept = hop.wl("accept", own.id, "--quality", "5")
    assert (self_accept.code, self_accept.out, self_accept.err) == (
        1,
        "",
        "wl: cannot accept your own completion\n",
    )
    no_completion = hop.wl("accept", unfinished.id, "--quality", "5")
    assert (no_completion.code, no_completion.out, no_completion.err) == (
        1,
        "",
        f'wl: querying completion: no completion found for wanted item "{unfinished.id}"\n',
    )
    branches = hub.branches("hop", UP_DB, w.token)
    assert hop.branch(own.id) not in branches
    assert hop.branch(unfinished.id) not in branches


def scenario_reject(w: World) -> None:
    """``reject --reason``: the branch drops the completion and puts the item back to
    claimed (claimer and evidence kept); upstream keeps the completion."""
    hop, hub, item = w.maintainer, w.hub, w.items["reject"]
    result = hop.wl("reject", item.id, "--reason", "needs tests")
    assert result.code == 0, result
    branch = hop.branch(item.id)
    assert result.out.startswith(
        f"✓ Rejected {item.id}\n  Title: {item.title}\n  Status: claimed\n"
        f"  Reason: needs tests\n  Branch: {branch}\n"
    ), result.out
    assert re.search(rf"\n  PR: {PR_URL_RE}\n  Delta: reject\n", result.out), result.out
    assert result.out.endswith(
        f"\n  Next: claimer can fix and resubmit: wl done {item.id} --evidence <url>\n"
    )
    row = item_on(hub, "hop", branch, item.id, w.token)
    assert row is not None
    assert (row["status"], row["claimed_by"]) == ("claimed", "carol")
    assert completions_on(hub, "hop", branch, item.id, w.token) == []
    _review_pr(w, item)
    _assert_upstream_in_review(w, item)


def scenario_close(w: World) -> None:
    """``close``: completed on the branch with no stamp; the completion stays unvalidated."""
    hop, hub, item = w.maintainer, w.hub, w.items["close"]
    result = hop.wl("close", item.id)
    assert result.code == 0, result
    branch = hop.branch(item.id)
    assert result.out.startswith(
        f"✓ Closed {item.id}\n  Title: {item.title}\n  Status: completed\n  Branch: {branch}\n"
    ), result.out
    # in_review -> completed is both "accept" and "close"; the first match is printed.
    assert re.search(rf"\n  PR: {PR_URL_RE}\n  Delta: (accept|close)\n", result.out), result.out
    assert result.out.endswith(f"\n  Next: item completed. View: wl status {item.id}\n")
    row = item_on(hub, "hop", branch, item.id, w.token)
    assert row is not None
    assert (row["status"], row["claimed_by"]) == ("completed", "carol")
    completions = completions_on(hub, "hop", branch, item.id, w.token)
    assert [(c["id"], c["validated_by"], c["stamp_id"]) for c in completions] == [
        (item.completion_id, None, None)
    ]
    assert stamps_on(hub, "hop", branch, item.completion_id, w.token) == []
    _review_pr(w, item)
    _assert_upstream_in_review(w, item)
