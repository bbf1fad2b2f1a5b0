"""Registry test fixtures: a migrated database on both backends, a fake clock and ids,
and an in-memory stand-in for the few DoltHub calls domain code makes."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import db, dolthub
from wasteland_common.auth import OrgRole, Principal
from wl_registry import crypto
from wl_registry.server import MIGRATIONS


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on a freshly migrated database (SQLite and PostgreSQL)."""
    engine = db.make_engine(db_url)
    db.migrate(engine, MIGRATIONS)
    yield db.session_factory(engine)
    engine.dispose()


@dataclass
class Clock:
    """A settable clock, advanced by tests."""

    now: datetime = field(default_factory=lambda: datetime(2025, 1, 1, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def new_id() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"id{next(counter):06d}"


@pytest.fixture
def keyring() -> crypto.Keyring:
    return crypto.Keyring({"k1": b"\x01" * 32}, "k1")


def user(user_id: str, *orgs: tuple[str, OrgRole], admin: bool = False) -> Principal:
    """A principal as the JWT would give it."""
    return Principal(user_id=user_id, is_admin=admin, org_roles=dict(orgs))


@dataclass
class FakeDoltHub:
    """Databases by ``owner/db`` with their ``_meta.schema_version`` (None: no _meta)."""

    databases: dict[str, str | None] = field(default_factory=dict)
    fail_fork: Exception | None = None
    forks: list[tuple[str, str, str]] = field(default_factory=list)

    async def database_exists(self, owner: str, db: str) -> bool:
        return f"{owner}/{db}" in self.databases

    async def read(
        self, owner: str, db: str, sql: str, *, ref: str = "main"
    ) -> dolthub.QueryResult:
        key = f"{owner}/{db}"
        if key not in self.databases:
            raise dolthub.NotFound(f"no such repository {key}")
        version = self.databases[key]
        if version is None:
            raise dolthub.QueryError("table not found: _meta")
        return dolthub.QueryResult(columns=["value"], rows=[{"value": version}], truncated=False)

    async def fork(self, parent_owner: str, parent_db: str, new_owner: str) -> None:
        self.forks.append((parent_owner, parent_db, new_owner))
        if self.fail_fork is not None:
            raise self.fail_fork
        self.databases[f"{new_owner}/{parent_db}"] = self.databases[f"{parent_owner}/{parent_db}"]


@dataclass
class RecordingBoard:
    """A board-sync stand-in that remembers what it was asked to track."""

    tracked: dict[str, str] = field(default_factory=dict)

    async def track(self, wasteland_id: str, upstream: str) -> None:
        self.tracked[wasteland_id] = upstream

    async def untrack(self, wasteland_id: str) -> None:
        self.tracked.pop(wasteland_id, None)


@dataclass
class RecordingWorkloads:
    """An executor stand-in that remembers which workloads it was asked to stop."""

    stopped: list[str] = field(default_factory=list)

    async def stop(self, wasteland_id: str) -> bool:
        self.stopped.append(wasteland_id)
        return True


@pytest.fixture
def workloads() -> RecordingWorkloads:
    return RecordingWorkloads()


def make_wasteland(
    sessions: sessionmaker[Session],
    owner: Principal,
    *,
    wasteland_id: str,
    visibility: str = "public",
    org: str | None = None,
    status: str = "active",
    now: datetime,
) -> str:
    """Insert a wasteland (joined to hop/wl-commons) owned by ``owner`` or ``org``."""
    from wl_registry import wastelands
    from wl_registry.validation import UpstreamRef

    spec = wastelands.NewWasteland(
        name=wasteland_id,
        owner_type="org" if org else "user",
        owner_org_id=org,
        visibility=visibility,  # type: ignore[arg-type]
        upstream=UpstreamRef("hop", "wl-commons"),
        dolthub_org=None,
    )
    ids = iter([wasteland_id, f"owner-{wasteland_id}"])
    with sessions.begin() as session:
        wastelands.insert(
            session, owner, spec, upstream="hop/wl-commons", status=status,  # type: ignore[arg-type]
            now=now, new_id=lambda: next(ids),
        )  # fmt: skip
    return wasteland_id
