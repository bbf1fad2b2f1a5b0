"""wasteland_common.activity: the kinds match the proto, records are stamped (request id,
actor, time, redacted detail), and recording never fails the caller: a record board-sync
did not take is retried in the background with the same event id, then logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from wasteland.v1 import activity_pb2, activity_pb2_grpc
from wasteland_common import enums, grpc_server, logs
from wasteland_common.activity import (
    DETAIL_MAX,
    KINDS,
    GrpcActivity,
    RetryPolicy,
    actor_var,
    clean_detail,
    kind_number,
    kind_word,
)
from wasteland_common.auth import Authenticator
from wasteland_common.grpc_client import Channels, ServiceCredentials

SECRET = "activity-test-service-secret-0123456789abcdef"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DEADLINE = 10.0


def test_the_kinds_are_the_protos_words_in_order() -> None:
    assert tuple(enums.words(activity_pb2.ActivityKind).values()) == KINDS
    assert kind_number("member_added") == activity_pb2.ACTIVITY_KIND_MEMBER_ADDED
    assert kind_word(activity_pb2.ACTIVITY_KIND_SYNC_FAILED) == "sync_failed"
    assert kind_word(activity_pb2.ACTIVITY_KIND_UNSPECIFIED) is None
    assert kind_word(999) is None


def test_a_detail_is_one_redacted_bounded_line() -> None:
    cleaned = clean_detail("connected\nwith dolthub_token=dhat.v1.abcdefghijklmnop0123 ok")
    assert "dhat" not in cleaned
    assert "\n" not in cleaned
    assert cleaned.startswith("connected with dolthub_token=")
    assert len(clean_detail("x" * 2000)) == DETAIL_MAX


@dataclass
class FakeLog(activity_pb2_grpc.ActivityServiceServicer):  # type: ignore[misc]
    """Refuses the first ``failures`` calls with ``code``, then records."""

    failures: int = 0
    code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
    calls: list[Any] = field(default_factory=list)
    recorded: dict[str, Any] = field(default_factory=dict)
    callers: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def RecordActivity(self, request: Any, context: Any) -> Any:
        identity = Authenticator(
            user_secret=SECRET, audience="wasteland", service_secret=SECRET
        ).identify(context.invocation_metadata())
        self.callers.append(identity.require_service("registry"))
        self.calls.append(request.activity)
        self.changed.set()
        if len(self.calls) <= self.failures:
            await context.abort(self.code, "not now")
        fresh = request.activity.event_id not in self.recorded
        self.recorded.setdefault(request.activity.event_id, request.activity)
        return activity_pb2.RecordActivityResponse(activity=request.activity, recorded=fresh)

    async def wait_calls(self, n: int) -> None:
        async def until() -> None:
            while len(self.calls) < n:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(until(), DEADLINE)


@dataclass
class Env:
    fake: FakeLog
    recorder: GrpcActivity
    waits: list[float]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    fake = FakeLog()
    server = await grpc_server.start(
        register=lambda s: activity_pb2_grpc.add_ActivityServiceServicer_to_server(fake, s),
        service_names=["wasteland.v1.ActivityService"],
        host="127.0.0.1",
        port=0,
    )
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(0)

    channels = Channels()
    recorder = GrpcActivity(
        channels,
        f"127.0.0.1:{server.port}",
        ServiceCredentials("registry", SECRET),
        service="registry",
        policy=RetryPolicy(attempt_timeout=5.0, delays=(1.0, 2.0, 3.0)),
        clock=lambda: T0,
        sleep=no_wait,
    )
    try:
        yield Env(fake, recorder, waits)
    finally:
        await recorder.close()
        await channels.close()
        await server.stop(0)


async def test_a_record_is_stamped_with_request_actor_and_time(env: Env) -> None:
    token = logs.request_id_var.set("req-42")
    try:
        await env.recorder.record(
            "wl-1", "claimed", detail="claimed with sandbox-token-bob", wanted_id="w-1"
        )
        actor = actor_var.set("bob")
        try:
            await env.recorder.record("wl-1", "woke", detail="the workload woke")
        finally:
            actor_var.reset(actor)
        await env.recorder.record("wl-1", "slept", detail="idle", actor="service:executor")
    finally:
        logs.request_id_var.reset(token)
    await env.recorder.record("wl-1", "created", detail="no request")
    claimed, woke, slept, created = env.fake.calls
    assert claimed.kind == activity_pb2.ACTIVITY_KIND_CLAIMED
    assert (claimed.request_id, claimed.wanted_id, claimed.at.ToDatetime(tzinfo=UTC)) == (
        "req-42",
        "w-1",
        T0,
    )
    assert "sandbox-token-bob" not in claimed.detail
    assert claimed.actor == "service:registry"  # no user in context, none given
    assert woke.actor == "bob"
    assert slept.actor == "service:executor"
    assert created.request_id == ""
    assert len({a.event_id for a in env.fake.calls}) == 4
    assert env.fake.callers == ["registry"] * 4


async def test_a_record_board_sync_did_not_take_is_retried_with_the_same_id(
    env: Env,
) -> None:
    env.fake.failures = 2
    await env.recorder.record("wl-1", "posted", detail="posted", event_id="op_1:posted")
    # The caller went on after one attempt; the record is retried behind its back.
    await env.fake.wait_calls(3)
    assert [a.event_id for a in env.fake.calls] == ["op_1:posted"] * 3
    assert list(env.fake.recorded) == ["op_1:posted"]
    # Waits from the policy, shortened by at most 20% of jitter.
    assert 0.8 <= env.waits[0] <= 1.0
    assert 1.6 <= env.waits[1] <= 2.0


async def test_a_refused_record_is_not_retried_and_an_outage_is_logged(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    env.fake.failures = 1
    env.fake.code = grpc.StatusCode.INVALID_ARGUMENT
    with caplog.at_level(logging.WARNING, logger="wasteland_common.activity"):
        await env.recorder.record("wl-1", "done", detail="done")
        assert env.recorder.retrying == 0
        assert "refused done activity" in caplog.text

        env.fake.failures = 100
        env.fake.code = grpc.StatusCode.UNAVAILABLE
        await env.recorder.record("wl-1", "accepted", detail="accepted bob's work")
        await env.fake.wait_calls(1 + 4)  # the first attempt and three retries

        async def settled() -> None:
            while env.recorder.retrying:
                await asyncio.sleep(0)

        await asyncio.wait_for(settled(), DEADLINE)
    assert "gave up recording accepted activity" in caplog.text
    assert "accepted bob's work" in caplog.text  # the event is at least in the log


async def test_an_unknown_kind_is_a_bug_logged_not_raised(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="wasteland_common.activity"):
        await env.recorder.record("wl-1", "exploded", detail="?")  # type: ignore[arg-type]
    assert env.fake.calls == []
    assert "invalid exploded activity" in caplog.text


async def test_during_an_outage_later_records_do_not_wait_inline(env: Env) -> None:
    env.fake.failures = 1
    gate = asyncio.Event()

    async def held(seconds: float) -> None:
        env.waits.append(seconds)
        await gate.wait()

    env.recorder._sleep = held  # the first record's retry waits until released
    await env.recorder.record("wl-1", "claimed", detail="first")
    await env.recorder.record("wl-1", "done", detail="second")
    # Only the first record was tried inline; the second went straight to the queue.
    assert [a.detail for a in env.fake.calls] == ["first"]
    assert env.recorder.retrying == 2
    gate.set()
    await env.fake.wait_calls(3)
    assert sorted(env.fake.recorded) == sorted({a.event_id for a in env.fake.calls})
    assert len(env.fake.recorded) == 2
