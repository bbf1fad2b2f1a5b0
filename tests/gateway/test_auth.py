"""Kilo JWT checks at the edge: 401 for anything but a valid, current token."""

from __future__ import annotations

import base64
import json
import time

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from wasteland_common.auth import mint_user_token
from wasteland_common.settings import DEV_JWT_SECRET

from tests.support.kilo_claims import mistyped_claims

from .conftest import FakeClock
from .fakes import AUDIENCE, Backends


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "version": 3, "kiloUserId": "alice", "iat": now, "exp": now + 600,
    }  # fmt: skip
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def signed(payload: dict[str, object], secret: str = DEV_JWT_SECRET, alg: str = "HS256") -> str:
    return jwt.encode(payload, secret, algorithm=alg)


def bad_token(name: str) -> str:
    """A token that must be refused, by the name of what is wrong with it."""
    return {
        "garbage": "not-a-jwt",
        "expired": signed(claims(exp=int(time.time()) - 10)),
        "wrong_audience": signed(claims(aud="someone-else")),
        "wrong_audience_list": signed(claims(aud=["a", "b"])),
        "wrong_secret": signed(claims(), secret="not-the-secret-at-all-0123456789"),
        "alg_none": _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(claims()) + ".",
        "hs512": signed(claims(), alg="HS512"),
        "version_2": signed(claims(version=2)),
        "no_user": signed(claims(kiloUserId=None)),
        "empty_user": signed(claims(kiloUserId="")),
        "no_exp": signed(claims(exp=None)),
        "tampered": signed(claims())[:-3] + "abc",
    }[name]


BAD_TOKENS = [
    "garbage", "expired", "wrong_audience", "wrong_audience_list", "wrong_secret", "alg_none",
    "hs512", "version_2", "no_user", "empty_user", "no_exp", "tampered",
]  # fmt: skip


async def test_missing_token(api: httpx.AsyncClient) -> None:
    resp = await api.get("/v1/wastelands")
    assert resp.status_code == 401
    assert resp.json() == {
        "error": {"code": "UNAUTHENTICATED", "message": "Authentication required", "details": []}
    }
    assert resp.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("name", BAD_TOKENS)
async def test_invalid_tokens(api: httpx.AsyncClient, name: str) -> None:
    resp = await api.get("/v1/wastelands", headers={"Authorization": "Bearer " + bad_token(name)})
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "UNAUTHENTICATED"
    assert resp.json()["error"]["message"] == "Invalid token"


@pytest.mark.parametrize("header", ["Basic YWxpY2U6cHc=", "Bearer", "Bearer    ", "token abc"])
async def test_wrong_scheme(api: httpx.AsyncClient, header: str) -> None:
    resp = await api.get("/v1/wastelands", headers={"Authorization": header})
    assert resp.status_code == 401


@pytest.mark.parametrize("kind", ["no_aud", "our_aud", "aud_list"])
async def test_valid_tokens(api: httpx.AsyncClient, backends: Backends, kind: str) -> None:
    token = {
        "no_aud": lambda: mint_user_token("alice", secret=DEV_JWT_SECRET),
        "our_aud": lambda: mint_user_token("alice", secret=DEV_JWT_SECRET, audience=AUDIENCE),
        "aud_list": lambda: signed(claims(aud=["other", AUDIENCE])),
    }[kind]()
    backends.registry.seed("alice")
    resp = await api.get("/v1/wastelands", headers={"Authorization": "Bearer " + token})
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["wastelands"]) == 1


async def test_unauthenticated_beats_bad_json(api: httpx.AsyncClient) -> None:
    resp = await api.post(
        "/v1/wastelands", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 401


async def test_service_routes_need_no_token(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz")).status_code == 200
    assert (await api.get("/openapi.json")).status_code == 200


async def test_token_expiry_follows_the_injected_clock(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = mint_user_token("alice", secret=DEV_JWT_SECRET, ttl_seconds=60)
    headers = {"Authorization": "Bearer " + token}
    assert (await api.get("/healthz", headers=headers)).status_code == 200
    clock.advance(120)
    resp = await api.get("/v1/wastelands", headers=headers)
    assert resp.status_code == 401


async def test_a_token_accepted_before_is_refused_once_it_expires(
    api: httpx.AsyncClient, backends: Backends, clock: FakeClock
) -> None:
    """The gateway remembers accepted tokens; the memory honours ``exp``."""
    wid = backends.registry.seed("alice")
    token = mint_user_token("alice", secret=DEV_JWT_SECRET, ttl_seconds=60)
    headers = {"Authorization": "Bearer " + token}
    board = f"/v1/wastelands/{wid}/wanted"
    for _ in range(2):
        assert (await api.get(board, headers=headers)).status_code == 200
    clock.advance(60)
    resp = await api.get(board, headers=headers)
    assert resp.status_code == 401
    assert resp.json()["error"]["message"] == "Invalid token"


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(claims=mistyped_claims())
async def test_a_mistyped_claim_is_401(api: httpx.AsyncClient, claims: dict[str, object]) -> None:
    resp = await api.get("/v1/wastelands", headers={"Authorization": "Bearer " + signed(claims)})
    assert resp.status_code == 401, claims
    assert resp.json()["error"] == {
        "code": "UNAUTHENTICATED",
        "message": "Invalid token",
        "details": [],
    }


async def test_a_string_admin_flag_is_not_an_admin(
    api: httpx.AsyncClient, backends: Backends
) -> None:
    wid = backends.registry.seed("alice", visibility="private")
    token = signed(claims(kiloUserId="root", isAdmin="yes"))
    resp = await api.get(f"/v1/wastelands/{wid}", headers={"Authorization": "Bearer " + token})
    assert resp.status_code == 401
    assert "GetWasteland" not in backends.registry.common.calls
