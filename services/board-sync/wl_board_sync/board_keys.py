"""The board key read on the event loop, without a worker thread.

A cached board read (``read_cache``) costs one primary-key select. Run in a worker thread
like every other query (``run_in_session``), the hand-off between the thread and the
gRPC event loop costs this server about 2 ms of CPU per call (measured: a handler that
only does ``await asyncio.to_thread(lambda: None)`` uses 3-4 ms of CPU per call against
1.1-1.4 ms without), several times the read itself. So the key has its own reader:

* PostgreSQL: one connection of psycopg's asyncio API (autocommit; a bound parameter),
  so the loop waits on the socket, never blocks;
* SQLite (the embedded single-process mode): a read-only connection of this process,
  read on the loop: a primary-key lookup in a local file, tens of microseconds, with no
  network and, in WAL mode, no wait behind a writer.

Each read sees every transaction committed before it started, like the session's would.
When the reader cannot answer (no connection, an error) it says so (None) and the caller
takes the usual path through a worker thread, which reads the key itself.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa

from .read_cache import BoardKey

log = logging.getLogger(__name__)

_PG_SQL = (
    "SELECT board_revision, synced_at, poll_interval_seconds"
    " FROM board_wastelands WHERE wasteland_id = %s"
)
_SQLITE_SQL = (
    "SELECT board_revision, synced_at, poll_interval_seconds"
    " FROM board_wastelands WHERE wasteland_id = ?"
)


class KeyReader(Protocol):
    async def read(self, wasteland_id: str) -> BoardKey | None:
        """The wasteland's board key; None when this reader cannot tell (the wasteland is
        not tracked, or the database did not answer): the caller reads it the usual way."""
        ...

    async def aclose(self) -> None: ...


class NoKeys:
    """A reader that never answers (every read takes the worker-thread path)."""

    async def read(self, wasteland_id: str) -> BoardKey | None:
        return None

    async def aclose(self) -> None:
        return None


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _board_key(row: Any) -> BoardKey | None:
    """The key of a ``(board_revision, synced_at, poll_interval_seconds)`` row (None: no
    row). SQLite hands ``synced_at`` back as SQLAlchemy's DATETIME text
    ("YYYY-MM-DD HH:MM:SS.ffffff", UTC); PostgreSQL as a datetime."""
    if row is None:
        return None
    revision, synced_at, interval = row
    if isinstance(synced_at, str):
        synced_at = datetime.fromisoformat(synced_at)
    return BoardKey(str(revision), _utc(synced_at), interval)


class SqliteKeys:
    """Reads the key through a read-only SQLite connection owned by the event loop."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            # Autocommit (isolation_level=None): each select sees the last commit.
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only=ON")
            conn.execute("PRAGMA busy_timeout=1000")
            self._conn = conn
        return self._conn

    async def read(self, wasteland_id: str) -> BoardKey | None:
        try:
            row = self._connection().execute(_SQLITE_SQL, (wasteland_id,)).fetchone()
        except sqlite3.Error as exc:
            log.warning("board key read failed, using the session: %s", exc)
            await self.aclose()
            return None
        return _board_key(row)

    async def aclose(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class PostgresKeys:
    """Reads the key through one psycopg asyncio connection (reconnected on demand)."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._conn: Any = None
        self._connecting = asyncio.Lock()

    async def _connection(self) -> Any:
        import psycopg

        async with self._connecting:
            if self._conn is None or self._conn.closed:
                self._conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            return self._conn

    async def read(self, wasteland_id: str) -> BoardKey | None:
        import psycopg

        try:
            conn = await self._connection()
            cursor = await conn.execute(_PG_SQL, (wasteland_id,))
            row = await cursor.fetchone()
        except psycopg.Error as exc:
            log.warning("board key read failed, using the session: %s", exc)
            await self.aclose()
            return None
        return _board_key(row)

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:
                log.debug("closing the board key connection failed", exc_info=True)


def conninfo_of(url: sa.engine.URL) -> str:
    """A libpq connection string for a SQLAlchemy PostgreSQL URL."""
    import psycopg

    params: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": url.database,
    }
    params.update({k: v for k, v in url.query.items() if isinstance(v, str)})
    return str(psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if v}))


def key_reader(database_url: str) -> KeyReader:
    """The reader for ``database_url`` (``NoKeys`` for an in-memory or other database)."""
    url = sa.engine.make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = url.database
        if not path or path == ":memory:":
            return NoKeys()
        return SqliteKeys(path)
    if backend == "postgresql" and url.get_driver_name() == "psycopg":
        return PostgresKeys(conninfo_of(url))
    return NoKeys()
