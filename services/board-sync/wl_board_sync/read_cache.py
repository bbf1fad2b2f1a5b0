"""Board reads built once per board revision: Browse pages, counts and item details.

Building an answer from the cache tables (queries, rows, protobuf messages) costs
milliseconds; reading one row of ``board_wastelands`` by its key costs a fraction of one.
So each read first reads the wasteland's *board key* (``board_revision``, ``synced_at``
and the poll interval, one primary-key select) and answers from what this replica built
under that key, building it only when it has nothing for the key yet.

Why a replica never answers with a board older than its database's:

* every transaction that changes what the board shows (a sync's store step, a move to
  another upstream) sets a ``board_revision`` no wasteland has had before, in that
  transaction, on the row it holds locked; a sync that changes only ``synced_at`` (an
  idle poll) changes the key too, so even a writer that does not know the revision
  (an older replica during a rolling upgrade) is never hidden;
* a read takes the key first, then (on a miss) the rows, so what it builds under key K
  is K's board or a newer one, never an older one;
* the key is read from the database on every call, so another replica's write is seen
  by the next read here, with no message between replicas.

A viewer's own pending posts are the only part of an answer that depends on the caller.
The cache learns, once per key, which rigs have pending posts; any other viewer gets the
answer built for no viewer (only the page token, which names the viewer, is made per
call). ``synced_at`` and ``stale`` are taken from the key read of each call.

Bound: ``max_items`` items over all the answers kept (a page weighs its items, an item
detail its rows, a count one), least recently read dropped first; what was built under a
key that changed is never read again and ages out. ``max_items=0`` turns the cache off
(every read builds its answer).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session
from wasteland.v1 import board_pb2
from wasteland_common.errors import NotFound

from . import board, messages
from .board import BrowseQuery, Freshness
from .store import CachedWanted, TrackedWasteland

_T = TypeVar("_T")
_TRACKED = cast(sa.Table, TrackedWasteland.__table__)
_KEY_SQL: Final = sa.select(
    _TRACKED.c.board_revision, _TRACKED.c.synced_at, _TRACKED.c.poll_interval_seconds
).where(_TRACKED.c.wasteland_id == sa.bindparam("wasteland_id"))
_WANTED = cast(sa.Table, CachedWanted.__table__)
_POSTERS_SQL: Final = (
    sa.select(_WANTED.c.pending_post_rig)
    .where(
        _WANTED.c.wasteland_id == sa.bindparam("wasteland_id"),
        _WANTED.c.pending_post_rig.is_not(None),
    )
    .distinct()
)


@dataclass(frozen=True)
class BoardKey:
    """What one read learns of the wasteland before anything else."""

    revision: str
    synced_at: datetime | None
    poll_interval_seconds: int | None

    @property
    def cache_key(self) -> tuple[str, datetime | None]:
        return (self.revision, self.synced_at)


def read_key(session: Session, wasteland_id: str) -> BoardKey:
    """The wasteland's board key, or NOT_FOUND when it is not tracked."""
    row = session.execute(_KEY_SQL, {"wasteland_id": wasteland_id}).first()
    if row is None:
        raise NotFound(f"wasteland {wasteland_id} is not tracked")
    return BoardKey(row.board_revision, row.synced_at, row.poll_interval_seconds)


def _posters(session: Session, wasteland_id: str) -> frozenset[str]:
    """The rigs with a pending post on the wasteland's board."""
    return frozenset(session.scalars(_POSTERS_SQL, {"wasteland_id": wasteland_id}))


@dataclass(frozen=True)
class _Page:
    items: Any  # a BrowseResponse holding the items only
    last_key: list[int | str] | None


@dataclass(frozen=True)
class BrowseView:
    """A Browse answer: ``items`` is a shared ``BrowseResponse`` holding only the items
    (copy it before changing anything)."""

    items: Any
    next_page_token: str
    synced_at: datetime | None
    stale: bool


@dataclass(frozen=True)
class _Item:
    response: Any  # a GetWantedItemResponse (shared), None: no such item
    pending_post_rig: str | None
    rows: int


class ReadCache:
    """Built board reads of the wastelands read lately, each under its board key.

    Thread-safe: the methods run in worker threads (``run_in_session``), each with its
    own session; only the bookkeeping is under the lock, never a query.
    """

    def __init__(self, *, max_items: int) -> None:
        self._max_items = max_items
        self._weight = 0
        # (wasteland id, board key, answer) -> (answer, weight), least recently read first.
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._max_items > 0

    def _entry(self, name: Hashable, build: Callable[[], _T], weigh: Callable[[_T], int]) -> _T:
        """The answer kept under ``name``, else ``build()`` (kept)."""
        if not self.enabled:
            return build()
        with self._lock:
            found = self._entries.get(name)
            if found is not None:
                self._entries.move_to_end(name)
                return cast(_T, found[0])
        value = build()  # outside the lock: it queries the database
        weight = 1 + weigh(value)
        with self._lock:
            previous = self._entries.pop(name, None)
            if previous is not None:
                self._weight -= previous[1]
            self._entries[name] = (value, weight)
            self._weight += weight
            while self._weight > self._max_items and self._entries:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._weight -= dropped
        return value

    def _peek(self, name: Hashable) -> Any:
        """The answer kept under ``name``, or None."""
        if not self.enabled:
            return None
        with self._lock:
            found = self._entries.get(name)
            if found is None:
                return None
            self._entries.move_to_end(name)
            return found[0]

    def _viewer(self, session: Session, wasteland_id: str, key: BoardKey, viewer: str) -> str:
        """The viewer an answer for ``viewer`` is built for: itself when it has pending
        posts on this board, else nobody (the answers are the same)."""
        if not viewer or not self.enabled:
            return viewer
        posters = self._entry(
            (wasteland_id, key.cache_key, "posters"),
            lambda: _posters(session, wasteland_id),
            len,
        )
        return viewer if viewer in posters else ""

    # ------------------------------------------------------------------ reads

    def lookup_browse(
        self, query: BrowseQuery, key: BoardKey, *, now: datetime, freshness: Freshness
    ) -> BrowseView | None:
        """The page ``query`` asks for if it was built under ``key`` (just read from the
        database), else None; no query runs (the event loop may call it)."""
        viewer = query.viewer
        if viewer:
            posters = self._peek((query.wasteland_id, key.cache_key, "posters"))
            if posters is None:
                return None
            viewer = viewer if viewer in posters else ""
        page = self._peek(_browse_name(query, viewer, key))
        if page is None:
            return None
        return _browse_view(query, key, page, now, freshness)

    def browse(
        self,
        session: Session,
        query: BrowseQuery,
        *,
        now: datetime,
        freshness: Freshness,
        key: BoardKey | None = None,
    ) -> BrowseView:
        """The page ``query`` asks for, as ``board.browse`` would build it now (``key``:
        the board key when the caller has just read it)."""
        if key is None:
            key = read_key(session, query.wasteland_id)
        viewer = self._viewer(session, query.wasteland_id, key, query.viewer)
        shown = query if viewer == query.viewer else replace(query, viewer=viewer)

        def build() -> _Page:
            rows = board.page_rows(session, shown)
            items = board_pb2.BrowseResponse(items=[messages.wanted_item(r) for r in rows.items])
            return _Page(items, rows.last_key)

        page = self._entry(_browse_name(query, viewer, key), build, lambda p: len(p.items.items))
        return _browse_view(query, key, page, now, freshness)

    def count_wanted(self, session: Session, wasteland_id: str, viewer: str = "") -> dict[str, int]:
        """As ``board.count_wanted``."""
        key = read_key(session, wasteland_id)
        shown = self._viewer(session, wasteland_id, key, viewer)
        counts = self._entry(
            (wasteland_id, key.cache_key, "count", shown),
            lambda: board.count_wanted_rows(session, wasteland_id, shown),
            lambda _: 0,
        )
        return dict(counts)

    def get_item(
        self, session: Session, wasteland_id: str, wanted_id: str, viewer: str = ""
    ) -> Any:
        """A ``GetWantedItemResponse`` (shared: copy it before changing it) of what
        ``board.get_item`` finds; NOT_FOUND where it answers NOT_FOUND."""
        key = read_key(session, wasteland_id)

        def build() -> _Item:
            found = board.find_item(session, wasteland_id, wanted_id)
            if found is None:
                # Remembered too: an unknown item stays unknown until the key changes.
                return _Item(None, None, 0)
            response = board_pb2.GetWantedItemResponse(
                item=messages.wanted_item(found.item),
                completions=[messages.completion(c) for c in found.completions],
                stamps=[messages.stamp(s) for s in found.stamps],
            )
            rows = len(found.completions) + len(found.stamps)
            return _Item(response, found.item.pending_post_rig, rows)

        item = self._entry(
            (wasteland_id, key.cache_key, "item", wanted_id), build, lambda i: i.rows
        )
        if item.response is None or not board.shown_to(item.pending_post_rig, viewer):
            raise NotFound(f"wanted item {wanted_id} not found")
        return item.response


def _browse_name(query: BrowseQuery, viewer: str, key: BoardKey) -> Hashable:
    """What a page is kept under: everything that decides its items (``viewer``: the one
    it is built for)."""
    return (
        query.wasteland_id,
        key.cache_key,
        "browse",
        query.status,
        query.type,
        query.priority,
        query.project,
        query.tag,
        query.q,
        query.rig_handle,
        query.sort,
        query.page_size,
        query.after,
        viewer,
    )


def _browse_view(
    query: BrowseQuery, key: BoardKey, page: _Page, now: datetime, freshness: Freshness
) -> BrowseView:
    token = ""
    if page.last_key is not None:
        # The token names the caller's own query (its viewer included).
        token = board.encode_token(query.fingerprint, page.last_key)
    return BrowseView(page.items, token, key.synced_at, freshness.stale(key, now))
