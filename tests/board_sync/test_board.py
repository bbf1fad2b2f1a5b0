"""Queries over the cached board, on SQLite and PostgreSQL: filters, sorting, paging,
the pending overlay as shown state, counts, item detail, completions and rigs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common.errors import DomainError
from wl_board_sync import board
from wl_board_sync.board import BrowseQuery, Freshness
from wl_board_sync.commons import (
    STATUSES,
    CompletionRow,
    RigRow,
    StampRow,
    WantedRow,
    WantedStatus,
)
from wl_board_sync.pending import PendingChange

from .conftest import T0, fill, wanted

FRESH = Freshness(default_interval=300)


def browse_all(sessions: sessionmaker[Session], **args: object) -> list[list[str]]:
    """Every page of a browse, as lists of ids."""
    pages: list[list[str]] = []
    token = ""
    while True:
        query = board.browse_query(page_token=token, **args)  # type: ignore[arg-type]
        with sessions() as session:
            page = board.browse(session, query, now=T0, freshness=FRESH)
        pages.append([i.wanted_id for i in page.items])
        token = page.next_page_token
        if not token:
            return pages
        assert len(pages) < 1000


def ids(sessions: sessionmaker[Session], **args: object) -> list[str]:
    return [i for page in browse_all(sessions, **args) for i in page]


def field_of(exc: pytest.ExceptionInfo[DomainError]) -> str:
    (violation,) = exc.value.violations
    return violation.field


BOARD = [
    wanted(
        "w-1",
        title="Fix login bug",
        type="bug",
        priority=0,
        tags=("auth", "web"),
        project="gastown",
        posted_by="alice",
    ),
    wanted(
        "w-2",
        title="Write docs",
        description="The LOGIN page needs docs",
        type="docs",
        priority=2,
        tags=("docs",),
        status="claimed",
        claimed_by="bob",
    ),
    wanted(
        "w-3",
        title="100% coverage_goal",
        type="feature",
        priority=1,
        tags=("web",),
        created_at=T0 - timedelta(days=1),
        updated_at=T0 + timedelta(hours=1),
    ),
    wanted(
        "w-4",
        title="Old design",
        type="design",
        priority=4,
        status="completed",
        claimed_by="alice",
        created_at=T0 - timedelta(days=3),
    ),
    wanted(
        "w-5",
        title="RFC: federation",
        type="rfc",
        priority=2,
        project="gastown",
        status="withdrawn",
        created_at=None,
        updated_at=None,
    ),
]


@pytest.fixture
def board_id(sessions: sessionmaker[Session]) -> str:
    fill(sessions, "wl-board", BOARD)
    return "wl-board"


def test_default_sort_is_priority_then_newest(
    sessions: sessionmaker[Session], board_id: str
) -> None:
    # w-2 and w-5 share priority 2: w-2 has a creation time, w-5 none (sorts as oldest).
    assert ids(sessions, wasteland_id=board_id) == ["w-1", "w-3", "w-2", "w-5", "w-4"]


def test_created_and_updated_sorts_are_newest_first(
    sessions: sessionmaker[Session], board_id: str
) -> None:
    assert ids(sessions, wasteland_id=board_id, sort="created") == [
        "w-1",
        "w-2",
        "w-3",
        "w-4",
        "w-5",
    ]
    assert ids(sessions, wasteland_id=board_id, sort="updated")[:1] == ["w-3"]
    assert ids(sessions, wasteland_id=board_id, sort="updated")[-1] == "w-5"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"status": "open"}, {"w-1", "w-3"}),
        ({"status": "claimed"}, {"w-2"}),
        ({"type": "bug"}, {"w-1"}),
        ({"priority": 2}, {"w-2", "w-5"}),
        ({"priority": 0}, {"w-1"}),
        ({"project": "gastown"}, {"w-1", "w-5"}),
        ({"tag": "web"}, {"w-1", "w-3"}),
        ({"tag": "we"}, set()),
        ({"q": "login"}, {"w-1", "w-2"}),
        ({"q": "LOGIN"}, {"w-1", "w-2"}),
        ({"q": "100%"}, {"w-3"}),
        ({"q": "%"}, {"w-3"}),
        ({"q": "e_g"}, {"w-3"}),
        ({"q": "' OR 1=1 --"}, set()),
        ({"rig_handle": "alice"}, {"w-1", "w-4"}),
        ({"rig_handle": "bob"}, {"w-2"}),
        ({"status": "open", "tag": "web", "priority": 1}, {"w-3"}),
    ],
)
def test_filters(
    sessions: sessionmaker[Session], board_id: str, args: dict[str, object], expected: set[str]
) -> None:
    assert set(ids(sessions, wasteland_id=board_id, **args)) == expected


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"status": "done"}, "status"),
        ({"type": "chore"}, "type"),
        ({"priority": 5}, "priority"),
        ({"priority": -1}, "priority"),
        ({"sort": "random"}, "sort"),
        ({"page_size": -1}, "page_size"),
        ({"q": "x" * 201}, "q"),
        ({"page_token": "garbage"}, "page_token"),
        ({"page_token": "eyJ2IjoxfQ"}, "page_token"),
        ({"page_token": "!!!"}, "page_token"),
    ],
)
def test_bad_arguments_name_their_field(args: dict[str, object], field: str) -> None:
    with pytest.raises(DomainError) as exc:
        board.browse_query("wl-board", **args)  # type: ignore[arg-type]
    assert field_of(exc) == field


def test_a_token_of_another_query_is_refused(
    sessions: sessionmaker[Session], board_id: str
) -> None:
    query = board.browse_query(board_id, page_size=1)
    with sessions() as session:
        token = board.browse(session, query, now=T0, freshness=FRESH).next_page_token
    assert token
    with pytest.raises(DomainError) as exc:
        board.browse_query(board_id, status="open", page_size=1, page_token=token)
    assert field_of(exc) == "page_token"
    # The same query with another page size may continue.
    assert board.browse_query(board_id, page_size=3, page_token=token).after is not None


def test_page_size_defaults_to_50_and_caps_at_200() -> None:
    assert board.browse_query("w").page_size == 50
    assert board.browse_query("w", page_size=1000).page_size == 200


def test_unknown_wasteland_is_not_found(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, pytest.raises(DomainError) as exc:
        board.browse(session, BrowseQuery("nope"), now=T0, freshness=FRESH)
    assert exc.value.code.name == "NOT_FOUND"


def test_staleness_follows_the_interval(sessions: sessionmaker[Session], board_id: str) -> None:
    with sessions() as session:
        query = BrowseQuery(board_id)
        fresh = board.browse(session, query, now=T0 + timedelta(seconds=899), freshness=FRESH)
        old = board.browse(session, query, now=T0 + timedelta(seconds=901), freshness=FRESH)
        explicit = board.browse(
            session, query, now=T0 + timedelta(seconds=61), freshness=Freshness(300, 60)
        )
    assert fresh.synced_at == T0
    assert not fresh.stale
    assert old.stale
    assert explicit.stale


def test_a_never_synced_wasteland_is_stale(sessions: sessionmaker[Session]) -> None:
    from wl_board_sync.tracking import Upstream, track

    with sessions.begin() as session:
        track(session, "wl-new", Upstream("a", "b"), None, T0)
    with sessions() as session:
        page = board.browse(session, BrowseQuery("wl-new"), now=T0, freshness=FRESH)
    assert page.items == []
    assert page.stale
    assert page.synced_at is None


def test_a_pending_claim_is_the_shown_state(sessions: sessionmaker[Session]) -> None:
    fill(
        sessions,
        "wl-pending",
        [wanted("w-1"), wanted("w-2")],
        pending=[PendingChange("w-1", "claimed", "carol", "carol", "7")],
    )
    assert ids(sessions, wasteland_id="wl-pending", status="claimed") == ["w-1"]
    assert ids(sessions, wasteland_id="wl-pending", rig_handle="carol") == ["w-1"]
    with sessions() as session:
        item = board.get_item(session, "wl-pending", "w-1").item
        counts = board.count_wanted(session, "wl-pending")
    assert (item.status, item.effective_status, item.effective_claimed_by) == (
        "open",
        "claimed",
        "carol",
    )
    assert item.pending_pull_id == "7"
    assert counts["claimed"] == 1
    assert counts["open"] == 1


def test_counts_list_every_status(sessions: sessionmaker[Session], board_id: str) -> None:
    with sessions() as session:
        counts = board.count_wanted(session, board_id)
    assert counts == {"open": 2, "claimed": 1, "in_review": 0, "completed": 1, "withdrawn": 1}
    assert set(counts) == set(STATUSES)


def test_item_detail_has_its_completions_and_stamps(sessions: sessionmaker[Session]) -> None:
    completion = CompletionRow("c-1", "w-1", "alice", "https://pr", "hop", "s-1", T0, T0)
    other = CompletionRow("c-2", "w-2", "bob", None, None, None, T0, None)
    stamp = StampRow("s-1", "hop", "alice", 4, 5, "leaf", "c-1", "completion", ("go",), "nice", T0)
    unrelated = StampRow("s-2", "hop", "bob", 1, 1, "leaf", "c-9", "completion", (), None, T0)
    fill(
        sessions,
        "wl-detail",
        [wanted("w-1", status="completed"), wanted("w-2", status="in_review")],
        completions=[completion, other],
        stamps=[stamp, unrelated],
    )
    with sessions() as session:
        detail = board.get_item(session, "wl-detail", "w-1")
        with pytest.raises(DomainError) as exc:
            board.get_item(session, "wl-detail", "w-404")
    assert [c.completion_id for c in detail.completions] == ["c-1"]
    assert [(s.stamp_id, s.quality, s.reliability, s.skill_tags) for s in detail.stamps] == [
        ("s-1", 4, 5, ["go"])
    ]
    assert exc.value.code.name == "NOT_FOUND"


def test_completions_filter_by_validation_and_page(sessions: sessionmaker[Session]) -> None:
    completions = [
        CompletionRow(
            f"c-{n}",
            f"w-{n}",
            "alice",
            None,
            "hop" if n % 2 else None,
            None,
            T0 + timedelta(minutes=n),
            None,
        )
        for n in range(7)
    ]
    fill(sessions, "wl-comp", [wanted(f"w-{n}") for n in range(7)], completions=completions)

    def collect(status: str) -> list[str]:
        out: list[str] = []
        token = ""
        while True:
            with sessions() as session:
                page = board.list_completions(
                    session, "wl-comp", status=status, page_size=2, page_token=token
                )
            out += [c.completion_id for c in page.completions]
            token = page.next_page_token
            if not token:
                return out

    assert collect("") == [f"c-{n}" for n in reversed(range(7))]
    assert collect("validated") == ["c-5", "c-3", "c-1"]
    assert collect("pending") == ["c-6", "c-4", "c-2", "c-0"]
    with sessions() as session, pytest.raises(DomainError) as exc:
        board.list_completions(session, "wl-comp", status="done")
    assert field_of(exc) == "status"


def test_rigs_page_by_handle(sessions: sessionmaker[Session]) -> None:
    rigs = [RigRow(h, h.title(), "human", None, 1, T0, None) for h in ("carol", "alice", "bob")]
    fill(sessions, "wl-rigs", [], rigs=rigs)
    with sessions() as session:
        first = board.list_rigs(session, "wl-rigs", page_size=2)
        second = board.list_rigs(session, "wl-rigs", page_size=2, page_token=first.next_page_token)
    assert [r.handle for r in first.rigs] == ["alice", "bob"]
    assert [r.handle for r in second.rigs] == ["carol"]
    assert second.next_page_token == ""


def test_paging_survives_a_sync_between_pages(sessions: sessionmaker[Session]) -> None:
    items = [wanted(f"w-{n:02d}", created_at=T0 - timedelta(minutes=n)) for n in range(10)]
    fill(sessions, "wl-live", items)
    first = board.browse_query("wl-live", sort="created", page_size=4)
    with sessions() as session:
        page1 = board.browse(session, first, now=T0, freshness=FRESH)
    # A sync adds a newer item and drops one already seen before the next page is read.
    fill(sessions, "wl-live", [wanted("w-new", created_at=T0 + timedelta(hours=1)), *items[1:]])
    rest: list[str] = []
    token = page1.next_page_token
    while token:
        query = board.browse_query("wl-live", sort="created", page_size=4, page_token=token)
        with sessions() as session:
            page = board.browse(session, query, now=T0, freshness=FRESH)
        rest += [i.wanted_id for i in page.items]
        token = page.next_page_token
    seen = [i.wanted_id for i in page1.items] + rest
    assert sorted(seen) == sorted(i.wanted_id for i in items)


# ---------------------------------------------------------------------- property: paging


@dataclass(frozen=True)
class ItemSpec:
    priority: int
    created: int | None
    updated: int
    status: WantedStatus
    type: str
    tags: list[str]
    title: str


item_strategy = st.builds(
    ItemSpec,
    priority=st.integers(0, 4),
    created=st.one_of(st.none(), st.integers(0, 4)),
    updated=st.integers(0, 4),
    status=st.sampled_from(STATUSES),
    type=st.sampled_from(["bug", "docs", "feature"]),
    tags=st.lists(st.sampled_from(["a", "b", "c"]), max_size=2, unique=True),
    title=st.sampled_from(["alpha", "Beta", "gamma ALPHA", "delta"]),
)
filter_strategy = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(STATUSES),
        "type": st.sampled_from(["bug", "docs", "feature"]),
        "priority": st.integers(0, 4),
        "tag": st.sampled_from(["a", "b", "c"]),
        "q": st.sampled_from(["alpha", "ETA", "x"]),
        "sort": st.sampled_from(["priority", "created", "updated"]),
    },
)


def _expected(rows: list[WantedRow], filters: dict[str, object]) -> list[str]:
    def keep(r: WantedRow) -> bool:
        if "status" in filters and r.status != filters["status"]:
            return False
        if "type" in filters and r.type != filters["type"]:
            return False
        if "priority" in filters and r.priority != filters["priority"]:
            return False
        if "tag" in filters and filters["tag"] not in r.tags:
            return False
        return not ("q" in filters and str(filters["q"]).lower() not in r.title.lower())

    def ts(value: object) -> float:
        return value.timestamp() if value is not None else 0.0  # type: ignore[attr-defined]

    sort = filters.get("sort", "priority")
    kept = [r for r in rows if keep(r)]
    if sort == "priority":
        kept.sort(key=lambda r: (r.priority, -ts(r.created_at), r.wanted_id))
    elif sort == "created":
        kept.sort(key=lambda r: (-ts(r.created_at), r.wanted_id))
    else:
        kept.sort(key=lambda r: (-ts(r.updated_at), r.wanted_id))
    return [r.wanted_id for r in kept]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=st.lists(item_strategy, max_size=14),
    filters=filter_strategy,
    page_size=st.integers(1, 6),
)
def test_every_item_appears_exactly_once_across_pages(
    sessions: sessionmaker[Session],
    specs: list[ItemSpec],
    filters: dict[str, object],
    page_size: int,
) -> None:
    wasteland_id = f"wl-{uuid.uuid4().hex[:10]}"
    rows = [
        replace(
            wanted(f"w-{n:03d}"),
            priority=spec.priority,
            created_at=None if spec.created is None else T0 + timedelta(hours=spec.created),
            updated_at=T0 + timedelta(hours=spec.updated),
            status=spec.status,
            type=spec.type,
            tags=tuple(spec.tags),
            title=spec.title,
        )
        for n, spec in enumerate(specs)
    ]
    fill(sessions, wasteland_id, rows)
    pages = browse_all(sessions, wasteland_id=wasteland_id, page_size=page_size, **filters)
    flat = [i for page in pages for i in page]
    assert flat == _expected(rows, filters)
    assert len(flat) == len(set(flat))
    assert all(len(page) <= page_size for page in pages)
    assert all(len(page) == page_size for page in pages[:-1])


def test_unreadable_pull_requests_keep_the_overlay_it_had(sessions: sessionmaker[Session]) -> None:
    from wl_board_sync.sync import Snapshot, Target, apply_sync

    fill(
        sessions,
        "wl-keep",
        [wanted("w-1"), wanted("w-2")],
        pending=[
            PendingChange("w-1", "claimed", "carol", "carol", "7"),
            PendingChange("w-2", "claimed", "dan", "dan", "8"),
        ],
    )
    # The next sync cannot list pull requests; meanwhile w-2 was claimed upstream by erin.
    snapshot = Snapshot(
        [wanted("w-1"), wanted("w-2", status="claimed", claimed_by="erin")], [], [], []
    )
    with sessions.begin() as session:
        stored = apply_sync(
            session, Target("wl-keep", "hop", "wl-commons", "head-1"), "head-2", snapshot, None, T0
        )
    assert stored is not None
    changes, head_moved = stored
    assert head_moved
    assert changes == []  # both still show "claimed"
    with sessions() as session:
        first = board.get_item(session, "wl-keep", "w-1").item
        second = board.get_item(session, "wl-keep", "w-2").item
    assert (first.effective_claimed_by, first.pending_pull_id) == ("carol", "7")
    assert (second.effective_claimed_by, second.pending_status) == ("erin", None)
