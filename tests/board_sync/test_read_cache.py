"""Board reads built once per board key (``read_cache``), on both backends: an answer is
the one ``board`` builds from the database, never an older one, whichever replica wrote
the change and however the key was read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common.errors import InvalidArgument, NotFound
from wl_board_sync import board, messages
from wl_board_sync.board import BrowseQuery, Freshness
from wl_board_sync.board_keys import KeyReader, key_reader
from wl_board_sync.commons import WantedRow
from wl_board_sync.pending import PendingChange
from wl_board_sync.read_cache import BoardKey, BrowseView, ReadCache, read_key
from wl_board_sync.sync import Snapshot, Target, apply_sync, mark_idle_polls, record_change
from wl_board_sync.tracking import track, untrack

from .conftest import HOP_COMMONS, T0, fill, wanted

FRESH = Freshness(default_interval=300)


def ids(view: BrowseView) -> list[str]:
    return [i.wanted_id for i in view.items.items]


def cached_browse(
    reads: ReadCache, sessions: sessionmaker[Session], query: BrowseQuery
) -> list[str]:
    with sessions.begin() as session:
        return ids(reads.browse(session, query, now=T0, freshness=FRESH))


def direct_browse(sessions: sessionmaker[Session], query: BrowseQuery) -> list[str]:
    with sessions.begin() as session:
        return [i.wanted_id for i in board.browse(session, query, now=T0, freshness=FRESH).items]


def resync(
    sessions: sessionmaker[Session],
    items: Sequence[WantedRow] | None,
    pending: Sequence[PendingChange] = (),
    wasteland_id: str = "wl-1",
) -> None:
    """A sync's store step at the same clock reading (T0) as the first one: only the
    board revision tells the two boards apart."""
    snapshot = None if items is None else Snapshot(list(items), [], [], [])
    with sessions.begin() as session:
        assert (
            apply_sync(
                session,
                Target(wasteland_id, HOP_COMMONS.owner, HOP_COMMONS.db, None),
                "head-2",
                snapshot,
                list(pending),
                T0,
            )
            is not None
        )


@pytest.fixture
async def keys(db_url: str) -> AsyncIterator[KeyReader]:
    reader = key_reader(db_url)
    yield reader
    await reader.aclose()


async def test_a_change_written_through_another_replica_is_read_at_once(
    sessions: sessionmaker[Session], keys: KeyReader
) -> None:
    fill(sessions, "wl-1", [wanted("w-1"), wanted("w-2")])
    here, there = ReadCache(max_items=1000), ReadCache(max_items=1000)
    query = BrowseQuery("wl-1")
    assert cached_browse(here, sessions, query) == ["w-1", "w-2"]
    assert cached_browse(there, sessions, query) == ["w-1", "w-2"]
    key = await keys.read("wl-1")
    assert key is not None
    assert here.lookup_browse(query, key, now=T0, freshness=FRESH) is not None

    # The other replica's sync replaces the board (same clock reading, so only the
    # revision changes): both caches answer with the new board.
    resync(sessions, [wanted("w-2"), wanted("w-3", priority=0)])
    new_key = await keys.read("wl-1")
    assert new_key is not None
    assert new_key != key
    assert here.lookup_browse(query, new_key, now=T0, freshness=FRESH) is None
    assert cached_browse(here, sessions, query) == ["w-3", "w-2"]
    assert cached_browse(there, sessions, query) == ["w-3", "w-2"]
    assert cached_browse(there, sessions, query) == direct_browse(sessions, query)


async def test_the_loop_reader_and_the_session_read_the_same_key(
    sessions: sessionmaker[Session], keys: KeyReader
) -> None:
    assert await keys.read("wl-untracked") is None
    fill(sessions, "wl-1", [wanted("w-1")])
    with sessions.begin() as session:
        from_session = read_key(session, "wl-1")
    from_loop = await keys.read("wl-1")
    assert from_loop == from_session
    assert from_loop is not None
    assert from_loop.synced_at == T0
    assert from_loop.revision


async def test_a_pending_change_is_shown_at_once(sessions: sessionmaker[Session]) -> None:
    fill(sessions, "wl-1", [wanted("w-1"), wanted("w-2")])
    reads = ReadCache(max_items=1000)
    claimed = BrowseQuery("wl-1", status="claimed")
    assert cached_browse(reads, sessions, claimed) == []
    with sessions.begin() as session:
        assert reads.count_wanted(session, "wl-1")["claimed"] == 0
    # The refresh after a claim re-reads only the pull requests.
    resync(sessions, None, [PendingChange("w-2", "claimed", "alice", "alice", "7")])
    assert cached_browse(reads, sessions, claimed) == ["w-2"]
    with sessions.begin() as session:
        assert reads.count_wanted(session, "wl-1")["claimed"] == 1
        item = reads.get_item(session, "wl-1", "w-2")
    assert (item.item.status, item.item.pending, item.item.pending_pull_id) == (
        "claimed",
        True,
        "7",
    )


def test_an_actions_recorded_change_is_shown_at_once(sessions: sessionmaker[Session]) -> None:
    fill(sessions, "wl-1", [wanted("w-1"), wanted("w-2")])
    reads = ReadCache(max_items=1000)
    claimed = BrowseQuery("wl-1", status="claimed")
    assert cached_browse(reads, sessions, claimed) == []
    # An action's verified claim, stored without a sync (same clock reading).
    with sessions.begin() as session:
        claim = PendingChange("w-1", "claimed", "bob", "bob", "41")
        # The upstream moved since the cache was read: only a sync can tell the board.
        assert record_change(session, "wl-1", claim, T0, "head-2") is None
        stored = record_change(session, "wl-1", claim, T0, "head-1")
    assert stored is not None
    assert cached_browse(reads, sessions, claimed) == ["w-1"]
    with sessions.begin() as session:
        assert reads.count_wanted(session, "wl-1")["claimed"] == 1
        assert reads.get_item(session, "wl-1", "w-1").item.pending_pull_id == "41"


async def test_an_idle_poll_moves_synced_at_and_staleness(
    sessions: sessionmaker[Session], keys: KeyReader
) -> None:
    fill(sessions, "wl-1", [wanted("w-1")])
    reads = ReadCache(max_items=1000)
    query = BrowseQuery("wl-1")
    late = T0 + timedelta(seconds=901)
    with sessions.begin() as session:
        view = reads.browse(session, query, now=late, freshness=FRESH)
    assert (view.synced_at, view.stale) == (T0, True)
    with sessions.begin() as session:
        mark_idle_polls(session, [Target("wl-1", "hop", "wl-commons", "head-1")], late)
    key = await keys.read("wl-1")
    assert key is not None
    assert key.synced_at == late
    with sessions.begin() as session:
        view = reads.browse(session, query, now=late, freshness=FRESH)
    assert (view.synced_at, view.stale, ids(view)) == (late, False, ["w-1"])


def test_pending_posts_stay_their_posters_own(sessions: sessionmaker[Session]) -> None:
    post = wanted("w-new", posted_by="alice", priority=0)
    fill(
        sessions,
        "wl-1",
        [wanted("w-1")],
        pending=[PendingChange("w-new", "open", None, "alice", "9", row=post)],
    )
    reads = ReadCache(max_items=1000)
    as_bob = board.browse_query("wl-1", viewer="bob", page_size=1)
    as_nobody = board.browse_query("wl-1", page_size=1)
    as_alice = board.browse_query("wl-1", viewer="alice")
    # bob has no post: he reads the answer built for nobody, with his own page token.
    assert cached_browse(reads, sessions, as_nobody) == ["w-1"]
    with sessions.begin() as session:
        bob_page = reads.browse(session, as_bob, now=T0, freshness=FRESH)
        alice_counts = reads.count_wanted(session, "wl-1", "alice")
        bob_counts = reads.count_wanted(session, "wl-1", "bob")
        assert reads.get_item(session, "wl-1", "w-new", "alice").item.wanted_id == "w-new"
        with pytest.raises(NotFound):
            reads.get_item(session, "wl-1", "w-new", "bob")
    assert ids(bob_page) == ["w-1"]
    assert bob_page.next_page_token == ""
    assert cached_browse(reads, sessions, as_alice) == ["w-new", "w-1"]
    assert (alice_counts["open"], bob_counts["open"]) == (2, 1)

    # The post's pull request is closed: alice's board no longer has it.
    resync(sessions, [wanted("w-1")])
    assert cached_browse(reads, sessions, as_alice) == ["w-1"]
    with sessions.begin() as session, pytest.raises(NotFound):
        reads.get_item(session, "wl-1", "w-new", "alice")


def test_page_tokens_name_the_callers_own_query(sessions: sessionmaker[Session]) -> None:
    fill(sessions, "wl-1", [wanted(f"w-{i}", priority=i % 3) for i in range(5)])
    reads = ReadCache(max_items=1000)
    seen: dict[str, list[str]] = {}
    for viewer in ("", "bob"):  # bob (no posts) reads the pages built for nobody
        token, seen[viewer] = "", []
        while True:
            query = board.browse_query("wl-1", viewer=viewer, page_size=2, page_token=token)
            with sessions.begin() as session:
                view = reads.browse(session, query, now=T0, freshness=FRESH)
                direct = board.browse(session, query, now=T0, freshness=FRESH)
            assert view.next_page_token == direct.next_page_token
            seen[viewer] += ids(view)
            token = view.next_page_token
            if not token:
                break
    assert seen[""] == seen["bob"] == direct_browse(sessions, BrowseQuery("wl-1", page_size=10))
    with sessions.begin() as session:
        bobs = reads.browse(
            session, board.browse_query("wl-1", viewer="bob", page_size=2), now=T0, freshness=FRESH
        ).next_page_token
    board.browse_query("wl-1", viewer="bob", page_size=2, page_token=bobs)
    with pytest.raises(InvalidArgument):
        board.browse_query("wl-1", page_size=2, page_token=bobs)


@pytest.mark.parametrize(
    "query",
    [
        BrowseQuery("wl-1"),
        BrowseQuery("wl-1", status="open", sort="created"),
        BrowseQuery("wl-1", type="bug", sort="updated"),
        BrowseQuery("wl-1", priority=1),
        BrowseQuery("wl-1", tag="web"),
        BrowseQuery("wl-1", q="ITEM W-2"),
        BrowseQuery("wl-1", rig_handle="bob"),
        BrowseQuery("wl-1", project="site", page_size=1),
    ],
)
def test_answers_are_the_boards_own(sessions: sessionmaker[Session], query: BrowseQuery) -> None:
    fill(
        sessions,
        "wl-1",
        [
            wanted("w-1", priority=1, tags=("web",), project="site"),
            wanted("w-2", priority=0, type="bug", updated_at=T0 + timedelta(seconds=5)),
            wanted("w-3", status="claimed", claimed_by="bob", created_at=T0 - timedelta(1)),
        ],
    )
    reads = ReadCache(max_items=1000)
    for _ in range(2):  # built, then kept
        with sessions.begin() as session:
            view = reads.browse(session, query, now=T0, freshness=FRESH)
            direct = board.browse(session, query, now=T0, freshness=FRESH)
        assert list(view.items.items) == [messages.wanted_item(i) for i in direct.items]
        assert view.next_page_token == direct.next_page_token


def test_untracked_then_tracked_again_starts_empty(sessions: sessionmaker[Session]) -> None:
    fill(sessions, "wl-1", [wanted("w-1")])
    reads = ReadCache(max_items=1000)
    assert cached_browse(reads, sessions, BrowseQuery("wl-1")) == ["w-1"]
    with sessions.begin() as session:
        untrack(session, "wl-1")
    with sessions.begin() as session, pytest.raises(NotFound):
        reads.browse(session, BrowseQuery("wl-1"), now=T0, freshness=FRESH)
    with sessions.begin() as session:
        track(session, "wl-1", HOP_COMMONS, None, T0)
    assert cached_browse(reads, sessions, BrowseQuery("wl-1")) == []


def test_the_bound_drops_the_least_recently_read(sessions: sessionmaker[Session]) -> None:
    for wasteland_id in ("wl-a", "wl-b"):
        fill(sessions, wasteland_id, [wanted("w-1"), wanted("w-2")])
    reads = ReadCache(max_items=4)  # one page of two items weighs three
    with sessions.begin() as session:
        key_a = read_key(session, "wl-a")
        key_b = read_key(session, "wl-b")
    cached_browse(reads, sessions, BrowseQuery("wl-a"))
    assert reads.lookup_browse(BrowseQuery("wl-a"), key_a, now=T0, freshness=FRESH) is not None
    cached_browse(reads, sessions, BrowseQuery("wl-b"))
    assert reads.lookup_browse(BrowseQuery("wl-a"), key_a, now=T0, freshness=FRESH) is None
    assert reads.lookup_browse(BrowseQuery("wl-b"), key_b, now=T0, freshness=FRESH) is not None


def test_turned_off_it_keeps_nothing(sessions: sessionmaker[Session]) -> None:
    fill(sessions, "wl-1", [wanted("w-1")])
    reads = ReadCache(max_items=0)
    assert cached_browse(reads, sessions, BrowseQuery("wl-1")) == ["w-1"]
    key = BoardKey("x", T0, None)
    assert reads.lookup_browse(BrowseQuery("wl-1"), key, now=T0, freshness=FRESH) is None
