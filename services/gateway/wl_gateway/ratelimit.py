"""Per-user, per-operation rate limits that hold across gateway replicas.

Fixed windows: the counter of (user, operation, window start) lives in the gateway's
database and is bumped with one atomic upsert (``INSERT … ON CONFLICT DO UPDATE …
RETURNING``, on SQLite and PostgreSQL alike), so every replica sees the same count.
A window starts at a multiple of its length in epoch seconds, so replicas agree on it
without coordination. Time comes from an injected clock.

A replica need not write the counter for every request: a policy may let it *lease* a
batch of permits with one upsert and spend them locally (browse does: it is the hot
path). The counter counts leased permits, so all replicas together never let more than
the limit through; a permit leased by one replica and not spent there is lost to the
window, so a user who alternates replicas may be refused a few requests early. Actions
(claim, done, post) lease one permit at a time and stay exact.

Leases of different users are written together: while one transaction is in flight, the
leases asked for meanwhile wait and go into the next one (group commit), so many users
arriving at once cost one commit, not one each, and no request is let through on a
permit the shared counter has not recorded. The counter's commits need not survive a
power loss (a lost count only lets a user a few requests more in that window), so they
skip the synchronous flush: ``synchronous_commit = off`` for the transaction on
PostgreSQL, ``synchronous=NORMAL`` (durable across a process crash in WAL mode) on the
limiter's SQLite connections.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from wasteland_common import db

log = logging.getLogger(__name__)

Operation = Literal["claim", "done", "post", "browse"]
Clock = Callable[[], float]
MIGRATIONS = Path(__file__).parent / "migrations"

metadata = sa.MetaData()
rate_limit_counters = sa.Table(
    "rate_limit_counters",
    metadata,
    sa.Column("user_id", sa.String(200), primary_key=True),
    sa.Column("operation", sa.String(16), primary_key=True),
    sa.Column("window_start", db.UTCDateTime(), primary_key=True),
    sa.Column("request_count", sa.Integer, nullable=False),
    sa.CheckConstraint(
        "operation IN ('claim', 'done', 'post', 'browse')", name="ck_rate_limit_operation"
    ),
)


@dataclass(frozen=True)
class Policy:
    """At most ``limit`` requests per ``window_seconds``; a replica leases ``lease``
    permits at a time from the shared counter (1: every request is counted there)."""

    limit: int
    window_seconds: int
    lease: int = 1

    def header(self) -> str:
        """The ``RateLimit-Policy`` value, e.g. ``10;w=60``."""
        return f"{self.limit};w={self.window_seconds}"


@dataclass(frozen=True)
class Decision:
    """The outcome of counting one request."""

    allowed: bool
    policy: Policy
    remaining: int
    # Whole seconds until the current window ends (at least 1).
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        """``RateLimit-Policy`` and ``RateLimit`` headers, plus ``Retry-After`` when refused."""
        headers = {
            "RateLimit-Policy": self.policy.header(),
            "RateLimit": (
                f"limit={self.policy.limit}, remaining={self.remaining}, reset={self.reset_seconds}"
            ),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers


def window_of(now: float, window_seconds: int) -> tuple[datetime, int]:
    """The start of the window holding ``now`` and the whole seconds left in it (≥ 1)."""
    start = math.floor(now / window_seconds) * window_seconds
    left = max(1, math.ceil(start + window_seconds - now))
    return datetime.fromtimestamp(start, UTC), left


def count_request(
    conn: sa.Connection,
    *,
    user_id: str,
    operation: str,
    window_start: datetime,
    amount: int = 1,
) -> int:
    """Count ``amount`` permits of ``user_id`` for ``operation`` in the window; the new
    count. Counters of earlier windows are dropped by :func:`purge_before`."""
    dialect = conn.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = rate_limit_counters
    stmt = (
        insert(table)
        .values(
            user_id=user_id, operation=operation, window_start=window_start, request_count=amount
        )
        .on_conflict_do_update(
            index_elements=[table.c.user_id, table.c.operation, table.c.window_start],
            set_={"request_count": table.c.request_count + amount},
        )
        .returning(table.c.request_count)
    )
    return int(conn.execute(stmt).scalar_one())


def purge_before(conn: sa.Connection, operation: str, window_start: datetime) -> None:
    """Drop every user's counters of ``operation`` from windows before ``window_start``
    (over, never read again), so the table stays bounded by the active users."""
    table = rate_limit_counters
    conn.execute(
        sa.delete(table).where(table.c.operation == operation, table.c.window_start < window_start)
    )


@dataclass(frozen=True)
class _Lease:
    """One lease waiting for the next counter transaction."""

    user_id: str
    operation: str
    window_start: datetime
    amount: int
    done: asyncio.Future[int]


def reserve_all(
    engine: Engine,
    leases: Sequence[tuple[str, str, datetime, int]],
    purges: Sequence[tuple[str, datetime]] = (),
) -> list[int]:
    """Count every ``(user, operation, window start, amount)`` in one transaction; the new
    count of each, in order. Each ``(operation, window start)`` of ``purges`` first drops
    the counters of earlier windows. The commit is not flushed synchronously (see the
    module)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))
        for operation, window_start in purges:
            purge_before(conn, operation, window_start)
        return [
            count_request(conn, user_id=u, operation=o, window_start=w, amount=a)
            for u, o, w, a in leases
        ]


class LeaseWriter:
    """Writes the leases asked for while a transaction is in flight in the next one.

    The first batch of each new window of an operation also drops the counters of the
    windows before it: one statement per window, not one per lease."""

    def __init__(self, engine: Engine, batch_max: int = 256) -> None:
        self._engine = engine
        self._batch_max = batch_max
        self._waiting: list[_Lease] = []
        self._flusher: asyncio.Task[None] | None = None
        # The newest window whose predecessors this writer dropped, per operation.
        self._purged: dict[str, datetime] = {}

    async def reserve(
        self, user_id: str, operation: str, window_start: datetime, amount: int
    ) -> int:
        """The shared count after adding ``amount``; raises what the database raised."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Lease(user_id, operation, window_start, amount, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        while self._waiting:
            batch = self._waiting[: self._batch_max]
            del self._waiting[: self._batch_max]
            rows = [(x.user_id, x.operation, x.window_start, x.amount) for x in batch]
            newest: dict[str, datetime] = {}
            for lease in batch:
                newest[lease.operation] = max(
                    lease.window_start, newest.get(lease.operation, lease.window_start)
                )
            purges = [
                (operation, window_start)
                for operation, window_start in newest.items()
                if operation not in self._purged or self._purged[operation] < window_start
            ]
            try:
                counts = await asyncio.to_thread(reserve_all, self._engine, rows, purges)
                self._purged.update(purges)
            except Exception as exc:  # every waiter decides what a failure means
                for lease in batch:
                    if not lease.done.done():
                        lease.done.set_exception(exc)
                continue
            for lease, count in zip(batch, counts, strict=True):
                if not lease.done.done():
                    lease.done.set_result(count)


@dataclass
class _Allowance:
    """Permits this replica leased for one (user, operation) window."""

    window_start: datetime
    left: int  # leased and not spent yet
    reserved: int  # the shared count right after the last lease (everyone's permits)


class RateLimiter:
    """Counts requests per user and operation in a shared database (see the module)."""

    def __init__(self, engine: Engine, policies: Mapping[str, Policy], clock: Clock) -> None:
        self._engine = engine
        self._policies = dict(policies)
        self._clock = clock
        self._allowances: dict[tuple[str, str], _Allowance] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._writer = LeaseWriter(engine)

    @classmethod
    def from_url(
        cls, url: str, policies: Mapping[str, Policy], clock: Clock, *, migrate: bool = True
    ) -> RateLimiter:
        """A limiter on the database at ``url``, its schema migrated first if asked."""
        engine = db.make_engine(url)
        if engine.dialect.name == "sqlite":

            @event.listens_for(engine, "connect")
            def _relaxed(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

        if migrate:
            db.migrate(engine, MIGRATIONS)
        return cls(engine, policies, clock)

    def policy(self, operation: str) -> Policy:
        """The policy of ``operation``."""
        return self._policies[operation]

    def _spend(self, allowance: _Allowance, policy: Policy, reset: int) -> Decision:
        allowance.left -= 1
        remaining = max(0, policy.limit - (allowance.reserved - allowance.left))
        return Decision(True, policy, remaining, reset)

    async def check(self, user_id: str, operation: str) -> Decision:
        """Count this request and say whether it is within the limit.

        Spends a locally leased permit when there is one, else leases a batch first.
        If the database cannot be reached the request is let through (and the failure
        logged): an outage of the counters must not take the whole API down.
        """
        policy = self._policies[operation]
        window_start, reset = window_of(self._clock(), policy.window_seconds)
        key = (user_id, operation)
        allowance = self._allowances.get(key)
        if allowance is not None and allowance.window_start == window_start and allowance.left:
            return self._spend(allowance, policy, reset)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            allowance = self._allowances.get(key)
            fresh = allowance is not None and allowance.window_start == window_start
            if fresh and allowance is not None and allowance.left:
                return self._spend(allowance, policy, reset)
            size = max(1, min(policy.lease, policy.limit))
            try:
                reserved = await self._writer.reserve(user_id, operation, window_start, size)
            except sa.exc.SQLAlchemyError:
                log.warning("rate-limit store unavailable; letting %s through", operation)
                return Decision(True, policy, policy.limit, reset)
            granted = max(0, min(size, policy.limit - (reserved - size)))
            self._forget_old(window_start)
            self._allowances[key] = _Allowance(window_start, granted, reserved)
            if granted == 0:
                return Decision(False, policy, 0, reset)
            return self._spend(self._allowances[key], policy, reset)

    def _forget_old(self, current: datetime) -> None:
        """Drop allowances of windows that are over (the map stays bounded)."""
        if len(self._allowances) < 10_000:
            return
        for key, allowance in list(self._allowances.items()):
            if allowance.window_start < current:
                del self._allowances[key]
                self._locks.pop(key, None)

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self._engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def close(self) -> None:
        """Release the connection pool."""
        self._engine.dispose()
