"""Fixtures for executor tests: a migrated database on both backends and a fake clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import db
from wl_executor import store

T = TypeVar("T")


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """A migrated executor database (SQLite and PostgreSQL)."""
    engine = db.make_engine(db_url)
    store.migrate_schema(engine)
    yield db.session_factory(engine)
    engine.dispose()


@pytest.fixture
def tx(sessions: sessionmaker[Session]) -> Callable[..., Any]:
    """Run ``fn(session, *args, **kwargs)`` in its own committed transaction."""

    def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with sessions.begin() as session:
            return fn(session, *args, **kwargs)

    return run
