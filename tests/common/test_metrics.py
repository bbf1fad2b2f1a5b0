"""The shared metrics: the gRPC server interceptor, the /metrics listener, and the DoltHub
client's calls by outcome."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import httpx
import pytest
from prometheus_client import REGISTRY
from wasteland_common import errors, grpc_server, metrics
from wasteland_common.dolthub import NotFound, Unavailable

from tests.support.scrape import scrape

from .dolthub_fakes import Fake

SERVICE = "test.Echo"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _echo(request: bytes, context: grpc.aio.ServicerContext) -> Any:
    async def answer() -> bytes:
        if request == b"missing":
            raise errors.NotFound("no such thing")
        if request == b"boom":
            raise RuntimeError("a bug")
        return request

    return answer()


async def _count(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    for i in range(int(request)):
        yield str(i).encode()


STREAM_ENDED = asyncio.Event()


async def _forever(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    try:
        yield b"first"
        await asyncio.Event().wait()
    finally:
        STREAM_ENDED.set()


def _register(server: grpc.aio.Server) -> None:
    handlers = {
        "Say": grpc.unary_unary_rpc_method_handler(_echo),
        "Count": grpc.unary_stream_rpc_method_handler(_count),
        "Forever": grpc.unary_stream_rpc_method_handler(_forever),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    running = await grpc_server.start(
        register=_register, service_names=[SERVICE], host="127.0.0.1", port=0
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as chan:
        yield chan
    await running.stop(0)


def handled(method: str, code: str, kind: str = "unary") -> float:
    return sample(
        "grpc_server_handled_total",
        grpc_type=kind,
        grpc_service=SERVICE,
        grpc_method=method,
        grpc_code=code,
    )


async def test_unary_calls_are_counted_by_status_code(channel: grpc.aio.Channel) -> None:
    say = channel.unary_unary(f"/{SERVICE}/Say")
    ok, not_found, internal = (
        handled("Say", "OK"),
        handled("Say", "NOT_FOUND"),
        handled("Say", "INTERNAL"),
    )
    timed = sample(
        "grpc_server_handling_seconds_count",
        grpc_type="unary",
        grpc_service=SERVICE,
        grpc_method="Say",
    )

    assert await say(b"hello", timeout=10) == b"hello"
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await say(b"missing", timeout=10)
    with pytest.raises(grpc.aio.AioRpcError) as bug:
        await say(b"boom", timeout=10)

    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert bug.value.code() == grpc.StatusCode.INTERNAL
    assert handled("Say", "OK") == ok + 1
    # The status the domain-error mapping set is the one counted.
    assert handled("Say", "NOT_FOUND") == not_found + 1
    assert handled("Say", "INTERNAL") == internal + 1
    assert (
        sample(
            "grpc_server_handling_seconds_count",
            grpc_type="unary",
            grpc_service=SERVICE,
            grpc_method="Say",
        )
        == timed + 3
    )


async def test_server_streams_are_counted_when_they_end(channel: grpc.aio.Channel) -> None:
    count = channel.unary_stream(f"/{SERVICE}/Count")
    before = handled("Count", "OK", kind="server_stream")
    started = sample(
        "grpc_server_started_total",
        grpc_type="server_stream",
        grpc_service=SERVICE,
        grpc_method="Count",
    )

    items = [item async for item in count(b"3", timeout=10)]

    assert items == [b"0", b"1", b"2"]
    assert handled("Count", "OK", kind="server_stream") == before + 1
    assert (
        sample(
            "grpc_server_started_total",
            grpc_type="server_stream",
            grpc_service=SERVICE,
            grpc_method="Count",
        )
        == started + 1
    )


async def test_a_stream_the_client_cancels_counts_as_cancelled(
    channel: grpc.aio.Channel,
) -> None:
    before = handled("Forever", "CANCELLED", kind="server_stream")
    STREAM_ENDED.clear()
    call = channel.unary_stream(f"/{SERVICE}/Forever")(b"", timeout=30)
    assert await call.read() == b"first"
    call.cancel()
    # The handler's finally runs, then (with no await in between) the interceptor's.
    await asyncio.wait_for(STREAM_ENDED.wait(), timeout=30)
    assert handled("Forever", "CANCELLED", kind="server_stream") == before + 1


def test_the_listener_serves_the_registry_and_frees_its_port() -> None:
    server = metrics.serve("127.0.0.1", 0, service="test")
    try:
        metrics.DOLTHUB_RETRIES.labels("listener_probe").inc()
        scraped = scrape(server.url)
        assert scraped.value("wasteland_dolthub_retries_total", operation="listener_probe") >= 1
        assert scraped.has("process_cpu_seconds_total")
    finally:
        server.close()
    with socket.socket() as sock:
        # SO_REUSEADDR as servers set it: the scrape's connection may linger in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", server.port))  # released


def test_no_port_means_no_listener() -> None:
    assert metrics.maybe_serve("127.0.0.1", None, service="test") is None


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "ok"),
        (204, "ok"),
        (400, "client_error"),
        (401, "denied"),
        (403, "denied"),
        (404, "not_found"),
        (409, "client_error"),
        (429, "rate_limited"),
        (500, "server_error"),
        (503, "server_error"),
        (None, "transport_error"),
    ],
)
def test_dolthub_outcomes(status: int | None, outcome: str) -> None:
    assert metrics.dolthub_outcome(status) == outcome
    assert outcome in metrics.DOLTHUB_OUTCOMES


# ------------------------------------------------------------------ the DoltHub client


def answer(status: int, body: str = "") -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text=body)

    return handle


QUERY_OK = (
    '{"query_execution_status": "Success", "query_execution_message": "",'
    ' "schema": [{"columnName": "n", "columnType": "int"}], "rows": [{"n": "1"}]}'
)


@pytest.fixture
def fake() -> Fake:
    return Fake(token="tok-metrics-123456", seed=7, start=1000.0)


def calls(operation: str, outcome: str) -> float:
    return sample("wasteland_dolthub_requests_total", operation=operation, outcome=outcome)


async def test_a_successful_read_counts_once_as_ok(fake: Fake) -> None:
    before = calls("read", "ok")
    durations = sample("wasteland_dolthub_request_duration_seconds_count", operation="read")
    async with fake.client(answer(200, QUERY_OK)) as client:
        result = await client.read("hop", "wl-commons", "SELECT 1 AS n")
    assert result.rows == [{"n": "1"}]
    assert calls("read", "ok") == before + 1
    assert (
        sample("wasteland_dolthub_request_duration_seconds_count", operation="read")
        == durations + 1
    )


async def test_a_missing_database_counts_as_not_found(fake: Fake) -> None:
    before = calls("database_exists", "not_found")
    async with fake.client(answer(404, "no such repository")) as client:
        assert await client.database_exists("hop", "gone") is False
    assert calls("database_exists", "not_found") == before + 1


async def test_retries_are_counted_and_the_call_once_with_its_final_outcome(fake: Fake) -> None:
    before = calls("list_branches", "server_error")
    retries = sample("wasteland_dolthub_retries_total", operation="list_branches")
    seconds = sample("wasteland_dolthub_request_duration_seconds_sum", operation="list_branches")
    async with fake.client(answer(503)) as client:
        with pytest.raises(Unavailable):
            await client.list_branches("hop", "wl-commons")
    assert calls("list_branches", "server_error") == before + 1
    attempts = len(fake.requests)
    assert attempts > 1
    assert sample("wasteland_dolthub_retries_total", operation="list_branches") == (
        retries + attempts - 1
    )
    # The duration is the client's own clock: here the virtual waits between attempts.
    waited = sum(fake.time.sleeps)
    assert sample(
        "wasteland_dolthub_request_duration_seconds_sum", operation="list_branches"
    ) == pytest.approx(seconds + waited)


async def test_a_transport_failure_counts_as_transport_error(fake: Fake) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    before = calls("get_pull", "transport_error")
    async with fake.client(refuse) as client:
        with pytest.raises(Unavailable):
            await client.get_pull("hop", "wl-commons", "1")
    assert calls("get_pull", "transport_error") == before + 1


async def test_an_error_answer_that_is_not_retried_keeps_its_status(fake: Fake) -> None:
    before = calls("get_pull", "not_found")
    async with fake.client(answer(404, '{"status": "Error", "message": "no pull"}')) as client:
        with pytest.raises(NotFound):
            await client.get_pull("hop", "wl-commons", "9")
    assert calls("get_pull", "not_found") == before + 1
