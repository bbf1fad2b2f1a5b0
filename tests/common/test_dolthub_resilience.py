"""Retries, budgets, outages, anonymous fallback and token secrecy of the DoltHub client.

Faithful fakes of the wire format over httpx.MockTransport; time is virtual, so every
schedule is checked by the waits the client asked for, never by wall-clock time.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from wasteland_common.dolthub import (
    DoltHubClient,
    DoltHubError,
    NotFound,
    PollPolicy,
    QueryError,
    RateLimited,
    RetryPolicy,
    Unavailable,
)
from wasteland_common.dolthub._secret import SecretToken

from tests.common.dolthub_fakes import BASE, Fake, Handler

TOKEN = "sandbox-token-secretive"
LOGGER = "wasteland_common.dolthub"


@pytest.fixture
async def fake() -> AsyncIterator[Fake]:
    async with Fake(token=TOKEN, seed=3, start=50.0) as f:
        yield f


def ok_read() -> httpx.Response:
    return httpx.Response(200, json={"query_execution_status": "Success", "rows": [{"x": "1"}]})


def sequence(*answers: httpx.Response | type[Exception]) -> Handler:
    """Answer with each item in turn (the last repeats); exception classes are raised."""
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, type):
            raise item("simulated", request=request)  # type: ignore[call-arg]
        return item

    return handle


def write_ok(request: httpx.Request) -> httpx.Response:
    if request.method == "POST":
        return httpx.Response(
            200, json={"query_execution_status": "Success", "operation_name": "op"}
        )
    return httpx.Response(
        200,
        json={
            "done": True,
            "res_details": {
                "query_execution_status": "Success",
                "from_commit_id": "a",
                "to_commit_id": "b",
            },
        },
    )


async def read(client: DoltHubClient) -> Any:
    return await client.read("hop", "wl-commons", "SELECT 1")


# --------------------------------------------------------------------------- retries


async def test_retry_after_is_honoured(fake: Fake) -> None:
    client = fake.client(sequence(httpx.Response(429, headers={"Retry-After": "3"}), ok_read()))
    result = await read(client)
    assert result.rows == [{"x": "1"}]
    assert fake.time.sleeps == [3.0]
    assert len(fake.requests) == 2


async def test_retry_after_on_503_is_honoured(fake: Fake) -> None:
    client = fake.client(sequence(httpx.Response(503, headers={"Retry-After": "1.5"}), ok_read()))
    await read(client)
    assert fake.time.sleeps == [1.5]


async def test_retry_after_beyond_the_budget_gives_up_at_once(fake: Fake) -> None:
    client = fake.client(sequence(httpx.Response(429, headers={"Retry-After": "60"})))
    with pytest.raises(RateLimited) as info:
        await read(client)
    assert info.value.retry_after == 60.0
    assert fake.time.sleeps == []
    assert len(fake.requests) == 1


async def test_exhausted_429_is_rate_limited_with_retry_after(fake: Fake) -> None:
    client = fake.client(sequence(httpx.Response(429, headers={"Retry-After": "2"})))
    with pytest.raises(RateLimited) as info:
        await read(client)
    assert info.value.retry_after == 2.0
    assert len(fake.requests) == RetryPolicy().attempts
    assert fake.time.sleeps == [2.0, 2.0, 2.0]


async def test_backoff_is_jittered_exponential_within_bounds(fake: Fake) -> None:
    policy = RetryPolicy(attempts=6, base_delay=0.5, max_delay=2.0, budget_seconds=100)
    client = fake.client(sequence(httpx.Response(500)), retry=policy)
    with pytest.raises(Unavailable):
        await read(client)
    ceilings = [0.5, 1.0, 2.0, 2.0, 2.0]
    assert len(fake.time.sleeps) == len(ceilings)
    for slept, ceiling in zip(fake.time.sleeps, ceilings, strict=True):
        assert ceiling / 2 <= slept <= ceiling


async def test_retry_budget_caps_total_waiting(fake: Fake) -> None:
    policy = RetryPolicy(attempts=50, base_delay=4.0, max_delay=4.0, budget_seconds=10.0)
    client = fake.client(sequence(httpx.Response(502)), retry=policy)
    with pytest.raises(Unavailable):
        await read(client)
    assert sum(fake.time.sleeps) <= 10.0
    assert len(fake.requests) < 50


async def test_budget_counts_time_spent_waiting_for_answers(fake: Fake) -> None:
    def slow_failure(request: httpx.Request) -> httpx.Response:
        fake.time.now += 9.0  # each answer takes 9 s of (virtual) time
        return httpx.Response(503)

    client = fake.client(slow_failure, retry=RetryPolicy(attempts=10, budget_seconds=20.0))
    with pytest.raises(Unavailable):
        await read(client)
    assert len(fake.requests) == 3


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(503), httpx.ConnectError],
    ids=["503", "connect-refused"],
)
async def test_outage_stops_at_the_attempt_limit(
    fake: Fake, failure: httpx.Response | type[Exception]
) -> None:
    policy = RetryPolicy(attempts=3)
    client = fake.client(sequence(failure), retry=policy)
    calls = 5
    for _ in range(calls):
        with pytest.raises(Unavailable):
            await read(client)
    for _ in range(calls):
        with pytest.raises(Unavailable):
            await client.write("alice", "wl-commons", "main", "main", "UPDATE t SET x=1")
    # No retry storm: never more requests than attempts per call.
    assert len(fake.requests) == 2 * calls * policy.attempts


async def test_safe_requests_retry_read_timeouts_and_500(fake: Fake) -> None:
    client = fake.client(sequence(httpx.ReadTimeout, httpx.Response(500), ok_read()))
    await read(client)
    assert len(fake.requests) == 3


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.Response(500), httpx.Response(504)],
    ids=["read-timeout", "protocol", "500", "504"],
)
async def test_writes_are_not_retried_once_the_server_may_have_acted(
    fake: Fake, failure: httpx.Response | type[Exception]
) -> None:
    client = fake.client(sequence(failure))
    with pytest.raises(Unavailable):
        await client.write("alice", "wl-commons", "main", "main", "UPDATE t SET x=1")
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError, httpx.ConnectTimeout, httpx.Response(429), httpx.Response(503)],
    ids=["connect", "connect-timeout", "429", "503"],
)
async def test_writes_are_retried_when_the_server_cannot_have_acted(
    fake: Fake, failure: httpx.Response | type[Exception]
) -> None:
    posts = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal posts
        if request.method == "POST":
            posts += 1
            if posts == 1:
                return sequence(failure)(request)
        return write_ok(request)

    client = fake.client(handle)
    result = await client.write("alice", "wl-commons", "main", "main", "UPDATE t SET x=1")
    assert result.committed is True
    assert posts == 2


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.create_database("alice", "db"),
        lambda c: c.fork("hop", "wl-commons", "alice"),
        lambda c: c.merge_pull("hop", "wl-commons", "1"),
        lambda c: c.create_pull(
            "hop", "db", title="t", description="", from_owner="a", from_db="db", from_branch="b"
        ),
        lambda c: c.comment_pull("hop", "db", "1", "hi"),
    ],
    ids=["create-database", "fork", "merge-pull", "create-pull", "comment"],
)
async def test_other_unsafe_posts_are_not_retried_on_read_timeout(
    fake: Fake, call: Callable[[DoltHubClient], Awaitable[Any]]
) -> None:
    client = fake.client(sequence(httpx.ReadTimeout))
    with pytest.raises(Unavailable, match="not retried"):
        await call(client)
    assert len(fake.requests) == 1


# --------------------------------------------------------------------------- anonymous fallback


@pytest.mark.parametrize(
    "refusal",
    [
        httpx.Response(404, text="not found"),
        httpx.Response(400, json={"message": "no such repository: hop/wl-commons"}),
    ],
    ids=["404", "no-such-repository"],
)
async def test_authenticated_read_falls_back_to_anonymous(
    fake: Fake, refusal: httpx.Response
) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return refusal if "authorization" in request.headers else ok_read()

    client = fake.client(handle)
    assert (await read(client)).rows == [{"x": "1"}]
    assert ["authorization" in r.headers for r in fake.requests] == [True, False]


async def test_anonymous_fallback_happens_once(fake: Fake) -> None:
    client = fake.client(sequence(httpx.Response(404, text="not found")))
    with pytest.raises(NotFound):
        await read(client)
    assert len(fake.requests) == 2


async def test_no_anonymous_fallback_on_5xx_or_for_writes(fake: Fake) -> None:
    client = fake.client(sequence(httpx.Response(500)), retry=RetryPolicy(attempts=2))
    with pytest.raises(Unavailable):
        await read(client)
    assert all("authorization" in r.headers for r in fake.requests)

    fake.requests.clear()
    client = fake.client(sequence(httpx.Response(404, text="no such repository")))
    with pytest.raises(NotFound):
        await client.write("alice", "wl-commons", "main", "main", "UPDATE t SET x=1")
    assert len(fake.requests) == 1


async def test_no_anonymous_fallback_without_a_token(fake: Fake) -> None:
    client = fake.client(sequence(httpx.Response(404, text="not found")), token=None)
    with pytest.raises(NotFound):
        await read(client)
    assert len(fake.requests) == 1


# --------------------------------------------------------------------------- logging


async def test_retries_log_at_info_and_the_final_failure_once_at_warning(
    fake: Fake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    client = fake.client(sequence(httpx.Response(503)), retry=RetryPolicy(attempts=3))
    with pytest.raises(Unavailable):
        await read(client)
    records = [r for r in caplog.records if r.name == LOGGER]
    assert [r.levelname for r in records] == ["INFO", "INFO", "WARNING"]
    assert all("authorization" not in r.getMessage().lower() for r in records)


async def test_poll_failure_is_logged_once_at_warning(
    fake: Fake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)

    def handle(request: httpx.Request) -> httpx.Response:
        return write_ok(request) if request.method == "POST" else httpx.Response(502)

    client = fake.client(handle, poll=PollPolicy(max_consecutive_errors=3))
    with pytest.raises(Unavailable):
        await client.write("alice", "wl-commons", "main", "main", "UPDATE t SET x=1")
    warnings = [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]
    assert len(warnings) == 1


# --------------------------------------------------------------------------- secrecy


def echo_token(status: int) -> Handler:
    """A hostile server that echoes the authorization header in its error bodies."""

    def handle(request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization", "")
        return httpx.Response(
            status,
            json={
                "query_execution_status": "Error",
                "status": "Error",
                "message": f"bad request with {auth}",
                "query_execution_message": f"you sent {auth}",
            },
        )

    return handle


def leaky_transport_error(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError(f"refused for {request.headers.get('authorization')}", request=request)


def leaky_poll(request: httpx.Request) -> httpx.Response:
    if request.method == "POST":
        return write_ok(request)
    return httpx.Response(400, text=f"SqlWrite failed for {request.headers['authorization']}")


ERROR_PATHS: list[tuple[str, Handler, Callable[[DoltHubClient], Awaitable[Any]]]] = [
    ("401", echo_token(401), read),
    ("400-invalid-authorization", echo_token(400), lambda c: c.validate_token("hop", "db")),
    ("403", echo_token(403), read),
    ("404", echo_token(404), read),
    ("409", echo_token(409), lambda c: c.create_database("alice", "db")),
    ("sql-400", echo_token(400), read),
    ("sql-200", echo_token(200), read),
    ("429", echo_token(429), read),
    ("503", echo_token(503), read),
    (
        "500-write",
        echo_token(500),
        lambda c: c.write("a", "db", "main", "main", "UPDATE t SET x=1"),
    ),
    ("transport", leaky_transport_error, read),
    ("poll-400", leaky_poll, lambda c: c.write("a", "db", "main", "main", "UPDATE t SET x=1")),
    ("fork-403", echo_token(403), lambda c: c.fork("hop", "db", "alice")),
    ("pull-400", echo_token(400), lambda c: c.get_pull("hop", "db", "1")),
    ("merge-400", echo_token(400), lambda c: c.merge_pull("hop", "db", "1")),
    ("branch-400", echo_token(400), lambda c: c.create_branch("a", "db", "b", "main")),
]


@pytest.mark.parametrize(
    ("handler", "call"), [(h, c) for _, h, c in ERROR_PATHS], ids=[i for i, _, _ in ERROR_PATHS]
)
async def test_token_never_leaks_from_an_error_path(
    fake: Fake,
    caplog: pytest.LogCaptureFixture,
    handler: Handler,
    call: Callable[[DoltHubClient], Awaitable[Any]],
) -> None:
    caplog.set_level(logging.DEBUG)
    client = fake.client(handler, retry=RetryPolicy(attempts=2))
    with pytest.raises(DoltHubError) as info:
        await call(client)
    exc = info.value
    # The fake really did echo the token, so scrubbing is what keeps it out.
    assert any(TOKEN in r.headers.get("authorization", "") for r in fake.requests)
    for text in (str(exc), repr(exc), repr(exc.args), exc.message, repr(client), caplog.text):
        assert TOKEN not in text
    assert "****" in str(exc) or "authorization" not in str(exc)


async def test_query_error_message_is_scrubbed_but_kept(fake: Fake) -> None:
    client = fake.client(echo_token(400))
    with pytest.raises(QueryError) as info:
        await read(client)
    assert "you sent token ****" in str(info.value)


def test_token_wrapper_is_masked() -> None:
    secret = SecretToken(TOKEN)
    assert TOKEN not in repr(secret)
    assert TOKEN not in str(secret)
    assert TOKEN not in f"{secret}"
    assert TOKEN not in f"{secret!r}"
    assert secret.reveal() == TOKEN
    client = DoltHubClient(BASE, token=TOKEN)
    assert TOKEN not in repr(client)
    assert "token=<set>" in repr(client)
    assert TOKEN not in repr(vars(client))


@pytest.mark.parametrize("bad", ["has space-token", "line\nbreak", "tab\there", "ünïcode-token"])
def test_malformed_token_is_rejected_without_echo(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        DoltHubClient(BASE, token=bad)
    assert bad not in str(info.value)


def test_empty_token_means_anonymous() -> None:
    assert DoltHubClient(BASE, token="").has_token is False
    assert DoltHubClient(BASE, token=TOKEN).with_token(None).has_token is False
