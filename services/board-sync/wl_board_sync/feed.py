"""What every stream of this replica reads: one tail of the durable event log.

A replica keeps one :class:`EventFeed`. Each ``WatchEvents``/``WatchBoard`` stream is a
:class:`Subscription` to one wasteland with its own position in the log. The feed reads
the log after the lowest position of its subscribers (one query for all of them, and
only while somebody watches) and hands each subscriber the events after its own
position. Because the log is durable and ordered (``events.py``), every replica delivers
every event whichever replica wrote it, and a stream can resume after a cursor.

The feed reads when woken (this replica's own writes call :meth:`EventFeed.wake`; on
PostgreSQL a :class:`LogListener` wakes it on every NOTIFY of the log's channel) and at
the latest every ``poll_seconds``: the only signal on SQLite, and the fallback whenever
the listening connection is down.

A subscriber that falls ``max_queue`` events behind is ended instead of silently losing
events: its client reconnects after the last event it received and reads the rest from
the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Collection
from typing import Final

import psycopg
import psycopg.sql
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common.db import run_in_session

from . import events
from .events import Category, LoggedEvent

log = logging.getLogger(__name__)

ALL: Final[frozenset[Category]] = frozenset({"board", "activity"})


class Subscription:
    """The events of one wasteland for one stream, oldest first."""

    def __init__(
        self, wasteland_id: str, position: int, max_queue: int, categories: frozenset[Category]
    ) -> None:
        self.wasteland_id = wasteland_id
        # The newest seq this subscriber has been handed (or was not interested in).
        self.position = position
        self.overflowed = False
        self._categories = categories
        self._max_queue = max_queue
        self._queue: asyncio.Queue[LoggedEvent | None] = asyncio.Queue()
        self._ended = False

    def _offer(self, event: LoggedEvent) -> None:
        if self._ended or event.seq <= self.position:
            return
        self.position = event.seq
        if event.category not in self._categories:
            return
        if self._queue.qsize() >= self._max_queue:
            self.overflowed = True
            self._end()
            return
        self._queue.put_nowait(event)

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(None)

    async def next(self) -> LoggedEvent | None:
        """The next event; None once the stream is over (shutdown, or it fell behind)."""
        return await self._queue.get()


class EventFeed:
    """The subscribers of this replica and the loop that feeds them from the log."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        poll_seconds: float = 2.0,
        batch: int = 500,
        max_queue: int = 1000,
    ) -> None:
        self._sessions = sessions
        self._poll_seconds = poll_seconds
        self._batch = batch
        self._max_queue = max_queue
        self._subscribers: dict[str, set[Subscription]] = {}
        self._wakeup = asyncio.Event()
        self._reading = asyncio.Lock()
        self._closed = False

    @contextlib.asynccontextmanager
    async def subscribe(
        self,
        wasteland_id: str,
        *,
        after: int | None = None,
        categories: Collection[Category] = ALL,
    ) -> AsyncIterator[Subscription]:
        """Receive the events of ``wasteland_id`` committed after ``after`` (None: after
        the newest one committed now) until the block exits."""
        latest = await run_in_session(self._sessions, events.latest_seq)
        position = latest if after is None else min(after, latest)
        sub = Subscription(wasteland_id, position, self._max_queue, frozenset(categories))
        if self._closed:
            sub._end()
        self._subscribers.setdefault(wasteland_id, set()).add(sub)
        if position < latest:
            self.wake()  # a resumed stream has events to read now
        try:
            yield sub
        finally:
            subs = self._subscribers.get(wasteland_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[wasteland_id]
            if sub.overflowed:
                log.info("a stream of %s fell %d events behind and was ended", wasteland_id,
                         self._max_queue)  # fmt: skip

    def subscriber_count(self, wasteland_id: str) -> int:
        """How many streams watch ``wasteland_id`` on this replica now."""
        return len(self._subscribers.get(wasteland_id, ()))

    def wake(self) -> None:
        """Read the log now (something was committed)."""
        self._wakeup.set()

    async def poll_once(self) -> int:
        """Read the log once for every subscriber; returns the rows read."""
        async with self._reading:
            snapshot = {w: list(subs) for w, subs in self._subscribers.items() if subs}
            if not snapshot:
                return 0
            after = min(s.position for subs in snapshot.values() for s in subs)
            rows = await run_in_session(
                self._sessions, events.read_after, after, list(snapshot), self._batch
            )
            for row in rows:
                for sub in snapshot.get(row.wasteland_id, ()):
                    sub._offer(row)
            if rows:
                # The read covered every watched wasteland up to its last row.
                last = rows[-1].seq
                for subs in snapshot.values():
                    for sub in subs:
                        sub.position = max(sub.position, last)
            return len(rows)

    async def run(self) -> None:
        """Feed the subscribers until :meth:`close` (or cancellation); a failed read is
        logged once per run of failures and tried again at the next signal."""
        failing = False
        while not self._closed:
            self._wakeup.clear()
            try:
                while await self.poll_once() >= self._batch:
                    pass
                if failing:
                    log.info("reading the event log works again")
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:
                    log.warning("reading the event log failed: %s", exc)
                failing = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll_seconds)

    def close(self) -> None:
        """End every stream (at shutdown); later subscriptions end at once."""
        self._closed = True
        for subs in self._subscribers.values():
            for sub in subs:
                sub._end()
        self._wakeup.set()


def libpq_url(database_url: str) -> str:
    """The libpq form of a ``postgresql+psycopg://`` SQLAlchemy URL."""
    url = sa.engine.make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class LogListener:
    """LISTENs on the log's channel (PostgreSQL) and calls ``on_event`` on every
    notification, and once after each (re)connect for what it may have missed."""

    def __init__(
        self, database_url: str, on_event: Callable[[], None], *, retry_seconds: float = 5.0
    ) -> None:
        self._conninfo = libpq_url(database_url)
        self._on_event = on_event
        self._retry_seconds = retry_seconds
        self.listening = asyncio.Event()

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after a growing pause when the
        connection fails (the feed keeps polling meanwhile)."""
        failures = 0
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                async with conn:
                    await conn.execute(
                        psycopg.sql.SQL("LISTEN {}").format(
                            psycopg.sql.Identifier(events.NOTIFY_CHANNEL)
                        )
                    )
                    self.listening.set()
                    if failures:
                        log.info("listening for event log notifications again")
                    failures = 0
                    self._on_event()
                    async for _ in conn.notifies():
                        self._on_event()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.listening.clear()
                failures += 1
                if failures == 1:
                    log.warning("not listening for event log notifications (polling): %s", exc)
                await asyncio.sleep(min(self._retry_seconds * failures, 60.0))
