"""Per-user, per-operation rate limits that hold across gateway replicas.

Fixed windows: the counter of (user, operation, window start) lives in the gateway's
database and is bumped with one atomic upsert (``INSERT … ON CONFLICT DO UPDATE …
RETURNING``, on SQLite and PostgreSQL alike), so every replica sees the same count.
A window starts at a multiple of its length in epoch seconds, so replicas agree on it
without coordination. Time comes from an injected clock.
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
    """At most ``limit`` requests per ``window_seconds``."""

    limit: int
    window_seconds: int

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
    conn: sa.Connection, *, user_id: str, operation: str, window_start: datetime
) -> int:
    """Count one request of ``user_id`` for ``operation`` in the window; the new count.

    Also drops that user's counters of earlier windows, so the table stays bounded by
    the number of active users.
    """
    dialect = conn.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = rate_limit_counters
    stmt = (
        insert(table)
        .values(user_id=user_id, operation=operation, window_start=window_start, request_count=1)
        .on_conflict_do_update(
            index_elements=[table.c.user_id, table.c.operation, table.c.window_start],
            set_={"request_count": table.c.request_count + 1},
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


class RateLimiter:
    """Counts requests per user and operation in a shared database."""

    def __init__(self, engine: Engine, policies: Mapping[str, Policy], clock: Clock) -> None:
        self._engine = engine
        self._policies = dict(policies)
        self._clock = clock

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

    def _count(self, user_id: str, operation: str) -> Decision:
        policy = self._policies[operation]
        window_start, left = window_of(self._clock(), policy.window_seconds)
        with self._engine.begin() as conn:
            count = count_request(
                conn, user_id=user_id, operation=operation, window_start=window_start
            )
        return Decision(
            allowed=count <= policy.limit,
            policy=policy,
            remaining=max(0, policy.limit - count),
            reset_seconds=left,
        )

    async def check(self, user_id: str, operation: str) -> Decision:
        """Count this request and say whether it is within the limit.

        If the database cannot be reached the request is let through (and the failure
        logged): an outage of the counters must not take the whole API down.
        """
        try:
            return await asyncio.to_thread(self._count, user_id, operation)
        except sa.exc.SQLAlchemyError:
            log.warning("rate-limit store unavailable; letting %s through", operation)
            policy = self._policies[operation]
            _, left = window_of(self._clock(), policy.window_seconds)
            return Decision(True, policy, policy.limit, left)

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self._engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def close(self) -> None:
        """Release the connection pool."""
        self._engine.dispose()
