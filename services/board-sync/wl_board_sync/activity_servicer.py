"""ActivityService handlers: identify the caller, validate, call one domain function,
build the response. board-sync serves them next to BoardService (same process, same
database: the activity log shares the durable event log with the board changes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC
from typing import Any

import grpc
from wasteland.v1 import activity_pb2, activity_pb2_grpc
from wasteland_common.activity import kind_word
from wasteland_common.db import run_in_session
from wasteland_common.errors import invalid

from . import activity, events, messages, tracking
from .servicer import READERS, BoardDeps

# The producers of activities (board-sync itself writes its own straight to the log).
RECORDERS = ("registry", "executor", "board-sync")


class ActivityServicer(activity_pb2_grpc.ActivityServiceServicer):  # type: ignore[misc]
    def __init__(self, deps: BoardDeps) -> None:
        self._deps = deps

    def _caller(self, context: grpc.aio.ServicerContext, allowed: tuple[str, ...]) -> str:
        identity = self._deps.auth.identify(context.invocation_metadata())
        return identity.require_service(*allowed)

    async def RecordActivity(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._caller(context, RECORDERS)
        given = request.activity
        new = activity.parse_activity(
            event_id=given.event_id,
            wasteland_id=tracking.parse_wasteland_id(given.wasteland_id, "activity.wasteland_id"),
            kind=kind_word(given.kind),
            actor=given.actor,
            wanted_id=given.wanted_id,
            pull_id=given.pull_id,
            detail=given.detail,
            request_id=given.request_id,
            at=given.at.ToDatetime(tzinfo=UTC) if given.HasField("at") else None,
        )
        stored, recorded = await run_in_session(self._deps.sessions, events.record_activity, new)
        if recorded:
            self._deps.feed.wake()
        return activity_pb2.RecordActivityResponse(
            activity=messages.activity(stored), recorded=recorded
        )

    async def ListActivity(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._caller(context, READERS)
        wasteland_id = tracking.parse_wasteland_id(request.wasteland_id)
        kind = None
        if request.kind != activity_pb2.ACTIVITY_KIND_UNSPECIFIED:
            kind = kind_word(request.kind)
            if kind is None:
                raise invalid("kind", "is not an activity kind")
        page = await run_in_session(
            self._deps.sessions,
            activity.list_activity,
            wasteland_id,
            kind=kind,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return activity_pb2.ListActivityResponse(
            events=[messages.activity(e) for e in page.events],
            next_page_token=page.next_page_token,
        )

    async def WatchEvents(
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        self._caller(context, READERS)
        wasteland_id = tracking.parse_wasteland_id(request.wasteland_id)
        after = events.parse_cursor(request.after)
        async with self._deps.feed.subscribe(wasteland_id, after=after) as subscription:
            # Headers go out once the subscription exists: a caller that has them sees
            # every event committed later (and, resuming, every one after ``after``).
            await context.send_initial_metadata(())
            while True:
                event = await subscription.next()
                if event is None:
                    return
                yield messages.wasteland_event(event)
