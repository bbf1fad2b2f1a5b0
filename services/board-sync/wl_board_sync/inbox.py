"""The review inbox: the upstream's pull requests into ``main``, each classified from its
diff by ``wasteland_common.review``, read through the DoltHub SQL API (never by a
workload).

A pull request's diff is what its source branch changed since it left its database's
``main`` (a three-dot range between commit hashes, ``wasteland_common.dolthub.diffs``).
What never changes is read once and kept in ``board_pull_reviews``: where a pull request
comes from, and the row changes of a branch head. The merge check (``mergeable``) and the
warnings depend on the upstream too and are made again when its head or the branch moved.

DoltHub requests of one listing page of N pull requests from F source databases:

* the pull-request list: one request per DoltHub page, every time (states change);
* each pull request's detail: once ever (then from ``board_pull_reviews``);
* with open pull requests on the page: one ``dolt_branches`` read per source database
  (the heads of its branches and of its ``main``) and one upstream head read;
* a branch head not seen before: one ``dolt_diff_stat`` plus one ``dolt_diff`` per
  changed table, once;
* when the upstream head or a branch moved: one read per table the page's changes touch
  (all of the page's pull requests together) for the merge check.

So a listing in which nothing moved costs the list pages + 1 + F requests. A closed or
merged pull request keeps what was read while it was open (its branch may be gone); one
never seen open is read once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final, Literal, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import dolthub, review
from wasteland_common.db import run_in_session
from wasteland_common.dolthub import DoltHubClient, PullRequest, PullSummary
from wasteland_common.dolthub.diffs import DiffRange, RowChange, range_changes
from wasteland_common.dolthub.pulls import PullDetails, pull_ranges, pull_url
from wasteland_common.errors import FailedPrecondition, NotFound, invalid
from wasteland_common.review import Classification, PullKind, PullWarning

from . import commons
from .store import CachedRig, PullReview
from .sync import Target, load_target

log = logging.getLogger(__name__)
T = TypeVar("T")

PullState = Literal["open", "closed", "merged"]
PULL_STATES: Final[tuple[PullState, ...]] = ("open", "closed", "merged")
PAGE_SIZE_DEFAULT: Final = 50
PAGE_SIZE_MAX: Final = 200
PULL_ID_MAX: Final = 32
_CONCURRENCY: Final = 8
_PAGE_MARK: Final = "pulls1"
# Errors that make one pull request unreadable (its fork or branch deleted, no
# permission) without saying anything about DoltHub as a whole.
_SKIPPABLE = (dolthub.NotFound, dolthub.QueryError, dolthub.Forbidden, dolthub.Unauthorized)


@dataclass(frozen=True)
class Known:
    """What was read about one pull request (a ``board_pull_reviews`` row)."""

    pull_id: str
    from_owner: str
    from_db: str
    from_branch: str
    to_branch: str
    author: str
    created_at: datetime | None
    base_commit: str | None = None
    head_commit: str | None = None
    changes: tuple[RowChange, ...] | None = None
    kind: PullKind = "other"
    wanted_id: str | None = None
    author_rig: str | None = None
    checked_at_head: str | None = None
    mergeable: bool | None = None
    warnings: tuple[PullWarning, ...] = ()

    @classmethod
    def of_pull(cls, pull: PullRequest, owner: str, db: str) -> Known:
        """A new record from a pull request's detail."""
        return cls(
            pull_id=pull.pull_id,
            from_owner=pull.from_owner or owner,
            from_db=pull.from_database or db,
            from_branch=pull.from_branch,
            to_branch=pull.to_branch or "main",
            author=pull.author,
            created_at=parse_time(pull.created_at),
        )

    def as_pull(self, owner: str, db: str) -> PullRequest:
        """The pull request's source as the DoltHub helpers take it."""
        return PullRequest(
            pull_id=self.pull_id, title="", description="", state="",
            from_owner=self.from_owner, from_database=self.from_db,
            from_branch=self.from_branch, to_owner=owner, to_database=db,
            to_branch=self.to_branch, author=self.author, created_at="",
        )  # fmt: skip


@dataclass(frozen=True)
class PullView:
    """One pull request as the inbox shows it."""

    pull_id: str
    title: str
    state: PullState
    kind: PullKind
    wanted_id: str | None
    author_rig: str | None
    from_owner: str
    from_branch: str
    author: str
    created_at: datetime | None
    mergeable: bool | None
    url: str
    warnings: tuple[PullWarning, ...]
    stamp_subjects: tuple[str, ...]
    changes: tuple[RowChange, ...] | None


@dataclass(frozen=True)
class PullPage:
    pulls: list[PullView]
    next_page_token: str


@dataclass(frozen=True)
class _Entry:
    """A pull request on the page being built: its fresh state and title, and its record
    (``stored``: as kept in ``board_pull_reviews``)."""

    state: PullState
    title: str
    known: Known
    stored: bool


# --------------------------------------------------------------------------- parsing


def parse_state(value: str, field: str = "state") -> PullState:
    """A pull-request state filter; empty means open."""
    if not value:
        return "open"
    for state in PULL_STATES:
        if value == state:
            return state
    raise invalid(field, "must be open, closed or merged")


def parse_pull_id(value: str, field: str = "pull_id") -> str:
    """A DoltHub pull-request id (decimal digits)."""
    if not value or len(value) > PULL_ID_MAX or not value.isdigit():
        raise invalid(field, "must be a pull request number")
    return value


def parse_page_size(value: int) -> int:
    if value < 0 or value > PAGE_SIZE_MAX:
        raise invalid("page_size", f"must be between 1 and {PAGE_SIZE_MAX}")
    return value or PAGE_SIZE_DEFAULT


def state_of(dolthub_state: str) -> PullState:
    """The inbox state of a DoltHub state (``merging`` and unknown ones are still open)."""
    lowered = dolthub_state.strip().lower()
    if lowered in ("merged", "closed"):
        return cast(PullState, lowered)
    return "open"


def parse_time(value: str) -> datetime | None:
    """A DoltHub time (RFC 3339 or ``YYYY-MM-DD HH:MM:SS``, UTC), None when unusable."""
    try:
        return commons.timestamp({"t": value}, "t")
    except commons.BadCell:
        return None


def _number(pull_id: str) -> int:
    return int(pull_id) if pull_id.isdigit() else 2**63


def page_token(state: PullState, after: str) -> str:
    """An opaque token naming the last pull request of a page."""
    raw = f"{_PAGE_MARK}:{state}:{after}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_page_token(token: str, state: PullState) -> int | None:
    """The pull number a page starts after (None: the first page)."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid("page_token", "is not a token of this list") from None
    prefix, _, rest = raw.partition(":")
    token_state, _, after = rest.partition(":")
    if prefix != _PAGE_MARK or token_state != state or not after.isdigit():
        raise invalid("page_token", "is not a token of this list")
    return int(after)


def ordered(
    summaries: Sequence[PullSummary], state: PullState, after: int | None
) -> list[PullSummary]:
    """The pull requests of ``state`` in inbox order after the token's pull number: open
    ones oldest first (a review queue), closed and merged ones newest first."""
    newest_first = state != "open"
    found = [s for s in summaries if s.pull_id.isdigit() and state_of(s.state) == state]
    found.sort(key=lambda s: _number(s.pull_id), reverse=newest_first)
    if after is None:
        return found
    if newest_first:
        return [s for s in found if _number(s.pull_id) < after]
    return [s for s in found if _number(s.pull_id) > after]


# --------------------------------------------------------------------------- storage


def _changes_json(changes: Sequence[RowChange] | None) -> str | None:
    if changes is None:
        return None
    return json.dumps(
        [
            {"table": c.table, "kind": c.kind, "key": c.key, "before": c.before, "after": c.after}
            for c in changes
        ],
        ensure_ascii=False,
    )


def _changes_of(text: str | None) -> tuple[RowChange, ...] | None:
    if text is None:
        return None
    try:
        raw = json.loads(text)
        return tuple(
            RowChange(
                table=str(c["table"]),
                kind=str(c["kind"]),
                key=str(c["key"]),
                before=dict(c["before"]),
                after=dict(c["after"]),
            )
            for c in raw
        )
    except (ValueError, KeyError, TypeError):
        log.warning("a stored pull-request diff does not parse; reading it again")
        return None


def _warnings_of(text: str) -> tuple[PullWarning, ...]:
    try:
        raw = json.loads(text)
        return tuple(PullWarning(str(w["code"]), str(w["message"])) for w in raw)
    except (ValueError, KeyError, TypeError):
        return ()


def _kind(value: str) -> PullKind:
    for kind in review.PULL_KINDS:
        if value == kind:
            return kind
    return "other"


def _known(row: PullReview) -> Known:
    return Known(
        pull_id=row.pull_id,
        from_owner=row.from_owner,
        from_db=row.from_db,
        from_branch=row.from_branch,
        to_branch=row.to_branch,
        author=row.author,
        created_at=row.created_at,
        base_commit=row.base_commit,
        head_commit=row.head_commit,
        changes=_changes_of(row.changes_json),
        kind=_kind(row.kind),
        wanted_id=row.wanted_id,
        author_rig=row.author_rig,
        checked_at_head=row.checked_at_head,
        mergeable=row.mergeable,
        warnings=_warnings_of(row.warnings_json),
    )


def load_reviews(
    session: Session, wasteland_id: str, pull_ids: Collection[str]
) -> dict[str, Known]:
    """The stored records of ``pull_ids``."""
    if not pull_ids:
        return {}
    rows = session.scalars(
        sa.select(PullReview).where(
            PullReview.wasteland_id == wasteland_id, PullReview.pull_id.in_(list(pull_ids))
        )
    ).all()
    return {row.pull_id: _known(row) for row in rows}


def save_reviews(
    session: Session, wasteland_id: str, records: Sequence[Known], now: datetime
) -> None:
    """Store ``records`` (replacing earlier ones), unless the wasteland is gone."""
    if not records or load_target_or_none(session, wasteland_id) is None:
        return
    for k in records:
        session.merge(
            PullReview(
                wasteland_id=wasteland_id,
                pull_id=k.pull_id,
                from_owner=k.from_owner[:255],
                from_db=k.from_db[:255],
                from_branch=k.from_branch[:255],
                to_branch=k.to_branch[:255],
                author=k.author[:255],
                created_at=k.created_at,
                base_commit=k.base_commit,
                head_commit=k.head_commit,
                changes_json=_changes_json(k.changes),
                kind=k.kind,
                wanted_id=(k.wanted_id or "")[:64] or None,
                author_rig=(k.author_rig or "")[:255] or None,
                checked_at_head=k.checked_at_head,
                mergeable=k.mergeable,
                warnings_json=json.dumps(
                    [{"code": w.code, "message": w.message} for w in k.warnings]
                ),
                updated_at=now,
            )
        )


def load_target_or_none(session: Session, wasteland_id: str) -> Target | None:
    try:
        return load_target(session, wasteland_id)
    except NotFound:
        return None


def rigs_by_org(session: Session, wasteland_id: str) -> dict[str, str]:
    """The rig each DoltHub org stands for on the board: the rig named like the org, else
    its only human (non-agent) rig; orgs with several candidates are left out."""
    rows = session.execute(
        sa.select(CachedRig.handle, CachedRig.dolthub_org, CachedRig.rig_type).where(
            CachedRig.wasteland_id == wasteland_id, CachedRig.dolthub_org.is_not(None)
        )
    ).all()
    candidates: dict[str, list[str]] = {}
    for handle, org, rig_type in rows:
        if org and rig_type != review.AGENT:
            candidates.setdefault(org, []).append(handle)
    found: dict[str, str] = {}
    for org, handles in candidates.items():
        if org in handles:
            found[org] = org
        elif len(handles) == 1:
            found[org] = handles[0]
    return found


# --------------------------------------------------------------------------- the inbox


class Inbox:
    """Lists and reads an upstream's pull requests for review (see the module docstring
    for what each read costs)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        client: DoltHubClient,
        *,
        clock: Callable[[], datetime],
        details: PullDetails | None = None,
        concurrency: int = _CONCURRENCY,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._clock = clock
        self._details = details if details is not None else PullDetails()
        self._concurrency = concurrency

    async def list_pulls(
        self, wasteland_id: str, state: PullState, page_size: int, token: str
    ) -> PullPage:
        """One page of the pull requests in ``state`` (into ``main``)."""
        after = parse_page_token(token, state)
        target = await run_in_session(self._sessions, load_target, wasteland_id)
        summaries = await self._upstream(self._client.list_pulls(target.owner, target.db), target)
        candidates = ordered(summaries, state, after)
        stored = await run_in_session(
            self._sessions, load_reviews, wasteland_id, [s.pull_id for s in candidates]
        )
        page: list[_Entry] = []
        examined = 0
        while len(page) < page_size and examined < len(candidates):
            chunk = candidates[examined : examined + page_size - len(page)]
            examined += len(chunk)
            fresh = await self._read_details(
                target, [s.pull_id for s in chunk if s.pull_id not in stored]
            )
            for summary in chunk:
                known = stored.get(summary.pull_id) or fresh.get(summary.pull_id)
                if known is None or known.to_branch not in ("", "main"):
                    continue
                entry = _Entry(
                    state_of(summary.state), summary.title, known, summary.pull_id in stored
                )
                page.append(entry)
        more = examined < len(candidates)
        next_token = page_token(state, candidates[examined - 1].pull_id) if more else ""
        views = await self._review(target, page, with_changes=False)
        return PullPage(views, next_token)

    async def get_pull(self, wasteland_id: str, pull_id: str) -> PullView:
        """One pull request with its row changes; NOT_FOUND when the upstream has none with
        this id."""
        target = await run_in_session(self._sessions, load_target, wasteland_id)
        try:
            pull = await self._client.get_pull(target.owner, target.db, pull_id)
        except dolthub.NotFound:
            # The pull request, or the whole commons (then the inbox has nothing either).
            raise NotFound(f"pull request {pull_id} not found") from None
        stored = await run_in_session(self._sessions, load_reviews, wasteland_id, [pull_id])
        known = stored.get(pull_id) or Known.of_pull(pull, target.owner, target.db)
        self._details.put((target.owner, target.db, pull_id), pull)
        entry = _Entry(state_of(pull.state), pull.title, known, pull_id in stored)
        return (await self._review(target, [entry], with_changes=True))[0]

    # ------------------------------------------------------------------ reads

    async def _upstream(self, call: Awaitable[T], target: Target) -> T:
        """Await a read of the upstream itself: a missing commons is FAILED_PRECONDITION;
        other DoltHub errors pass on (the interceptor maps them)."""
        try:
            return await call
        except dolthub.NotFound as exc:
            raise FailedPrecondition(
                f"the commons {target.owner}/{target.db} is not readable on DoltHub"
            ) from exc

    async def _read_details(self, target: Target, pull_ids: Sequence[str]) -> dict[str, Known]:
        limit = asyncio.Semaphore(self._concurrency)

        async def one(pull_id: str) -> Known | None:
            try:
                async with limit:
                    pull = await self._details.detail(
                        self._client, target.owner, target.db, pull_id
                    )
            except _SKIPPABLE as exc:
                log.info("pull %s of %s/%s unreadable: %s", pull_id, target.owner, target.db, exc)
                return None
            return Known.of_pull(pull, target.owner, target.db)

        found = await asyncio.gather(*(one(p) for p in pull_ids))
        return {k.pull_id: k for k in found if k is not None}

    async def _review(
        self, target: Target, entries: Sequence[_Entry], *, with_changes: bool
    ) -> list[PullView]:
        if not entries:
            return []
        orgs = await run_in_session(self._sessions, rigs_by_org, target.wasteland_id)
        records = {e.known.pull_id: e.known for e in entries}
        # An open pull request's branch may have moved; a finished one keeps what was read
        # while it was open (its branch may be gone), or is read once when first seen.
        to_read = [e.known for e in entries if e.state == "open" or not e.stored]
        records.update(await self._read_changes(target, to_read))
        for pull_id, known in records.items():
            found = _classified(known, target, orgs)
            records[pull_id] = replace(
                known, kind=found.kind, wanted_id=found.wanted_id, author_rig=found.author_rig
            )
        open_ids = [e.known.pull_id for e in entries if e.state == "open"]
        records.update(await self._check(target, [records[p] for p in open_ids]))
        changed = [
            records[e.known.pull_id]
            for e in entries
            if not e.stored or records[e.known.pull_id] != e.known
        ]
        if changed:
            try:
                await run_in_session(
                    self._sessions, save_reviews, target.wasteland_id, changed, self._clock()
                )
            except sa.exc.IntegrityError:
                # Another replica stored the same pull requests first: what it read is as
                # good as ours, and the answer does not depend on storing it.
                log.info("pull-request reviews of %s stored concurrently", target.wasteland_id)
        return [self._view(target, e, records[e.known.pull_id], with_changes) for e in entries]

    async def _read_changes(self, target: Target, pulls: Sequence[Known]) -> dict[str, Known]:
        """The records of ``pulls`` with the row changes of their branch's current head
        (read only for a head not read before)."""
        if not pulls:
            return {}
        ranges = await pull_ranges(
            self._client,
            target.owner,
            target.db,
            [k.as_pull(target.owner, target.db) for k in pulls],
        )
        limit = asyncio.Semaphore(self._concurrency)

        async def one(known: Known) -> Known:
            found = ranges.get(known.pull_id)
            if found is None or (known.head_commit == found.head and known.changes is not None):
                return known
            try:
                async with limit:
                    changes = await range_changes(
                        self._client, known.from_owner, known.from_db, found
                    )
            except _SKIPPABLE as exc:
                log.info("diff of pull %s unreadable: %s", known.pull_id, exc)
                changes = None
            return _with_range(known, found, changes)

        updated = await asyncio.gather(*(one(k) for k in pulls))
        return {k.pull_id: k for k in updated}

    async def _check(self, target: Target, pulls: Sequence[Known]) -> dict[str, Known]:
        """The merge check and warnings of open pull requests, made again against the
        upstream's current head when it or the branch moved (unknown without changes)."""
        result = {
            k.pull_id: replace(k, mergeable=None, warnings=(), checked_at_head=None)
            for k in pulls
            if k.changes is None
        }
        readable = [k for k in pulls if k.changes is not None]
        if not readable:
            return result
        head = await self._upstream(self._client.head_commit(target.owner, target.db), target)
        stale = [k for k in readable if k.checked_at_head != head]
        rows: Mapping[review.RowRef, review.Row] = {}
        if stale:
            every = [c for k in stale for c in k.changes or ()]
            rows = await self._upstream(
                review.read_upstream(self._client, target.owner, target.db, every, ref=head),
                target,
            )
        for k in readable:
            if k.checked_at_head == head:
                result[k.pull_id] = k
                continue
            changes = k.changes or ()
            classification = Classification(k.kind, k.wanted_id, k.author_rig)
            result[k.pull_id] = replace(
                k,
                mergeable=not review.conflicts(changes, rows),
                warnings=tuple(review.warnings(classification, changes, rows)),
                checked_at_head=head,
            )
        return result

    def _view(self, target: Target, entry: _Entry, known: Known, with_changes: bool) -> PullView:
        finished = entry.state != "open"
        return PullView(
            pull_id=known.pull_id,
            title=entry.title,
            state=entry.state,
            kind=known.kind,
            wanted_id=known.wanted_id,
            author_rig=known.author_rig,
            from_owner=known.from_owner,
            from_branch=known.from_branch,
            author=known.author,
            created_at=known.created_at,
            mergeable=False if finished else known.mergeable,
            url=pull_url(target.owner, target.db, known.pull_id),
            warnings=known.warnings,
            stamp_subjects=tuple(review.stamp_subjects(known.changes or ())),
            changes=known.changes if with_changes else None,
        )


def _with_range(known: Known, found: DiffRange, changes: list[RowChange] | None) -> Known:
    return replace(
        known,
        base_commit=found.base,
        head_commit=found.head,
        changes=tuple(changes) if changes is not None else None,
        checked_at_head=None,
    )


def _classified(known: Known, target: Target, orgs: Mapping[str, str]) -> Classification:
    source = review.PullSource(
        known.from_owner, known.from_db, known.from_branch, target.owner, target.db,
        known.to_branch,
    )  # fmt: skip
    return review.classify(
        source, known.changes, upstream_owner=target.owner, upstream_db=target.db,
        rig_of_org=orgs,
    )  # fmt: skip
