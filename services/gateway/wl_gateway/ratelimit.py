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
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
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
    count.

    Also drops that user's counters of earlier windows, so the table stays bounded by
    the number of active users.
    """
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
    count = int(conn.execute(stmt).scalar_one())
    conn.execute(
        sa.delete(table).where(
            table.c.user_id == user_id,
            table.c.operation == operation,
            table.c.window_start < window_start,
        )
    )
    return count


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

    @classmethod
    def from_url(
        cls, url: str, policies: Mapping[str, Policy], clock: Clock, *, migrate: bool = True
    ) -> RateLimiter:
        """A limiter on the database at ``url``, its schema migrated first if asked."""
        engine = db.make_engine(url)
        if migrate:
            db.migrate(engine, MIGRATIONS)
        return cls(engine, policies, clock)

    def policy(self, operation: str) -> Policy:
        """The policy of ``operation``."""
        return self._policies[operation]

    def _reserve(self, user_id: str, operation: str, window_start: datetime, amount: int) -> int:
        with self._engine.begin() as conn:
            return count_request(
                conn,
                user_id=user_id,
                operation=operation,
                window_start=window_start,
                amount=amount,
            )

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
                reserved = await asyncio.to_thread(
                    self._reserve, user_id, operation, window_start, size
                )
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
