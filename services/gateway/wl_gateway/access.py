"""A short-lived cache of the registry's access decisions for board reads.

A board read (browse, counts, one item) first asks the registry ``GetWasteland`` as the
caller; the answer (visible or not, the caller's role and rig) changes only when the
wasteland, its members or their credentials change. The cache keeps successful answers
per (the caller's exact JWT, wasteland) — a token is never answered with another
token's decision, and claims that come from the token (org roles, admin) are part of the
key — and drops them when the registry says their wasteland changed:

- the gateway follows the registry's ``WatchAccessChanges`` stream (:func:`follow`);
  each change drops that wasteland's entries (or every entry); the registry looks for
  committed changes every ``ACCESS_CHANGE_POLL_SECONDS``, so a revocation (a removed
  member, a wasteland made private or deleted) stops being served within about that
  bound after it commits, on every replica;
- while the stream is not connected (before the first message, after an error) the
  cache is off and emptied: every read asks the registry;
- an answer fetched while an invalidation arrived is not stored (it may predate it);
- every entry also expires after ``ACCESS_CACHE_TTL_SECONDS`` (a backstop), and the
  cache holds at most ``ACCESS_CACHE_MAX_ENTRIES`` (oldest dropped first).

Only successful answers are kept; a refusal always asks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import grpc
from wasteland.v1 import registry_pb2

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class AccessCache:
    """Successful ``GetWasteland`` answers per (token, wasteland); see the module."""

    def __init__(self, *, ttl_seconds: float, max_entries: int, clock: Clock = time.monotonic):
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, Any]] = OrderedDict()
        self._live = False
        # Bumped by every invalidation: an answer fetched across one is not stored.
        self.epoch = 0
        # The last change id the registry reported (tests wait on it).
        self.cursor = -1
        self._changed = asyncio.Condition()

    @property
    def enabled(self) -> bool:
        """Whether answers may be served from the cache (a TTL and a live stream)."""
        return self._ttl > 0 and self._live

    def get(self, token: str, wasteland_id: str) -> Any | None:
        """The cached answer, or None."""
        if not self.enabled:
            return None
        key = (token, wasteland_id)
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if expires <= self._clock():
            del self._entries[key]
            return None
        return value

    def put(self, token: str, wasteland_id: str, value: Any, epoch: int) -> None:
        """Keep ``value`` unless an invalidation arrived since ``epoch`` was read."""
        if not self.enabled or epoch != self.epoch:
            return
        self._entries[(token, wasteland_id)] = (self._clock() + self._ttl, value)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def drop(self, wasteland_id: str | None) -> None:
        """Forget the answers about ``wasteland_id`` (None: every answer)."""
        self.epoch += 1
        if wasteland_id is None:
            self._entries.clear()
            return
        for key in [k for k in self._entries if k[1] == wasteland_id]:
            del self._entries[key]

    async def apply(self, change: Any) -> None:
        """Apply one message of the registry's stream (the first turns the cache on)."""
        self.drop(None if change.all else change.wasteland_id)
        self._live = True
        self.cursor = change.change_id
        async with self._changed:
            self._changed.notify_all()

    async def lost(self) -> None:
        """The stream broke: off and empty until it is back."""
        self._live = False
        self.drop(None)
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[AccessCache], bool]) -> None:
        """Wait until ``predicate(self)`` holds after a stream message (tests use it)."""
        async with self._changed:
            await self._changed.wait_for(lambda: predicate(self))


async def follow(
    cache: AccessCache,
    stub: Any,
    opts: Callable[[], dict[str, Any]],
    *,
    retry_seconds: float = 0.5,
    retry_max_seconds: float = 5.0,
) -> None:
    """Follow the registry's access changes into ``cache`` until cancelled; reconnect
    with backoff after an error (the cache is off meanwhile)."""
    delay = retry_seconds
    while True:
        call = stub.WatchAccessChanges(registry_pb2.WatchAccessChangesRequest(), **opts())
        try:
            async for change in call:
                await cache.apply(change)
                delay = retry_seconds
            await cache.lost()
        except grpc.aio.AioRpcError as exc:
            await cache.lost()
            log.warning("access-change stream broke (%s); board reads ask the registry", exc.code())
        except asyncio.CancelledError:
            call.cancel()
            raise
        await asyncio.sleep(delay)
        delay = min(retry_max_seconds, delay * 2)


class AccessFollower:
    """Starts :func:`follow` once, on the first use inside the running loop."""

    def __init__(self, cache: AccessCache, stub: Any, opts: Callable[[], dict[str, Any]]):
        self.cache = cache
        self._stub = stub
        self._opts = opts
        self._task: asyncio.Task[None] | None = None

    def ensure_started(self) -> None:
        """Start following (no-op when already started or the cache is disabled)."""
        if self._task is None and self.cache._ttl > 0:
            self._task = asyncio.create_task(follow(self.cache, self._stub, self._opts))

    async def stop(self) -> None:
        """Stop following."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
