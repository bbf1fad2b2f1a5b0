"""In-process fan-out of board change events to WatchBoard streams.

A sync publishes one :class:`BoardChange` per wanted item whose shown status changed (or
that appeared); every subscriber of that wasteland gets it. A subscriber that falls more
than ``max_queue`` events behind loses the oldest ones (it is told how many by the log),
so one slow stream never holds memory or the sync back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BoardChange:
    """A wanted item now shows ``status`` on the board of ``wasteland_id``."""

    wasteland_id: str
    wanted_id: str
    status: str
    observed_at: datetime


class Subscription:
    """The events of one wasteland for one subscriber, oldest first."""

    def __init__(self, wasteland_id: str, max_queue: int) -> None:
        self.wasteland_id = wasteland_id
        self._queue: asyncio.Queue[BoardChange | None] = asyncio.Queue(maxsize=max_queue)
        self.dropped = 0

    def _offer(self, change: BoardChange | None) -> None:
        while True:
            try:
                self._queue.put_nowait(change)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()
                self.dropped += 1

    async def next(self) -> BoardChange | None:
        """The next event; None once the hub has closed."""
        return await self._queue.get()


class EventHub:
    """Subscribers per wasteland; publish and subscribe run on the event loop."""

    def __init__(self, max_queue: int = 1000) -> None:
        self._max_queue = max_queue
        self._subscribers: dict[str, set[Subscription]] = {}
        self._closed = False

    @contextmanager
    def subscribe(self, wasteland_id: str) -> Iterator[Subscription]:
        """Receive the events of ``wasteland_id`` until the block exits."""
        sub = Subscription(wasteland_id, self._max_queue)
        if self._closed:
            sub._offer(None)
        self._subscribers.setdefault(wasteland_id, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._subscribers.get(wasteland_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[wasteland_id]
            if sub.dropped:
                log.warning("a board watcher of %s missed %d events", wasteland_id, sub.dropped)

    def publish(self, changes: Iterable[BoardChange]) -> int:
        """Deliver ``changes`` to current subscribers; returns the deliveries made."""
        delivered = 0
        for change in changes:
            for sub in self._subscribers.get(change.wasteland_id, ()):
                sub._offer(change)
                delivered += 1
        return delivered

    def subscriber_count(self, wasteland_id: str) -> int:
        """How many streams watch ``wasteland_id`` now."""
        return len(self._subscribers.get(wasteland_id, ()))

    def close(self) -> None:
        """End every stream (at shutdown); later subscriptions end at once."""
        self._closed = True
        for subs in self._subscribers.values():
            for sub in subs:
                sub._offer(None)
