"""Sync edge cases the sandbox cannot produce, against a small fake DoltHub speaking the
REST shapes over an httpx transport: malformed cells, a pull request whose fork is gone,
pull requests that cannot be listed, and DoltHub going down between syncs."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import db, dolthub
from wasteland_common.dolthub import DoltHubClient, RetryPolicy
from wasteland_common.errors import NotFound
from wl_board_sync import board, events
from wl_board_sync.server import MIGRATIONS
from wl_board_sync.store import CachedWanted, TrackedWasteland
from wl_board_sync.sync import Syncer
from wl_board_sync.tracking import Upstream, track

from .conftest import FakeClock

Row = dict[str, Any]
_LIMIT = re.compile(r"LIMIT (\d+) OFFSET (\d+)$")
_TABLE = re.compile(r"FROM (\w+)")
_ID = re.compile(r"WHERE id = '([^']*)'")


def item(wanted_id: str, status: str = "open", claimed_by: str | None = None, **cells: Any) -> Row:
    return {
        "id": wanted_id,
        "title": f"Item {wanted_id}",
        "priority": "2",
        "tags": "[]",
        "posted_by": "hop",
        "claimed_by": claimed_by,
        "status": status,
        "created_at": "2026-03-01 10:00:00",
        "updated_at": "2026-03-01 10:00:00",
        **cells,
    }


@dataclass
class FakeDoltHub:
    """Just enough of DoltHub's read API: SQL reads by table, HASHOF, pull requests."""

    head: str = "h1"
    tables: dict[str, list[Row]] = field(default_factory=dict)
    # (owner, db, branch) -> rows of wanted on that branch
    branches: dict[tuple[str, str, str], list[Row]] = field(default_factory=dict)
    pulls: dict[str, Row] = field(default_factory=dict)
    pulls_status: int = 200
    down: bool = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return httpx.Response(503, text="maintenance")
        url = urlsplit(str(request.url))
        parts = [unquote(p) for p in url.path.split("/")[3:]]  # after /api/v1alpha1
        owner, db_name, rest = parts[0], parts[1], parts[2:]
        if rest and rest[0] == "pulls":
            if self.pulls_status != 200:
                return httpx.Response(self.pulls_status, json={"status": "Error"})
            if len(rest) == 1:
                pulls = [{"pull_id": k, "state": v["state"]} for k, v in self.pulls.items()]
                return httpx.Response(200, json={"pulls": pulls, "next_page_token": ""})
            return httpx.Response(200, json={"pull_id": rest[1], **self.pulls[rest[1]]})
        ref = rest[0]
        sql = parse_qs(url.query)["q"][0]
        if "HASHOF" in sql:
            return self._rows([{"h": self.head}])
        if (owner, db_name, ref) in self.branches:
            wanted_id = _ID.search(sql)
            rows = [
                r
                for r in self.branches[(owner, db_name, ref)]
                if wanted_id and r["id"] == wanted_id.group(1)
            ]
            return self._rows(rows)
        if ref not in ("main", self.head) or owner != "hop":
            return httpx.Response(
                404,
                json={
                    "query_execution_status": "Error",
                    "query_execution_message": "no such repository",
                },
            )
        table = _TABLE.search(sql)
        assert table is not None
        rows = self.tables.get(table.group(1), [])
        limit = _LIMIT.search(sql)
        if limit:
            size, offset = int(limit.group(1)), int(limit.group(2))
            rows = rows[offset : offset + size]
        return self._rows(rows)

    @staticmethod
    def _rows(rows: list[Row]) -> httpx.Response:
        return httpx.Response(200, json={"query_execution_status": "Success", "rows": rows})


@dataclass
class Env:
    fake: FakeDoltHub
    syncer: Syncer
    sessions: sessionmaker[Session]
    clock: FakeClock


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    engine = db.make_engine(f"sqlite+pysqlite:///{tmp_path / 'board.db'}")
    db.migrate(engine, MIGRATIONS)
    sessions = db.session_factory(engine)
    fake = FakeDoltHub()
    client = DoltHubClient(
        "http://dolthub.test/api/v1alpha1",
        transport=httpx.MockTransport(fake.handle),
        retry=RetryPolicy(attempts=1),
    )
    clock = FakeClock()
    with sessions.begin() as session:
        track(session, "wl-1", Upstream("hop", "wl-commons"), None, clock())
    try:
        yield Env(fake, Syncer(sessions, client, clock=clock), sessions, clock)
    finally:
        engine.dispose()


def shown(env: Env) -> dict[str, tuple[str, str | None]]:
    with env.sessions() as session:
        rows = session.query(CachedWanted).filter_by(wasteland_id="wl-1").all()
        return {r.wanted_id: (r.effective_status, r.effective_claimed_by) for r in rows}


async def test_bad_rows_are_skipped_and_the_rest_synced(env: Env) -> None:
    env.fake.tables["wanted"] = [
        item("w-1"),
        item("w-2", priority="urgent"),
        item("w-3", created_at="last tuesday"),
        item("w-4", tags="{not json"),
        item("w-5", status="exploded"),
        item("w-6"),
    ]
    env.fake.tables["rigs"] = [{"handle": "alice", "trust_level": "x"}, {"handle": "bob"}]
    result = await env.syncer.sync("wl-1", force=False)
    assert result.tables_read
    assert set(shown(env)) == {"w-1", "w-6"}
    assert [c.wanted_id for c in result.changes] == ["w-1", "w-6"]


async def test_tables_are_paged_past_the_first_page(env: Env) -> None:
    env.fake.tables["wanted"] = [item(f"w-{n:04d}") for n in range(1203)]
    await env.syncer.sync("wl-1", force=False)
    assert len(shown(env)) == 1203


async def test_an_unreadable_fork_skips_only_its_pull_request(env: Env) -> None:
    env.fake.tables["wanted"] = [item("w-1"), item("w-2")]
    env.fake.pulls = {
        "1": {
            "state": "open",
            "from_branch": "wl/alice/w-1",
            "from_branch_owner": "alice",
            "to_branch": "main",
        },
        "2": {
            "state": "open",
            "from_branch": "wl/gone/w-2",
            "from_branch_owner": "gone",
            "to_branch": "main",
        },
        "3": {
            "state": "open",
            "from_branch": "wl/register/carol",
            "from_branch_owner": "carol",
            "to_branch": "main",
        },
    }
    env.fake.branches[("alice", "wl-commons", "wl/alice/w-1")] = [
        item("w-1", status="claimed", claimed_by="alice")
    ]
    await env.syncer.sync("wl-1", force=False)
    assert shown(env) == {"w-1": ("claimed", "alice"), "w-2": ("open", None)}


async def test_pulls_that_cannot_be_listed_keep_the_overlay(env: Env) -> None:
    env.fake.tables["wanted"] = [item("w-1")]
    env.fake.pulls = {
        "1": {"state": "open", "from_branch": "wl/alice/w-1", "from_branch_owner": "alice"},
    }
    env.fake.branches[("alice", "wl-commons", "wl/alice/w-1")] = [
        item("w-1", status="claimed", claimed_by="alice")
    ]
    await env.syncer.sync("wl-1", force=False)
    env.fake.pulls_status = 403
    result = await env.syncer.sync("wl-1", force=True)
    assert result.changes == ()
    assert shown(env) == {"w-1": ("claimed", "alice")}
    # Once listable again, a closed pull request drops the overlay at the next refresh.
    env.fake.pulls_status = 200
    env.fake.pulls["1"]["state"] = "closed"
    result = await env.syncer.sync("wl-1", force=True)
    assert [(c.wanted_id, c.status) for c in result.changes] == [("w-1", "open")]


def browse_ids(env: Env, viewer: str) -> list[str]:
    with env.sessions() as session:
        page = board.browse(
            session,
            board.browse_query("wl-1", viewer=viewer),
            now=env.clock(),
            freshness=board.Freshness(300),
        )
        return [i.wanted_id for i in page.items]


async def test_a_pending_post_shows_to_its_poster_only(env: Env) -> None:
    env.fake.tables["wanted"] = [item("w-1")]
    env.fake.pulls = {
        "4": {"state": "open", "from_branch": "wl/alice/w-new", "from_branch_owner": "alice"},
    }
    env.fake.branches[("alice", "wl-commons", "wl/alice/w-new")] = [
        item("w-new", posted_by="alice", title="Alice's new item")
    ]
    result = await env.syncer.sync("wl-1", force=False)
    assert [c.wanted_id for c in result.changes] == ["w-1"]  # no board event for a post
    assert sorted(browse_ids(env, "alice")) == ["w-1", "w-new"]
    assert browse_ids(env, "bob") == ["w-1"]
    assert browse_ids(env, "") == ["w-1"]
    with env.sessions() as session:
        assert board.count_wanted(session, "wl-1", "alice")["open"] == 2
        assert board.count_wanted(session, "wl-1", "bob")["open"] == 1
        post = board.get_item(session, "wl-1", "w-new", "alice").item
        assert (post.title, post.pending_status, post.pending_pull_id) == (
            "Alice's new item", "open", "4",
        )  # fmt: skip
        with pytest.raises(NotFound):
            board.get_item(session, "wl-1", "w-new", "bob")
    # The pull requests cannot be listed for a while: the post stays.
    env.fake.pulls_status = 403
    await env.syncer.sync("wl-1", force=True)
    assert sorted(browse_ids(env, "alice")) == ["w-1", "w-new"]
    # Merged: it is an upstream item like any other, for everyone.
    env.fake.pulls_status = 200
    env.fake.pulls["4"]["state"] = "merged"
    env.fake.tables["wanted"].append(item("w-new", posted_by="alice", title="Alice's new item"))
    env.fake.head = "h2"
    await env.syncer.sync("wl-1", force=False)
    assert sorted(browse_ids(env, "bob")) == ["w-1", "w-new"]
    assert shown(env)["w-new"] == ("open", None)


async def test_dolthub_down_keeps_the_cache_and_records_the_error(env: Env) -> None:
    env.fake.tables["wanted"] = [item("w-1")]
    first = await env.syncer.sync("wl-1", force=False)
    env.fake.down = True
    env.clock.advance(60)
    with pytest.raises(dolthub.Unavailable):
        await env.syncer.sync("wl-1", force=True)
    with env.sessions() as session:
        state = session.get(TrackedWasteland, "wl-1")
        assert state is not None
        assert state.synced_at == first.synced_at
        assert state.last_error is not None
        assert "503" in state.last_error
    assert shown(env) == {"w-1": ("open", None)}
    env.fake.down = False
    await env.syncer.sync("wl-1", force=False)
    with env.sessions() as session:
        state = session.get(TrackedWasteland, "wl-1")
        assert state is not None
        assert state.last_error is None
        assert state.synced_at == env.clock()


async def test_an_outage_logs_sync_failed_once_and_status_changes_as_board_events(
    env: Env,
) -> None:
    env.fake.tables["wanted"] = [item("w-1"), item("w-2")]
    await env.syncer.sync("wl-1", force=False)
    env.fake.down = True
    for _ in range(3):  # a scheduled poll and its retries: one outage
        env.clock.advance(60)
        with pytest.raises(dolthub.Unavailable):
            await env.syncer.sync("wl-1", force=True)
    env.fake.down = False
    env.fake.tables["wanted"] = [item("w-1", status="claimed", claimed_by="bob"), item("w-2")]
    env.fake.head = "h2"
    await env.syncer.sync("wl-1", force=True)
    env.fake.down = True
    with pytest.raises(dolthub.Unavailable):
        await env.syncer.sync("wl-1", force=True)  # a second outage
    with env.sessions() as session:
        log = events.read_after(session, 0, ["wl-1"], 100)
    assert [(e.category, e.kind or e.status, e.wanted_id) for e in log] == [
        ("board", "open", "w-1"),
        ("board", "open", "w-2"),
        ("activity", "sync_failed", None),
        ("board", "claimed", "w-1"),
        ("activity", "sync_failed", None),
    ]
    failed = log[2]
    assert failed.actor == "service:board-sync"
    assert "hop/wl-commons" in failed.detail
    assert "503" in failed.detail


async def test_a_missing_commons_is_a_failed_precondition(env: Env) -> None:
    from wasteland_common.errors import DomainError

    with env.sessions.begin() as session:
        track(session, "wl-2", Upstream("nobody", "nothing"), None, env.clock())
    with pytest.raises(DomainError) as exc:
        await env.syncer.sync("wl-2", force=False)
    assert exc.value.code.name == "FAILED_PRECONDITION"
