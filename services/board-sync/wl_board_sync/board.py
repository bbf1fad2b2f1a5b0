"""Filtered, paged queries over the cached board. No DoltHub call happens here.

Paging is keyset paging on a total order (the sort columns, then the id), so a page
token stays valid while a sync replaces the cache between pages: nothing is returned
twice and nothing that stays on the board is skipped. A token is opaque (base64 JSON of
the last key and a fingerprint of the query it belongs to) and is checked on the way in;
anything that is not one of ours is INVALID_ARGUMENT on ``page_token``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, NamedTuple, Protocol, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session
from wasteland_common.errors import NotFound, invalid

from .commons import ID_MAX, MAX_PRIORITY, MIN_PRIORITY, STATUSES, TYPES
from .schedule import interval_of, is_stale, stale_after
from .store import (
    CachedCompletion,
    CachedRig,
    CachedStamp,
    CachedWanted,
    CachedWantedTag,
    TrackedWasteland,
    tags_of,
)
from .tracking import require_wasteland

Sort = Literal["priority", "created", "updated"]
SORTS: Final[tuple[Sort, ...]] = ("priority", "created", "updated")
DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 200
MAX_TEXT_FILTER: Final = 200
MAX_HANDLE: Final = 255
_TOKEN_MAX: Final = 2048
_TOKEN_VERSION: Final = 1


# ---------------------------------------------------------------------- page tokens


def _fingerprint(*parts: object) -> str:
    blob = json.dumps(parts, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def encode_token(fingerprint: str, key: Sequence[int | str]) -> str:
    """An opaque token that resumes after ``key`` for the query ``fingerprint``."""
    payload = json.dumps(
        {"v": _TOKEN_VERSION, "f": fingerprint, "k": list(key)}, separators=(",", ":")
    )
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_token(token: str, fingerprint: str, shape: Sequence[type]) -> list[Any] | None:
    """The key a token resumes after (None for ""); INVALID_ARGUMENT unless the token is
    one this query issued, with a key of ``shape`` (int/str per position)."""
    if not token:
        return None
    bad = invalid("page_token", "is not a page token of this query")
    if len(token) > _TOKEN_MAX:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw.decode())
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise bad from exc
    if not isinstance(payload, dict) or set(payload) != {"v", "f", "k"}:
        raise bad
    if payload["v"] != _TOKEN_VERSION or payload["f"] != fingerprint:
        raise bad
    key = payload["k"]
    if not isinstance(key, list) or len(key) != len(shape):
        raise bad
    for value, kind in zip(key, shape, strict=True):
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise bad
        if kind is int and not -(2**63) <= value < 2**63:
            raise bad
        if kind is str and not isinstance(value, str):
            raise bad
    return key


def page_size_of(value: int) -> int:
    """The page size to use: 50 when unset, at most 200; negative is INVALID_ARGUMENT."""
    if value < 0:
        raise invalid("page_size", "must not be negative")
    if value == 0:
        return DEFAULT_PAGE_SIZE
    return min(value, MAX_PAGE_SIZE)


# ---------------------------------------------------------------------- freshness


class Polled(Protocol):
    """What staleness is decided from: the last sync and the poll interval."""

    @property
    def synced_at(self) -> datetime | None: ...

    @property
    def poll_interval_seconds(self) -> int | None: ...


@dataclass(frozen=True)
class Freshness:
    """How the board decides staleness (from the service settings)."""

    default_interval: int
    stale_after_seconds: int | None = None

    def stale(self, tracked: Polled, now: datetime) -> bool:
        interval = interval_of(tracked.poll_interval_seconds, self.default_interval)
        return is_stale(tracked.synced_at, now, stale_after(interval, self.stale_after_seconds))


# ---------------------------------------------------------------------- browse


@dataclass(frozen=True)
class BrowseQuery:
    """A validated Browse request."""

    wasteland_id: str
    status: str = ""
    type: str = ""
    priority: int | None = None
    project: str = ""
    tag: str = ""
    q: str = ""
    rig_handle: str = ""
    sort: Sort = "priority"
    page_size: int = DEFAULT_PAGE_SIZE
    after: tuple[Any, ...] | None = None
    # Whose pending posts are shown (their own; nobody else's).
    viewer: str = ""

    @property
    def fingerprint(self) -> str:
        return _fingerprint(
            "wanted",
            self.wasteland_id,
            self.status,
            self.type,
            self.priority,
            self.project,
            self.tag,
            self.q,
            self.rig_handle,
            self.sort,
            self.viewer,
        )


_SORT_SHAPES: Final[dict[Sort, tuple[type, ...]]] = {
    "priority": (int, int, str),
    "created": (int, str),
    "updated": (int, str),
}


def _bounded(value: str, field: str, limit: int) -> str:
    if len(value) > limit:
        raise invalid(field, f"must be at most {limit} characters")
    if "\x00" in value:
        raise invalid(field, "must not contain NUL")
    return value


def browse_query(
    wasteland_id: str,
    *,
    status: str = "",
    type: str = "",
    priority: int | None = None,
    project: str = "",
    tag: str = "",
    q: str = "",
    rig_handle: str = "",
    sort: str = "priority",
    page_size: int = 0,
    page_token: str = "",
    viewer: str = "",
) -> BrowseQuery:
    """Validate Browse arguments (field errors name the argument at fault)."""
    if status and status not in STATUSES:
        raise invalid("status", f"must be one of {', '.join(STATUSES)}")
    if type and type not in TYPES:
        raise invalid("type", f"must be one of {', '.join(TYPES)}")
    if priority is not None and not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise invalid("priority", f"must be between {MIN_PRIORITY} and {MAX_PRIORITY}")
    if sort not in SORTS:
        raise invalid("sort", f"must be one of {', '.join(SORTS)}")
    chosen: Sort = next(s for s in SORTS if s == sort)
    query = BrowseQuery(
        wasteland_id=wasteland_id,
        status=status,
        type=type,
        priority=priority,
        project=_bounded(project, "project", 64),
        tag=_bounded(tag, "tag", MAX_TEXT_FILTER),
        q=_bounded(q.strip(), "q", MAX_TEXT_FILTER),
        rig_handle=_bounded(rig_handle, "rig_handle", MAX_HANDLE),
        viewer=viewer_of(viewer),
        sort=chosen,
        page_size=page_size_of(page_size),
    )
    after = decode_token(page_token, query.fingerprint, _SORT_SHAPES[chosen])
    if after is None:
        return query
    return BrowseQuery(**{**query.__dict__, "after": tuple(after)})


class ShownItem(NamedTuple):
    """The columns of a cached wanted item the board shows (and pages on)."""

    wanted_id: str
    title: str
    description: str | None
    project: str | None
    type: str | None
    priority: int
    tags_json: str
    posted_by: str | None
    effective_claimed_by: str | None
    effective_status: str
    effort_level: str | None
    evidence_url: str | None
    sandbox_required: bool
    sandbox_scope: str | None
    sandbox_min_tier: str | None
    created_at: datetime | None
    updated_at: datetime | None
    created_ts: int
    updated_ts: int
    pending_status: str | None
    pending_pull_id: str | None

    @property
    def tags(self) -> list[str]:
        return tags_of(self.tags_json)


_WANTED = cast(sa.Table, CachedWanted.__table__)
_SHOWN_COLUMNS: Final = [_WANTED.c[name] for name in ShownItem._fields]


@dataclass(frozen=True)
class BoardPage:
    """One page of the board and how fresh the cache is."""

    items: list[ShownItem]
    next_page_token: str
    synced_at: datetime | None
    stale: bool


@dataclass(frozen=True)
class PageRows:
    """The items of one page and the key the next page resumes after (None: last page)."""

    items: list[ShownItem]
    last_key: list[int | str] | None


def viewer_of(value: str) -> str:
    """A viewer rig handle argument, or INVALID_ARGUMENT on ``viewer_rig_handle``."""
    return _bounded(value, "viewer_rig_handle", MAX_HANDLE)


def visible_to(viewer: str) -> sa.ColumnElement[bool]:
    """Upstream items, plus the viewer's own pending posts."""
    if not viewer:
        return CachedWanted.pending_post_rig.is_(None)
    return sa.or_(CachedWanted.pending_post_rig.is_(None), CachedWanted.pending_post_rig == viewer)


def _filters(query: BrowseQuery) -> list[sa.ColumnElement[bool]]:
    w = CachedWanted
    conditions: list[sa.ColumnElement[bool]] = [
        w.wasteland_id == query.wasteland_id,
        visible_to(query.viewer),
    ]
    if query.status:
        conditions.append(w.effective_status == query.status)
    if query.type:
        conditions.append(w.type == query.type)
    if query.priority is not None:
        conditions.append(w.priority == query.priority)
    if query.project:
        conditions.append(w.project == query.project)
    if query.tag:
        conditions.append(
            sa.exists().where(
                CachedWantedTag.wasteland_id == w.wasteland_id,
                CachedWantedTag.wanted_id == w.wanted_id,
                CachedWantedTag.tag == query.tag,
            )
        )
    if query.q:
        # Bound parameter with LIKE wildcards escaped; lower() on both sides makes it
        # case-insensitive on SQLite and PostgreSQL alike.
        needle = query.q.lower()
        conditions.append(
            sa.or_(
                sa.func.lower(w.title).contains(needle, autoescape=True),
                sa.func.lower(sa.func.coalesce(w.description, "")).contains(
                    needle, autoescape=True
                ),
            )
        )
    if query.rig_handle:
        conditions.append(
            sa.or_(
                w.posted_by == query.rig_handle,
                w.effective_claimed_by == query.rig_handle,
                w.claimed_by == query.rig_handle,
            )
        )
    return conditions


def _order_and_after(
    query: BrowseQuery,
) -> tuple[list[sa.ColumnElement[Any]], sa.ColumnElement[bool] | None]:
    w = CachedWanted
    after = query.after
    if query.sort == "priority":
        order: list[sa.ColumnElement[Any]] = [
            w.priority.asc(),
            w.created_ts.desc(),
            w.wanted_id.asc(),
        ]
        if after is None:
            return order, None
        p, c, i = after
        cond = sa.or_(
            w.priority > p,
            sa.and_(w.priority == p, w.created_ts < c),
            sa.and_(w.priority == p, w.created_ts == c, w.wanted_id > i),
        )
        return order, cond
    column = w.created_ts if query.sort == "created" else w.updated_ts
    order = [column.desc(), w.wanted_id.asc()]
    if after is None:
        return order, None
    t, i = after
    return order, sa.or_(column < t, sa.and_(column == t, w.wanted_id > i))


def _key_of(item: ShownItem, sort: Sort) -> list[int | str]:
    if sort == "priority":
        return [item.priority, item.created_ts, item.wanted_id]
    if sort == "created":
        return [item.created_ts, item.wanted_id]
    return [item.updated_ts, item.wanted_id]


def page_rows(session: Session, query: BrowseQuery) -> PageRows:
    """The items of the page ``query`` asks for (the wasteland is not checked)."""
    order, after = _order_and_after(query)
    conditions = _filters(query)
    if after is not None:
        conditions.append(after)
    # Only the shown columns, as plain rows: no ORM identity map or instance per item.
    result = session.execute(
        sa.select(*_SHOWN_COLUMNS).where(*conditions).order_by(*order).limit(query.page_size + 1)
    )
    rows = [ShownItem._make(r) for r in result]
    if len(rows) <= query.page_size:
        return PageRows(rows, None)
    rows = rows[: query.page_size]
    return PageRows(rows, _key_of(rows[-1], query.sort))


def browse(
    session: Session, query: BrowseQuery, *, now: datetime, freshness: Freshness
) -> BoardPage:
    """One page of the board matching ``query``; NOT_FOUND for an untracked wasteland.

    The status filter and the shown status/claimer use the effective state (the pending
    overlay when a pull request proposes one).
    """
    tracked = require_wasteland(session, query.wasteland_id)
    page = page_rows(session, query)
    next_token = ""
    if page.last_key is not None:
        next_token = encode_token(query.fingerprint, page.last_key)
    return BoardPage(
        items=page.items,
        next_page_token=next_token,
        synced_at=tracked.synced_at,
        stale=freshness.stale(tracked, now),
    )


# ---------------------------------------------------------------------- one item, counts


@dataclass(frozen=True)
class ItemDetail:
    """A wanted item with its completions and the stamps given for them."""

    item: CachedWanted
    completions: list[CachedCompletion]
    stamps: list[CachedStamp]


def parse_wanted_id(value: str) -> str:
    """A wanted id argument, or INVALID_ARGUMENT on ``wanted_id``."""
    if not value:
        raise invalid("wanted_id", "is required")
    return _bounded(value, "wanted_id", ID_MAX)


def find_item(session: Session, wasteland_id: str, wanted_id: str) -> ItemDetail | None:
    """The item (whoever may see it) with its completions and stamps, or None; the
    wasteland is not checked."""
    item = session.get(CachedWanted, (wasteland_id, wanted_id))
    if item is None:
        return None
    completions = list(
        session.scalars(
            sa.select(CachedCompletion)
            .where(
                CachedCompletion.wasteland_id == wasteland_id,
                CachedCompletion.wanted_id == wanted_id,
            )
            .order_by(CachedCompletion.completed_ts, CachedCompletion.completion_id)
        )
    )
    completion_ids = [c.completion_id for c in completions]
    stamp_ids = [c.stamp_id for c in completions if c.stamp_id]
    stamps: list[CachedStamp] = []
    if completion_ids:
        stamps = list(
            session.scalars(
                sa.select(CachedStamp)
                .where(
                    CachedStamp.wasteland_id == wasteland_id,
                    sa.or_(
                        CachedStamp.context_id.in_(completion_ids),
                        CachedStamp.stamp_id.in_(stamp_ids),
                    ),
                )
                .order_by(CachedStamp.created_at, CachedStamp.stamp_id)
            )
        )
    return ItemDetail(item=item, completions=completions, stamps=stamps)


def get_item(session: Session, wasteland_id: str, wanted_id: str, viewer: str = "") -> ItemDetail:
    """The item with its completions and stamps; NOT_FOUND for an unknown wasteland or item
    (someone else's pending post included)."""
    require_wasteland(session, wasteland_id)
    detail = find_item(session, wasteland_id, wanted_id)
    if detail is None or not shown_to(detail.item.pending_post_rig, viewer):
        raise NotFound(f"wanted item {wanted_id} not found")
    return detail


def shown_to(pending_post_rig: str | None, viewer: str) -> bool:
    """Whether an item is on ``viewer``'s board (someone else's pending post is not)."""
    return pending_post_rig is None or pending_post_rig == viewer


def count_wanted_rows(session: Session, wasteland_id: str, viewer: str = "") -> dict[str, int]:
    """Items per shown status (the viewer's pending posts included), every status
    present; the wasteland is not checked."""
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    rows = session.execute(
        sa.select(CachedWanted.effective_status, sa.func.count())
        .where(CachedWanted.wasteland_id == wasteland_id, visible_to(viewer))
        .group_by(CachedWanted.effective_status)
    ).all()
    for status, count in rows:
        counts[status] = int(count)
    return counts


def count_wanted(session: Session, wasteland_id: str, viewer: str = "") -> dict[str, int]:
    """Items per shown status (the viewer's pending posts included); every one of the
    five statuses is present (0 when none)."""
    require_wasteland(session, wasteland_id)
    return count_wanted_rows(session, wasteland_id, viewer)


# ---------------------------------------------------------------------- completions, rigs


CompletionFilter = Literal["", "validated", "pending"]
COMPLETION_FILTERS: Final[tuple[CompletionFilter, ...]] = ("", "validated", "pending")


@dataclass(frozen=True)
class CompletionPage:
    completions: list[CachedCompletion]
    next_page_token: str


def list_completions(
    session: Session,
    wasteland_id: str,
    *,
    status: str = "",
    page_size: int = 0,
    page_token: str = "",
) -> CompletionPage:
    """Completions, newest first; ``status`` "validated" (a validator is set) or
    "pending" (none yet) filters them."""
    if status not in COMPLETION_FILTERS:
        raise invalid("status", "must be validated or pending")
    size = page_size_of(page_size)
    fingerprint = _fingerprint("completions", wasteland_id, status)
    after = decode_token(page_token, fingerprint, (int, str))
    require_wasteland(session, wasteland_id)
    c = CachedCompletion
    conditions: list[sa.ColumnElement[bool]] = [c.wasteland_id == wasteland_id]
    if status == "validated":
        conditions.append(sa.and_(c.validated_by.is_not(None), c.validated_by != ""))
    elif status == "pending":
        conditions.append(sa.or_(c.validated_by.is_(None), c.validated_by == ""))
    if after is not None:
        ts, cid = after
        conditions.append(
            sa.or_(c.completed_ts < ts, sa.and_(c.completed_ts == ts, c.completion_id > cid))
        )
    rows = list(
        session.scalars(
            sa.select(c)
            .where(*conditions)
            .order_by(c.completed_ts.desc(), c.completion_id.asc())
            .limit(size + 1)
        )
    )
    token = ""
    if len(rows) > size:
        rows = rows[:size]
        token = encode_token(fingerprint, [rows[-1].completed_ts, rows[-1].completion_id])
    return CompletionPage(rows, token)


@dataclass(frozen=True)
class RigPage:
    rigs: list[CachedRig]
    next_page_token: str


def list_rigs(
    session: Session, wasteland_id: str, *, page_size: int = 0, page_token: str = ""
) -> RigPage:
    """Registered rigs by handle."""
    size = page_size_of(page_size)
    fingerprint = _fingerprint("rigs", wasteland_id)
    after = decode_token(page_token, fingerprint, (str,))
    require_wasteland(session, wasteland_id)
    conditions: list[sa.ColumnElement[bool]] = [CachedRig.wasteland_id == wasteland_id]
    if after is not None:
        conditions.append(CachedRig.handle > after[0])
    rows = list(
        session.scalars(
            sa.select(CachedRig).where(*conditions).order_by(CachedRig.handle).limit(size + 1)
        )
    )
    token = ""
    if len(rows) > size:
        rows = rows[:size]
        token = encode_token(fingerprint, [rows[-1].handle])
    return RigPage(rows, token)


def board_state(session: Session, wasteland_id: str) -> TrackedWasteland:
    """The tracked wasteland (sync time, head, last error), or NOT_FOUND."""
    return require_wasteland(session, wasteland_id)
