"""``VerifiedUserTokens``/``VerifiedServiceTokens``: an accepted token is served from
memory until its ``exp``, exactly as a full check would decide it meanwhile; and
``ServiceCredentials`` reuses its service token for a while."""

from __future__ import annotations

import time

import jwt
import pytest
from wasteland_common.auth import (
    SERVICE_AUDIENCE,
    SERVICE_METADATA_KEY,
    Principal,
    VerifiedServiceTokens,
    VerifiedUserTokens,
    mint_user_token,
    verify_user_token,
)
from wasteland_common.errors import Unauthenticated
from wasteland_common.grpc_client import (
    SERVICE_TOKEN_REUSE_SECONDS,
    SERVICE_TOKEN_TTL_SECONDS,
    ServiceCredentials,
)

SECRET = "common-tests-kilo-jwt-secret-0123456789"
AUDIENCE = "wasteland"


class Clock:
    def __init__(self) -> None:
        # Near real time (taken per test): PyJWT checks ``exp`` against the real clock too.
        self.now = float(int(time.time()))
        self.start = self.now

    def __call__(self) -> float:
        return self.now


def token(clock: Clock, user: str = "alice", ttl: int = 600, **kwargs: object) -> str:
    return mint_user_token(user, secret=SECRET, ttl_seconds=ttl, now=lambda: clock.start, **kwargs)  # type: ignore[arg-type]


def tokens(clock: Clock, max_entries: int = 100) -> VerifiedUserTokens:
    return VerifiedUserTokens(secret=SECRET, audience=AUDIENCE, now=clock, max_entries=max_entries)


def test_an_accepted_token_gives_the_same_principal_as_a_full_check() -> None:
    clock = Clock()
    cache = tokens(clock)
    admin = token(clock, "root", is_admin=True, orgs=[("acme", "owner")])
    expected = verify_user_token(admin, secret=SECRET, audience=AUDIENCE, now=clock)
    assert cache.verify(admin) == expected
    assert cache.verify(admin) == expected  # from memory now
    assert len(cache) == 1
    assert expected == Principal("root", True, {"acme": "owner"})


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    clock = Clock()
    cache = tokens(clock)
    short = token(clock, ttl=60)
    assert cache.verify(short).user_id == "alice"
    clock.now = clock.start + 60  # exp reached: not valid any more (exp <= now)
    with pytest.raises(Unauthenticated):
        cache.verify(short)
    assert len(cache) == 0
    with pytest.raises(Unauthenticated):
        cache.verify(short)


def test_refusals_are_never_remembered_and_a_lookalike_is_checked_in_full() -> None:
    clock = Clock()
    cache = tokens(clock)
    good = token(clock)
    assert cache.verify(good).user_id == "alice"
    tampered = good[:-3] + ("abc" if not good.endswith("abc") else "xyz")
    forged = jwt.encode(
        jwt.decode(good, options={"verify_signature": False}), "not-the-secret-0123456789abcdef"
    )
    wrong_audience = token(clock, audience="someone-else")
    for bad in (tampered, forged, wrong_audience, "not-a-jwt"):
        for _ in range(2):
            with pytest.raises(Unauthenticated):
                cache.verify(bad)
    assert len(cache) == 1


def test_the_memory_is_bounded_oldest_first() -> None:
    clock = Clock()
    cache = tokens(clock, max_entries=2)
    first, second, third = token(clock, "u1"), token(clock, "u2"), token(clock, "u3")
    for each in (first, second, third):
        cache.verify(each)
    assert len(cache) == 2
    # The oldest was forgotten, so it is verified (and accepted) again from scratch.
    assert cache.verify(first).user_id == "u1"
    assert len(cache) == 2


def test_service_tokens_are_reused_for_a_while_and_remembered_until_they_expire() -> None:
    clock = Clock()
    clock.now -= 2 * SERVICE_TOKEN_REUSE_SECONDS  # PyJWT refuses an "iat" in its future
    credentials = ServiceCredentials("gateway", SECRET, now=clock)
    first = dict(credentials.metadata())[SERVICE_METADATA_KEY]
    clock.now += SERVICE_TOKEN_REUSE_SECONDS - 1
    assert dict(credentials.metadata("user-jwt"))[SERVICE_METADATA_KEY] == first
    clock.now += 1
    second = dict(credentials.metadata())[SERVICE_METADATA_KEY]
    assert second != first
    token = second.removeprefix("Bearer ")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience=SERVICE_AUDIENCE)
    assert claims["sub"] == "gateway"
    assert claims["exp"] - clock.now == SERVICE_TOKEN_TTL_SECONDS

    verified = VerifiedServiceTokens(secret=SECRET, now=clock)
    assert verified.verify(token) == "gateway"
    assert verified.verify(token) == "gateway"
    assert len(verified) == 1
    for bad in (token[:-3] + ("abc" if not token.endswith("abc") else "xyz"), "nope"):
        with pytest.raises(Unauthenticated):
            verified.verify(bad)
    assert len(verified) == 1
    clock.now = claims["exp"]
    with pytest.raises(Unauthenticated):
        verified.verify(token)
    assert len(verified) == 0
