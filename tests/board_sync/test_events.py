"""The durable event log: idempotent activity records, commit order, paging, retention
(SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import db, errors
from wasteland_common.activity import KINDS, ActivityKindName
from wl_board_sync import events, retention
from wl_board_sync.activity import list_activity, parse_activity
from wl_board_sync.events import BoardChange, NewActivity
from wl_board_sync.server import MIGRATIONS
from wl_board_sync.store import WastelandEvent

from tests.support.postgres import Cluster

from .conftest import T0


def activity(
    event_id: str, wasteland_id: str = "wl-1", kind: ActivityKindName = "claimed", **more: object
) -> NewActivity:
    base = NewActivity(
        event_id=event_id,
        wasteland_id=wasteland_id,
        kind=kind,
        actor="alice",
        wanted_id="w-1",
        pull_id=None,
        detail="claimed w-1",
        request_id="req-1",
        at=T0,
    )
    return replace(base, **more)  # type: ignore[arg-type]


def record(sessions: sessionmaker[Session], new: NewActivity) -> tuple[events.LoggedEvent, bool]:
    with sessions.begin() as session:
        return events.record_activity(session, new)


def test_an_event_id_is_recorded_once(sessions: sessionmaker[Session]) -> None:
    first, recorded = record(sessions, activity("ev-1"))
    assert recorded
    again, recorded_again = record(sessions, activity("ev-1", detail="a retry"))
    assert not recorded_again
    assert again == first  # the stored record, not the retry's copy
    with pytest.raises(errors.AlreadyExists):
        record(sessions, activity("ev-1", wasteland_id="wl-2"))
    with sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(WastelandEvent)) == 1


def test_rows_are_read_in_commit_order_per_wasteland(sessions: sessionmaker[Session]) -> None:
    record(sessions, activity("ev-1"))
    with sessions.begin() as session:
        events.append_board_changes(
            session,
            [BoardChange("wl-1", "w-1", "claimed", T0), BoardChange("wl-2", "w-9", "open", T0)],
            request_id="req-2",
        )
    record(sessions, activity("ev-2", kind="done"))
    with sessions() as session:
        rows = events.read_after(session, 0, ["wl-1"], 100)
        latest = events.latest_seq(session)
        assert events.read_after(session, rows[0].seq, ["wl-1"], 1) == [rows[1]]
        assert events.read_after(session, latest, ["wl-1", "wl-2"], 100) == []
    assert [(r.category, r.kind, r.status) for r in rows] == [
        ("activity", "claimed", None),
        ("board", None, "claimed"),
        ("activity", "done", None),
    ]
    assert [r.seq for r in rows] == sorted(r.seq for r in rows)
    assert rows[1].request_id == "req-2"
    assert rows[1].actor == "service:board-sync"
    assert latest == rows[-1].seq


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("activity.event_id", {"event_id": "has spaces"}),
        ("activity.event_id", {"event_id": ""}),
        ("activity.kind", {"kind": None}),
        ("activity.actor", {"actor": ""}),
        ("activity.actor", {"actor": "x" * 201}),
        ("activity.wanted_id", {"wanted_id": "w 1"}),
        ("activity.pull_id", {"pull_id": "../../etc"}),
        ("activity.request_id", {"request_id": "a b"}),
        ("activity.at", {"at": None}),
    ],
)
def test_a_recorded_activity_is_checked_field_by_field(
    field: str, changes: dict[str, object]
) -> None:
    values: dict[str, object] = {
        "event_id": "ev-1",
        "wasteland_id": "wl-1",
        "kind": "claimed",
        "actor": "alice",
        "wanted_id": "w-1",
        "pull_id": "7",
        "detail": "claimed",
        "request_id": "req-1",
        "at": T0,
        **changes,
    }
    with pytest.raises(errors.InvalidArgument) as exc:
        parse_activity(**values)  # type: ignore[arg-type]
    assert [v.field for v in exc.value.violations] == [field]


def test_a_detail_never_keeps_a_secret() -> None:
    parsed = parse_activity(
        event_id="ev-1",
        wasteland_id="wl-1",
        kind="credential_connected",
        actor="alice",
        wanted_id="",
        pull_id="",
        detail="connected with sandbox-token-alice\nand Bearer eyJhbGciOi.eyJzdWIiOiJ4In0.c2ln",
        request_id="",
        at=T0,
    )
    assert "sandbox-token-alice" not in parsed.detail
    assert "eyJ" not in parsed.detail
    assert "\n" not in parsed.detail
    assert (parsed.wanted_id, parsed.pull_id, parsed.request_id) == (None, None, "")


def test_retention_purges_by_category_and_never_reuses_a_seq(
    sessions: sessionmaker[Session],
) -> None:
    record(sessions, activity("old-activity", at=T0 - timedelta(days=100)))
    record(sessions, activity("new-activity", at=T0 - timedelta(days=1)))
    with sessions.begin() as session:
        events.append_board_changes(
            session,
            [
                BoardChange("wl-1", "w-1", "claimed", T0 - timedelta(hours=30)),
                BoardChange("wl-1", "w-2", "claimed", T0 - timedelta(hours=1)),
            ],
        )
    with sessions.begin() as session:
        highest = events.latest_seq(session)
        purged = events.purge(
            session,
            activity_before=T0 - timedelta(days=90),
            board_before=T0 - timedelta(hours=24),
        )
    assert purged == 2
    with sessions() as session:
        left = events.read_after(session, 0, ["wl-1"], 100)
    assert [(e.event_id, e.status) for e in left if e.category == "activity"] == [
        ("new-activity", None)
    ]
    assert [e.wanted_id for e in left if e.category == "board"] == ["w-2"]
    # Even with the log emptied, a new row gets a seq above every one handed out.
    with sessions.begin() as session:
        events.purge(session, activity_before=T0, board_before=T0)
    stored, _ = record(sessions, activity("after-purge"))
    assert stored.seq > highest


@pytest.fixture
def pg_sessions(postgres_cluster: Cluster) -> Iterator[sessionmaker[Session]]:
    """A migrated board-sync database on PostgreSQL only (SQLite serialises writers
    itself, so the log lock is PostgreSQL's)."""
    engine = db.make_engine(postgres_cluster.create_database())
    db.migrate(engine, MIGRATIONS)
    yield db.session_factory(engine)
    engine.dispose()


@pytest.mark.postgres
def test_the_log_lock_is_held_until_commit_on_postgresql(
    pg_sessions: sessionmaker[Session],
) -> None:
    sessions = pg_sessions
    with sessions.begin() as writer:
        events.record_activity(writer, activity("ev-1"))
        # Another transaction cannot become a writer of the log before this one commits,
        # so it cannot take (and commit) a later seq first.
        with sessions.begin() as other:
            free = other.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(events.LOG_LOCK_KEY)))
            assert free is False
    with sessions.begin() as other:
        assert other.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(events.LOG_LOCK_KEY)))


# ---------------------------------------------------------------------- paging


@pytest.fixture(scope="module")
def paging_sessions(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[sessionmaker[Session]]:
    engine = db.make_engine(f"sqlite+pysqlite:///{tmp_path_factory.mktemp('log') / 'log.db'}")
    db.migrate(engine, MIGRATIONS)
    yield db.session_factory(engine)
    engine.dispose()


_kinds = st.sampled_from(["claimed", "done", "posted", "woke"])


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    log=st.lists(st.tuples(st.sampled_from(["wl-a", "wl-b"]), _kinds), max_size=40),
    page_size=st.integers(min_value=1, max_value=7),
    kind=st.none() | _kinds,
)
def test_paging_lists_each_activity_once_newest_first(
    paging_sessions: sessionmaker[Session],
    log: list[tuple[str, ActivityKindName]],
    page_size: int,
    kind: ActivityKindName | None,
) -> None:
    sessions = paging_sessions
    with sessions.begin() as session:
        session.execute(sa.delete(WastelandEvent))
    for n, (wasteland_id, k) in enumerate(log):
        record(sessions, activity(f"ev-{n}", wasteland_id=wasteland_id, kind=k))
        if n % 5 == 0:  # board rows in between are never listed
            with sessions.begin() as session:
                events.append_board_changes(session, [BoardChange(wasteland_id, "w-1", "open", T0)])
    expected = [
        f"ev-{n}"
        for n, (w, k) in reversed(list(enumerate(log)))
        if w == "wl-a" and (kind is None or k == kind)
    ]
    seen: list[str] = []
    token = ""
    for _ in range(len(log) + 2):
        with sessions() as session:
            page = list_activity(session, "wl-a", kind=kind, page_size=page_size, page_token=token)
        assert len(page.events) <= page_size
        seen.extend(e.event_id for e in page.events)
        token = page.next_page_token
        if not token:
            break
    assert seen == expected


def test_a_page_token_belongs_to_its_query(sessions: sessionmaker[Session]) -> None:
    for n in range(3):
        record(sessions, activity(f"ev-{n}"))
    with sessions() as session:
        page = list_activity(session, "wl-1", page_size=1)
        assert page.next_page_token
        # A record made between pages never shifts the next page.
    record(sessions, activity("ev-new"))
    with sessions() as session:
        second = list_activity(session, "wl-1", page_size=1, page_token=page.next_page_token)
        assert [e.event_id for e in second.events] == ["ev-1"]
        for other in (
            {"kind": "done"},
            {"page_token": "not-a-token"},
        ):
            with pytest.raises(errors.InvalidArgument) as exc:
                list_activity(
                    session,
                    "wl-1",
                    page_size=1,
                    **{"page_token": page.next_page_token, **other},  # type: ignore[arg-type]
                )
            assert exc.value.violations[0].field == "page_token"
        with pytest.raises(errors.InvalidArgument):
            list_activity(session, "wl-2", page_token=page.next_page_token)


def test_every_kind_of_the_contract_is_storable(sessions: sessionmaker[Session]) -> None:
    for n, kind in enumerate(KINDS):
        record(sessions, activity(f"ev-{n}", kind=kind))
    with sessions() as session:
        page = list_activity(session, "wl-1", page_size=200)
    assert sorted(e.kind or "" for e in page.events) == sorted(KINDS)


async def test_the_purge_schedule_runs_at_start_and_outlives_a_failure(
    sessions: sessionmaker[Session],
) -> None:
    record(sessions, activity("old", at=T0 - timedelta(days=91)))
    waits: list[float] = []
    broken = False

    async def wait(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            raise asyncio.CancelledError

    def now() -> datetime:
        nonlocal broken
        if len(waits) == 1 and not broken:
            broken = True
            raise RuntimeError("database unreachable")
        return T0

    with pytest.raises(asyncio.CancelledError):
        await retention.run_schedule(
            sessions, retention.Retention(), interval_seconds=3600, now=now, wait=wait
        )
    assert waits == [3600, 300, 3600]
    with sessions() as session:
        assert events.read_after(session, 0, ["wl-1"], 10) == []
