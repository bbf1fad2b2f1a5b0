"""The activity log's vocabulary, and the client producers record activities through.

Each wasteland has one durable activity log, kept by board-sync (``ActivityService``).
The registry and the executor record what they did after their own change is
committed, through :class:`GrpcActivity`:

- recording never fails the request that caused it: one attempt inline with a short
  deadline, then (when board-sync did not answer) a few retries in the background, and a
  warning line naming the event when it finally gives up. While earlier records still
  wait for a retry, later ones go to the background at once, so during an outage no
  request waits for board-sync more than once;
- every record carries an ``event_id`` chosen before the first attempt, and board-sync
  records an id once, so a retry whose first attempt did land records nothing twice
  (producers with a natural key, an operation id, derive the id from it);
- the request id of the current request (``logs.request_id_var``, forwarded in gRPC
  metadata from the gateway's ``X-Request-Id``) and the acting user (:data:`actor_var`,
  or an explicit actor) are stamped here, and the detail is redacted, so no producer can
  forget either or leak a secret into the log.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, get_args

import grpc
from google.protobuf import timestamp_pb2
from wasteland.v1 import activity_pb2, activity_pb2_grpc

from . import enums, logs
from .db import utcnow
from .grpc_client import Channels, ServiceCredentials

log = logging.getLogger(__name__)

ActivityKindName = Literal[
    "created",
    "provisioned",
    "member_added",
    "member_removed",
    "credential_connected",
    "credential_removed",
    "rig_registered",
    "posted",
    "claimed",
    "unclaimed",
    "done",
    "accepted",
    "rejected",
    "closed",
    "merged",
    "pull_closed",
    "fork_synced",
    "woke",
    "slept",
    "sync_failed",
]
# The API's words, in the proto's order (a test keeps this list and the proto equal).
KINDS: tuple[ActivityKindName, ...] = get_args(ActivityKindName)
DETAIL_MAX = 500
EVENT_ID_MAX = 128
ACTOR_MAX = 200
SERVICE_ACTOR_PREFIX = "service:"
EVENT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

# The user the current request acts for. Set where a service learns it (the executor's
# Execute and WakeRuntime); tasks started afterwards inherit it, so a wake caused by a
# user's action is that user's.
actor_var: contextvars.ContextVar[str] = contextvars.ContextVar("activity_actor", default="")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def service_actor(service: str) -> str:
    """The actor of what ``service`` did on its own (an idle sleep, a failed sync)."""
    return SERVICE_ACTOR_PREFIX + service


def new_event_id() -> str:
    """A fresh, unguessable event id."""
    return "ev_" + uuid.uuid4().hex


def kind_number(kind: str) -> activity_pb2.ActivityKind | None:
    """The proto value of the word ``kind``; None when it is not one."""
    return enums.number(activity_pb2.ActivityKind, kind)


def kind_word(number: int) -> ActivityKindName | None:
    """The word of a proto ActivityKind; None for UNSPECIFIED or an unknown number."""
    word = enums.word(activity_pb2.ActivityKind, number)
    for kind in KINDS:
        if kind == word:
            return kind
    return None


def clean_detail(text: str) -> str:
    """``text`` as a log detail: secrets redacted, one line, at most DETAIL_MAX
    characters."""
    one_line = _CONTROL.sub(" ", logs.redact(text)).strip()
    if len(one_line) <= DETAIL_MAX:
        return one_line
    return one_line[: DETAIL_MAX - 1] + "…"


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    """``value`` as a protobuf Timestamp."""
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


class ActivityRecorder(Protocol):
    """Where a producer records what happened in a wasteland."""

    async def record(
        self,
        wasteland_id: str,
        kind: ActivityKindName,
        *,
        detail: str,
        actor: str | None = None,
        wanted_id: str = "",
        pull_id: str = "",
        event_id: str | None = None,
    ) -> None:
        """Record one activity; never raises (a failure is retried, then logged).

        ``actor`` defaults to :data:`actor_var`, else the producing service;
        ``event_id`` defaults to a fresh id (give a stable one when the producer has a
        natural key, so repeating the record cannot duplicate it).
        """


class NoActivity:
    """Records nothing (tests, tools)."""

    async def record(
        self,
        wasteland_id: str,
        kind: ActivityKindName,
        *,
        detail: str,
        actor: str | None = None,
        wanted_id: str = "",
        pull_id: str = "",
        event_id: str | None = None,
    ) -> None:
        return None


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a record is tried: the inline attempt's deadline, then the waits before
    each background retry (with up to 20% jitter)."""

    attempt_timeout: float = 2.0
    delays: tuple[float, ...] = (0.5, 2.0, 5.0, 15.0, 30.0)


# Codes after which the same record may succeed later; anything else is a bug to log.
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.CANCELLED,
    }
)


class GrpcActivity:
    """Records through board-sync's ``ActivityService.RecordActivity`` as ``service``."""

    def __init__(
        self,
        channels: Channels,
        address: str,
        credentials: ServiceCredentials,
        *,
        service: str,
        policy: RetryPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._channels = channels
        self._address = address
        self._credentials = credentials
        self._service = service
        self._policy = policy or RetryPolicy()
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._retries: set[asyncio.Task[None]] = set()

    @property
    def retrying(self) -> int:
        """How many records are waiting for a background retry."""
        return len(self._retries)

    def build(
        self,
        wasteland_id: str,
        kind: ActivityKindName,
        *,
        detail: str,
        actor: str | None = None,
        wanted_id: str = "",
        pull_id: str = "",
        event_id: str | None = None,
    ) -> activity_pb2.Activity:
        """The record as sent: ids, actor, request id and time stamped, detail cleaned."""
        number = kind_number(kind)
        if number is None:
            raise ValueError(f"{kind!r} is not an activity kind")
        who = actor or actor_var.get() or service_actor(self._service)
        return activity_pb2.Activity(
            event_id=event_id or new_event_id(),
            wasteland_id=wasteland_id,
            kind=number,
            actor=who[:ACTOR_MAX],
            wanted_id=wanted_id,
            pull_id=pull_id,
            detail=clean_detail(detail),
            request_id=logs.request_id_var.get(),
            at=timestamp(self._clock()),
        )

    async def record(
        self,
        wasteland_id: str,
        kind: ActivityKindName,
        *,
        detail: str,
        actor: str | None = None,
        wanted_id: str = "",
        pull_id: str = "",
        event_id: str | None = None,
    ) -> None:
        try:
            activity = self.build(
                wasteland_id,
                kind,
                detail=detail,
                actor=actor,
                wanted_id=wanted_id,
                pull_id=pull_id,
                event_id=event_id,
            )
        except ValueError:
            log.exception("not recording an invalid %s activity of %s", kind, wasteland_id)
            return
        if not self._retries and await self._attempt(activity):
            return
        task = asyncio.create_task(self._retry(activity), name=f"activity-{activity.event_id}")
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _attempt(self, activity: activity_pb2.Activity) -> bool:
        """One call; True when it is settled (recorded, or refused for good)."""
        stub = activity_pb2_grpc.ActivityServiceStub(self._channels.get(self._address))
        try:
            await stub.RecordActivity(
                activity_pb2.RecordActivityRequest(activity=activity),
                metadata=self._credentials.metadata(),
                timeout=self._policy.attempt_timeout,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in RETRYABLE:
                log.info(
                    "recording %s activity %s: board-sync answered %s",
                    _kind(activity), activity.event_id, exc.code().name,
                )  # fmt: skip
                return False
            log.error(
                "board-sync refused %s activity %s of %s: %s %s",
                _kind(activity), activity.event_id, activity.wasteland_id,
                exc.code().name, exc.details(),
            )  # fmt: skip
        return True

    async def _retry(self, activity: activity_pb2.Activity) -> None:
        for delay in self._policy.delays:
            await self._sleep(delay * (1.0 - 0.2 * self._rng.random()))
            if await self._attempt(activity):
                return
        log.warning(
            "gave up recording %s activity %s of %s (request %s, actor %s): %s",
            _kind(activity), activity.event_id, activity.wasteland_id,
            activity.request_id or "-", activity.actor, activity.detail,
        )  # fmt: skip

    async def close(self) -> None:
        """Stop retrying (at shutdown); records still waiting are logged as lost."""
        pending = list(self._retries)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if pending:
            log.warning("%d activity records were not delivered before shutdown", len(pending))


def _kind(activity: activity_pb2.Activity) -> str:
    return kind_word(activity.kind) or "unknown"
