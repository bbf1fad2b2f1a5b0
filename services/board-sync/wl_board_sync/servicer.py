"""BoardService handlers: identify the caller, validate, call one domain function, build
the response. Errors are raised as domain errors; the shared interceptor maps them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import grpc
from sqlalchemy.orm import Session, sessionmaker
from wasteland.v1 import board_pb2, board_pb2_grpc
from wasteland_common import enums
from wasteland_common.auth import Authenticator
from wasteland_common.db import run_in_session
from wasteland_common.errors import invalid

from . import board, inbox, messages, pending, tracking
from .board import Freshness
from .board_keys import KeyReader
from .feed import EventFeed
from .inbox import Inbox
from .read_cache import ReadCache
from .schedule import Scheduler

# The gateway checked the user's access before calling; these services may read.
READERS = ("gateway", "executor", "registry")
# The registry decides which wastelands exist.
TRACKERS = ("registry",)
# After a mutation (executor), or on demand.
REFRESHERS = ("executor", "gateway", "registry")

_SORTS = {
    board_pb2.BROWSE_SORT_UNSPECIFIED: "priority",
    board_pb2.BROWSE_SORT_PRIORITY: "priority",
    board_pb2.BROWSE_SORT_CREATED: "created",
    board_pb2.BROWSE_SORT_UPDATED: "updated",
}


@dataclass(frozen=True)
class BoardDeps:
    """What the handlers need."""

    sessions: sessionmaker[Session]
    auth: Authenticator
    scheduler: Scheduler
    feed: EventFeed
    clock: Callable[[], datetime]
    freshness: Freshness
    inbox: Inbox
    reads: ReadCache
    keys: KeyReader


class BoardServicer(board_pb2_grpc.BoardServiceServicer):  # type: ignore[misc]
    def __init__(self, deps: BoardDeps) -> None:
        self._deps = deps

    def _caller(self, context: grpc.aio.ServicerContext, allowed: tuple[str, ...]) -> str:
        identity = self._deps.auth.identify(context.invocation_metadata())
        return identity.require_service(*allowed)

    async def TrackWasteland(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._caller(context, TRACKERS)
        wasteland_id = tracking.parse_wasteland_id(request.wasteland_id)
        upstream = tracking.parse_upstream(request.upstream)
        interval = tracking.parse_poll_interval(request.poll_interval_seconds)
        await run_in_session(
            self._deps.sessions,
            tracking.track,
            wasteland_id,
            upstream,
            interval,
            self._deps.clock(),
        )
        self._deps.scheduler.wake()
        return board_pb2.TrackWastelandResponse()

    async def UntrackWasteland(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._caller(context, TRACKERS)
        wasteland_id = tracking.parse_wasteland_id(request.wasteland_id)
        await run_in_session(self._deps.sessions, tracking.untrack, wasteland_id)
        return board_pb2.UntrackWastelandResponse()

    async def RefreshWasteland(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._caller(context, REFRESHERS)
        wasteland_id = tracking.parse_wasteland_id(request.wasteland_id)
        change = (
            pending.parse_verified_change(request.change) if request.HasField("change") else None
        )
        result = await self._deps.scheduler.refresh(wasteland_id, change)
        response = board_pb2.RefreshWastelandResponse(
            head_commit=result.head_commit, changed=result.changed
        )
        response.synced_at.CopyFrom(messages.timestamp(result.synced_at))
        return response

    async def Browse(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._caller(context, READERS)
        sort = _SORTS.get(request.sort)
        if sort is None:
            raise invalid("sort", "is not a known sort order")
        query = board.browse_query(
            tracking.parse_wasteland_id(request.wasteland_id),
            status=request.status,
            type=request.type,
            priority=request.priority if request.HasField("priority") else None,
            project=request.project,
            tag=request.tag,
            q=request.q,
            rig_handle=request.rig_handle,
            sort=sort,
            page_size=request.page_size,
            page_token=request.page_token,
            viewer=request.viewer_rig_handle,
        )
        now = self._deps.clock()
        # Served on the loop when this replica built the page under the board key the
        # database has now; else built (or found) in a worker thread.
        key = await self._deps.keys.read(query.wasteland_id)
        view = None
        if key is not None:
            view = self._deps.reads.lookup_browse(
                query, key, now=now, freshness=self._deps.freshness
            )
        if view is None:
            view = await run_in_session(
                self._deps.sessions,
                self._deps.reads.browse,
                query,
                now=now,
                freshness=self._deps.freshness,
                key=key,
            )
        response = board_pb2.BrowseResponse()
        response.CopyFrom(view.items)
        response.next_page_token = view.next_page_token
        response.stale = view.stale
        if view.synced_at is not None:
            response.synced_at.CopyFrom(messages.timestamp(view.synced_at))
        return response

    async def GetWantedItem(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._caller(context, READERS)
        wasteland_id = tracking.parse_wasteland_id(request.wasteland_id)
        wanted_id = board.parse_wanted_id(request.wanted_id)
        viewer = board.viewer_of(request.viewer_rig_handle)
        found = await run_in_session(
            self._deps.sessions, self._deps.reads.get_item, wasteland_id, wanted_id, viewer
        )
        response = board_pb2.GetWantedItemResponse()
        response.CopyFrom(found)
        return response

    async def CountWanted(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._caller(context, READERS)
        wasteland_id = tracking.parse_wasteland_id(request.wasteland_id)
        viewer = board.viewer_of(request.viewer_rig_handle)
        counts = await run_in_session(
            self._deps.sessions, self._deps.reads.count_wanted, wasteland_id, viewer
        )
        return board_pb2.CountWantedResponse(by_status=counts)

    async def ListCompletions(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._caller(context, READERS)
        wasteland_id = tracking.parse_wasteland_id(request.wasteland_id)
        page = await run_in_session(
            self._deps.sessions,
            board.list_completions,
            wasteland_id,
            status=request.status,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return board_pb2.ListCompletionsResponse(
            completions=[messages.completion(c) for c in page.completions],
            next_page_token=page.next_page_token,
        )

    async def ListRigs(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._caller(context, READERS)
        wasteland_id = tracking.parse_wasteland_id(request.wasteland_id)
        page = await run_in_session(
            self._deps.sessions,
            board.list_rigs,
            wasteland_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return board_pb2.ListRigsResponse(
            rigs=[messages.rig(r) for r in page.rigs], next_page_token=page.next_page_token
        )

    async def ListPulls(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._caller(context, READERS)
        wasteland_id = tracking.parse_wasteland_id(request.wasteland_id)
        word = enums.word(board_pb2.PullState, request.state) if request.state else "open"
        if word is None:
            raise invalid("state", "must be open, closed or merged")
        state = inbox.parse_state(word)
        page = await self._deps.inbox.list_pulls(
            wasteland_id, state, inbox.parse_page_size(request.page_size), request.page_token
        )
        return board_pb2.ListPullsResponse(
            pulls=[messages.pull(p) for p in page.pulls], next_page_token=page.next_page_token
        )

    async def GetPull(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._caller(context, READERS)
        wasteland_id = tracking.parse_wasteland_id(request.wasteland_id)
        pull_id = inbox.parse_pull_id(request.pull_id)
        view = await self._deps.inbox.get_pull(wasteland_id, pull_id)
        return board_pb2.GetPullResponse(pull=messages.pull(view))

    async def WatchBoard(
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        self._caller(context, READERS)
        wasteland_id = tracking.parse_wasteland_id(request.wasteland_id)
        await run_in_session(self._deps.sessions, tracking.require_wasteland, wasteland_id)
        async with self._deps.feed.subscribe(wasteland_id, categories={"board"}) as subscription:
            # Headers go out once the subscription exists: a client that has them sees
            # every later change.
            await context.send_initial_metadata(())
            while True:
                change = await subscription.next()
                if change is None:
                    return
                yield messages.logged_board_event(change)
