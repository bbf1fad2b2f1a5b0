"""Per-user rate limits in the shared database: windows, headers, replicas, atomicity."""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from wl_gateway.ratelimit import Policy, RateLimiter, window_of

from .conftest import AppFactory, FakeClock, bearer
from .fakes import Backends


def parse_ratelimit(value: str) -> dict[str, int]:
    return {k.strip(): int(v) for k, v in (part.split("=") for part in value.split(","))}


async def claim(api: httpx.AsyncClient, wid: str, user: str = "alice") -> httpx.Response:
    return await api.post(f"/v1/wastelands/{wid}/wanted/w-1/claim", headers=bearer(user))


async def test_eleventh_claim_in_a_minute_is_refused(
    api: httpx.AsyncClient, backends: Backends, clock: FakeClock
) -> None:
    wid = backends.registry.seed("alice")
    backends.registry.connect(wid, "alice", "alice")
    backends.registry.connect(wid, "bob", "bob")
    # Start at the beginning of a window so the ten claims fit in one.
    clock.now = math.ceil(clock.now / 60) * 60 + 1
    for n in range(10):
        resp = await claim(api, wid)
        assert resp.status_code == 200, resp.text
        assert resp.headers["RateLimit-Policy"] == "10;w=60"
        assert parse_ratelimit(resp.headers["RateLimit"])["remaining"] == 9 - n
        clock.advance(2)
    refused = await claim(api, wid)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RESOURCE_EXHAUSTED"
    retry_after = int(refused.headers["Retry-After"])
    assert retry_after == 60 - 21  # the window began 21 s ago
    assert refused.headers["RateLimit-Policy"] == "10;w=60"
    assert parse_ratelimit(refused.headers["RateLimit"]) == {
        "limit": 10,
        "remaining": 0,
        "reset": retry_after,
    }
    # Another user has their own budget; another operation too.
    assert (await claim(api, wid, "bob")).status_code == 200
    browse = await api.get(f"/v1/wastelands/{wid}/wanted", headers=bearer("alice"))
    assert browse.status_code == 200
    assert browse.headers["RateLimit-Policy"] == "60;w=60"

    clock.advance(retry_after - 1)
    assert (await claim(api, wid)).status_code == 429
    clock.advance(1)
    again = await claim(api, wid)
    assert again.status_code == 200
    assert parse_ratelimit(again.headers["RateLimit"])["remaining"] == 9


async def test_refused_requests_do_not_reach_the_executor(
    make_app: AppFactory, backends: Backends
) -> None:
    _, api = await make_app(RATE_LIMIT_POST=2)
    wid = backends.registry.seed("alice")
    backends.registry.connect(wid, "alice", "alice")
    body = {"title": "t", "type": "bug", "priority": 1}
    for _ in range(2):
        ok = await api.post(f"/v1/wastelands/{wid}/wanted", headers=bearer("alice"), json=body)
        assert ok.status_code == 200
    before = len(backends.executor.operations)
    refused = await api.post(f"/v1/wastelands/{wid}/wanted", headers=bearer("alice"), json=body)
    assert refused.status_code == 429
    assert len(backends.executor.operations) == before


async def test_done_and_browse_limits(make_app: AppFactory, backends: Backends) -> None:
    _, api = await make_app(RATE_LIMIT_DONE=1, RATE_LIMIT_BROWSE=2)
    wid = backends.registry.seed("alice")
    backends.registry.connect(wid, "alice", "alice")
    done = f"/v1/wastelands/{wid}/wanted/w-1/done"
    body = {"evidence": "https://example.com/1"}
    assert (await api.post(done, headers=bearer("alice"), json=body)).status_code == 200
    assert (await api.post(done, headers=bearer("alice"), json=body)).status_code == 429
    browse = f"/v1/wastelands/{wid}/wanted"
    assert (await api.get(browse, headers=bearer("alice"))).status_code == 200
    assert (await api.get(browse, headers=bearer("alice"))).status_code == 200
    limited = await api.get(browse, headers=bearer("alice"))
    assert limited.status_code == 429
    assert "Retry-After" in limited.headers


async def test_replicas_share_the_limit(
    make_app: AppFactory, backends: Backends, db_url: str, clock: FakeClock
) -> None:
    clock.now = math.ceil(clock.now / 60) * 60 + 1
    _, first = await make_app(db_url)
    _, second = await make_app(db_url)
    wid = backends.registry.seed("alice")
    backends.registry.connect(wid, "alice", "alice")
    for n in range(10):
        replica = first if n % 2 else second
        assert (await claim(replica, wid)).status_code == 200
    assert (await claim(first, wid)).status_code == 429
    assert (await claim(second, wid)).status_code == 429
    clock.advance(60)
    assert (await claim(second, wid)).status_code == 200


async def test_concurrent_counting_is_exact(db_url: str, clock: FakeClock) -> None:
    limiter = RateLimiter.from_url(db_url, {"claim": Policy(10, 60)}, clock)
    twin = RateLimiter.from_url(db_url, {"claim": Policy(10, 60)}, clock, migrate=False)
    try:
        clock.now = math.ceil(clock.now / 60) * 60 + 1
        decisions = await asyncio.gather(
            *((limiter if n % 2 else twin).check("alice", "claim") for n in range(30))
        )
        assert sum(d.allowed for d in decisions) == 10
        assert sorted(d.remaining for d in decisions if d.allowed) == list(range(10))
    finally:
        limiter.close()
        twin.close()


@settings(max_examples=200, deadline=None)
@given(
    now=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    window=st.integers(min_value=1, max_value=3600),
)
def test_window_arithmetic(now: float, window: int) -> None:
    start, left = window_of(now, window)
    begin = start.timestamp()
    assert begin <= now < begin + window
    assert begin % window == 0
    assert 1 <= left <= window
    # Retrying after `left` seconds always lands in a later window.
    later, _ = window_of(now + left, window)
    assert later > start


@pytest.mark.parametrize("allowed", [True, False])
def test_decision_headers(allowed: bool) -> None:
    from wl_gateway.ratelimit import Decision

    decision = Decision(allowed, Policy(5, 60), 0 if not allowed else 3, 17)
    headers = decision.headers()
    assert headers["RateLimit-Policy"] == "5;w=60"
    assert headers["RateLimit"] == f"limit=5, remaining={decision.remaining}, reset=17"
    assert ("Retry-After" in headers) is (not allowed)


async def test_leased_permits_never_let_replicas_exceed_the_limit(
    db_url: str, clock: FakeClock
) -> None:
    policy = Policy(12, 60, lease=3)
    replicas = [
        RateLimiter.from_url(db_url, {"browse": policy}, clock, migrate=n == 0) for n in range(3)
    ]
    try:
        clock.now = math.ceil(clock.now / 60) * 60 + 1
        decisions = await asyncio.gather(
            *(replicas[n % 3].check("alice", "browse") for n in range(40))
        )
        allowed = sum(d.allowed for d in decisions)
        assert allowed <= 12  # never more than the limit, whichever replica served
        assert allowed >= 12 - 2 * 3  # at most one lease stranded per other replica
        # One replica alone spends its leases fully: exactly the limit, in 4 writes.
        clock.advance(60)
        alone = [await replicas[0].check("bob", "browse") for _ in range(20)]
        assert sum(d.allowed for d in alone) == 12
        assert [d.remaining for d in alone[:12]] == list(range(11, -1, -1))
        with replicas[0]._engine.connect() as conn:
            count = conn.execute(
                sa.text("SELECT request_count FROM rate_limit_counters WHERE user_id = 'bob'")
            ).scalar_one()
        assert count > 12  # refused requests keep leasing nothing but are counted
        assert count <= 12 + 3 * 8  # leased in batches, never one row write per request
    finally:
        for limiter in replicas:
            limiter.close()


async def test_many_users_first_leases_share_commits_and_each_is_counted(
    db_url: str, clock: FakeClock
) -> None:
    limiter = RateLimiter.from_url(db_url, {"browse": Policy(60, 60, lease=15)}, clock)
    commits = 0

    def count_commit(_conn: object) -> None:
        nonlocal commits
        commits += 1

    sa.event.listen(limiter._engine, "commit", count_commit)
    try:
        clock.now = math.ceil(clock.now / 60) * 60 + 1
        users = [f"user-{n}" for n in range(40)]
        decisions = await asyncio.gather(*(limiter.check(u, "browse") for u in users))
        assert all(d.allowed and d.remaining == 59 for d in decisions)
        with limiter._engine.connect() as conn:
            found = conn.execute(sa.text("SELECT user_id, request_count FROM rate_limit_counters"))
            rows = {str(user): int(count) for user, count in found}
        # Every user's lease is in the shared counter before its request was let through.
        assert rows == dict.fromkeys(users, 15)
        # Leases asked for together went into shared transactions, not one commit each.
        assert commits < len(users)
    finally:
        limiter.close()


async def test_counters_of_windows_that_are_over_are_dropped(db_url: str, clock: FakeClock) -> None:
    limiter = RateLimiter.from_url(
        db_url, {"browse": Policy(60, 60, lease=15), "claim": Policy(10, 3600)}, clock
    )

    def counters() -> dict[tuple[str, str], int]:
        with limiter._engine.connect() as conn:
            found = conn.execute(
                sa.text("SELECT user_id, operation, request_count FROM rate_limit_counters")
            )
            return {(str(u), str(o)): int(n) for u, o, n in found}

    try:
        clock.now = math.ceil(clock.now / 3600) * 3600 + 1
        for user in ("alice", "bob"):
            assert (await limiter.check(user, "browse")).allowed
        assert (await limiter.check("alice", "claim")).allowed
        clock.advance(60)  # a new browse window; the claim window (an hour) goes on
        assert (await limiter.check("carol", "browse")).allowed
        # alice's and bob's browse counters of the last window are gone, though only
        # carol asked in this one; alice's claim window is not over and still counts.
        assert counters() == {("carol", "browse"): 15, ("alice", "claim"): 1}
        for _ in range(9):
            assert (await limiter.check("alice", "claim")).allowed
        assert not (await limiter.check("alice", "claim")).allowed
    finally:
        limiter.close()
