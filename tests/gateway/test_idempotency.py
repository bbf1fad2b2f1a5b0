"""Idempotency-Key on every POST, PUT and DELETE: the first result, once, on any replica."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send
from wasteland_common.settings import DEV_JWT_SECRET
from wl_gateway.auth import TokenVerifier
from wl_gateway.idempotency import (
    Claimed,
    IdempotencyMiddleware,
    IdempotencyStore,
    Mismatch,
    Outcome,
    Running,
    Stored,
    fingerprint,
)

from .conftest import AppFactory, FakeClock, bearer, routes_of
from .fakes import AUDIENCE, Backends, Fault

CREATE = {
    "name": "Mine",
    "owner": {"type": "user"},
    "visibility": "private",
    "upstream": "hop/wl-commons",
}


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def new_key() -> str:
    return str(uuid.uuid4())


class SignallingStore(IdempotencyStore):
    """A store that tells the test when a request found its key still running."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loop = asyncio.get_running_loop()
        self.saw_running = asyncio.Event()

    def begin(self, user_id: str, key: str, request_fingerprint: str) -> Outcome:
        outcome = super().begin(user_id, key, request_fingerprint)
        if isinstance(outcome, Running):
            self.loop.call_soon_threadsafe(self.saw_running.set)
        return outcome


async def test_a_repeated_create_returns_the_same_wasteland(
    make_app: AppFactory, backends: Backends, alice: dict[str, str], bob: dict[str, str]
) -> None:
    _, api = await make_app()
    key = new_key()
    first = await api.post("/v1/wastelands", headers=keyed(alice, key), json=CREATE)
    assert first.status_code == 201, first.text
    # The same request, its JSON written differently.
    same = json.dumps(dict(reversed(list(CREATE.items()))), indent=2)
    repeat = await api.post(
        "/v1/wastelands",
        headers={**keyed(alice, key), "Content-Type": "application/json"},
        content=same,
    )
    assert repeat.status_code == 201
    assert repeat.json() == first.json()
    assert repeat.headers["Idempotent-Replayed"] == "true"
    assert repeat.headers["Content-Type"] == "application/json"
    assert "Idempotent-Replayed" not in first.headers
    assert backends.registry.common.calls["CreateWasteland"] == 1
    assert len(backends.registry.wastelands) == 1
    # Keys belong to their user; without a key every request is a new one.
    other = await api.post("/v1/wastelands", headers=keyed(bob, key), json=CREATE)
    assert other.status_code == 201
    assert other.json()["wasteland_id"] != first.json()["wasteland_id"]
    unkeyed = await api.post("/v1/wastelands", headers=alice, json=CREATE)
    assert unkeyed.json()["wasteland_id"] != first.json()["wasteland_id"]
    assert len(backends.registry.wastelands) == 3


async def test_the_same_key_with_a_different_request_is_400(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    key = new_key()
    first = await api.post("/v1/wastelands", headers=keyed(alice, key), json=CREATE)
    assert first.status_code == 201
    wid = first.json()["wasteland_id"]
    attempts = [
        api.post("/v1/wastelands", headers=keyed(alice, key), json={**CREATE, "name": "Other"}),
        api.post("/v1/wastelands?x=1", headers=keyed(alice, key), json=CREATE),
        api.post(
            f"/v1/wastelands/{wid}/members",
            headers=keyed(alice, key),
            json={"user_id": "bob", "role": "contributor", "trust_level": 1},
        ),
        api.delete(f"/v1/wastelands/{wid}", headers=keyed(alice, key)),
    ]
    for attempt in attempts:
        resp = await attempt
        assert resp.status_code == 400, resp.text
        error = resp.json()["error"]
        assert error["code"] == "INVALID_ARGUMENT"
        assert error["details"][0]["field"] == "Idempotency-Key"
        assert "Idempotency-Key" in error["message"]
    assert backends.registry.common.calls["CreateWasteland"] == 1
    assert "AddMember" not in backends.registry.common.calls
    assert "DeleteWasteland" not in backends.registry.common.calls


async def test_every_kind_of_change_replays_its_first_result(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    backends.registry.record_rig(wid, "alice", "alice-rig")
    base = f"/v1/wastelands/{wid}"
    changes: list[tuple[str, str, Any, int, str, str]] = [
        ("put", f"{base}/credential", {"dolthub_token": "tok-123456", "dolthub_org": "alice"},
         200, "registry", "PutCredential"),
        ("post", f"{base}/members", {"user_id": "bob", "role": "contributor", "trust_level": 1},
         201, "registry", "AddMember"),
        ("post", f"{base}/towns",
         {"town_id": "t1", "rig_handle": "town-rig", "owner_email": "a@example.com"},
         201, "registry", "ConnectTown"),
        ("delete", f"{base}/towns/t1", None, 204, "registry", "DisconnectTown"),
        ("delete", f"{base}/members/bob", None, 204, "registry", "RemoveMember"),
        ("post", f"{base}/runtime:wake", None, 202, "executor", "WakeRuntime"),
        # The town's DoltHub registration above was the executor's first Execute.
        ("post", f"{base}/wanted/w-1/claim", None, 200, "executor", "Execute"),
        ("delete", f"{base}/credential", None, 204, "registry", "DeleteCredential"),
    ]  # fmt: skip
    for method, url, body, status, backend, rpc in changes:
        key = new_key()
        kwargs: dict[str, Any] = {"headers": keyed(alice, key)}
        if body is not None:
            kwargs["json"] = body
        first = await api.request(method.upper(), url, **kwargs)
        repeat = await api.request(method.upper(), url, **kwargs)
        assert (first.status_code, repeat.status_code) == (status, status), (url, repeat.text)
        assert repeat.content == first.content
        assert repeat.headers["Idempotent-Replayed"] == "true"
        expected_calls = 2 if url.endswith("/claim") else 1
        assert getattr(backends, backend).common.calls[rpc] == expected_calls, rpc


async def test_a_repeat_of_a_202_does_not_start_a_second_operation(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    backends.registry.connect(wid, "alice", "alice")
    url = f"/v1/wastelands/{wid}/wanted/w-slow/claim"
    key = new_key()
    first = await api.post(url, headers=keyed(alice, key))
    repeat = await api.post(url, headers=keyed(alice, key))
    assert first.status_code == repeat.status_code == 202
    assert repeat.json()["operation_id"] == first.json()["operation_id"]
    assert backends.executor.common.calls["Execute"] == 1
    # The key still reaches the executor, which remembers it too.
    assert ("alice", key) in backends.executor.by_key


async def test_failures_are_not_remembered(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    key = new_key()
    backends.registry.common.faults["CreateWasteland"] = Fault(code=grpc.StatusCode.UNAVAILABLE)
    down = await api.post("/v1/wastelands", headers=keyed(alice, key), json=CREATE)
    assert down.status_code == 503
    # The outcome was an error: the retry with the same key does the work.
    retried = await api.post("/v1/wastelands", headers=keyed(alice, key), json=CREATE)
    assert retried.status_code == 201
    again = await api.post("/v1/wastelands", headers=keyed(alice, key), json=CREATE)
    assert again.json() == retried.json()
    assert backends.registry.common.calls["CreateWasteland"] == 2
    # A refusal is not remembered either (4xx: nothing was done).
    taken = {**CREATE, "name": "taken"}
    key = new_key()
    for _ in range(2):
        resp = await api.post("/v1/wastelands", headers=keyed(alice, key), json=taken)
        assert resp.status_code == 409
        assert "Idempotent-Replayed" not in resp.headers
    assert backends.registry.common.calls["CreateWasteland"] == 4


async def test_concurrent_repeats_run_once(
    make_app: AppFactory, backends: Backends, alice: dict[str, str], db_url: str, clock: FakeClock
) -> None:
    store = SignallingStore.from_url(db_url, clock)
    _, api = await make_app(db_url, idempotency=store)
    gate = asyncio.Event()
    backends.registry.common.gates["CreateWasteland"] = gate
    entered = backends.registry.common.entered["CreateWasteland"] = asyncio.Event()
    key = new_key()
    first = asyncio.create_task(api.post("/v1/wastelands", headers=keyed(alice, key), json=CREATE))
    await entered.wait()  # the first is inside the registry, holding the key
    second = asyncio.create_task(api.post("/v1/wastelands", headers=keyed(alice, key), json=CREATE))
    await store.saw_running.wait()  # the second found it running and waits
    assert not second.done()
    gate.set()
    a, b = await asyncio.gather(first, second)
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json() == b.json()
    assert b.headers["Idempotent-Replayed"] == "true"
    assert backends.registry.common.calls["CreateWasteland"] == 1


async def test_replicas_share_the_keys(
    make_app: AppFactory, backends: Backends, alice: dict[str, str], db_url: str, clock: FakeClock
) -> None:
    _, one = await make_app(db_url)
    store = SignallingStore.from_url(db_url, clock)
    _, two = await make_app(db_url, idempotency=store)
    key = new_key()
    # Sequential repeats on another replica.
    first = await one.post("/v1/wastelands", headers=keyed(alice, key), json=CREATE)
    repeat = await two.post("/v1/wastelands", headers=keyed(alice, key), json=CREATE)
    assert repeat.json() == first.json()
    # A concurrent repeat on the other replica waits for the first (polling the table).
    gate = asyncio.Event()
    backends.registry.common.gates["CreateWasteland"] = gate
    entered = backends.registry.common.entered["CreateWasteland"] = asyncio.Event()
    key = new_key()
    a_task = asyncio.create_task(one.post("/v1/wastelands", headers=keyed(alice, key), json=CREATE))
    await entered.wait()
    b_task = asyncio.create_task(two.post("/v1/wastelands", headers=keyed(alice, key), json=CREATE))
    await store.saw_running.wait()
    gate.set()
    a, b = await asyncio.gather(a_task, b_task)
    assert a.json() == b.json()
    assert backends.registry.common.calls["CreateWasteland"] == 2  # once per key


async def test_keys_expire_after_the_ttl(
    make_app: AppFactory, backends: Backends, clock: FakeClock
) -> None:
    _, api = await make_app(IDEMPOTENCY_TTL_SECONDS=3600)
    alice = bearer("alice", ttl_seconds=10 * 3600)
    key = new_key()
    first = await api.post("/v1/wastelands", headers=keyed(alice, key), json=CREATE)
    clock.advance(3599)
    kept = await api.post("/v1/wastelands", headers=keyed(alice, key), json=CREATE)
    assert kept.json() == first.json()
    clock.advance(2)
    # Expired: the key is free again, and a different request may use it too.
    fresh = await api.post(
        "/v1/wastelands", headers=keyed(alice, key), json={**CREATE, "name": "Later"}
    )
    assert fresh.status_code == 201
    assert fresh.json()["wasteland_id"] != first.json()["wasteland_id"]


async def test_requests_that_are_not_authenticated_are_not_remembered(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    key = new_key()
    anonymous = await api.post("/v1/wastelands", headers={"Idempotency-Key": key}, json=CREATE)
    assert anonymous.status_code == 401
    first = await api.post("/v1/wastelands", headers=keyed(alice, key), json=CREATE)
    assert first.status_code == 201


@pytest.mark.parametrize("key", ["not a key!", "k" * 201, "-leading-dash", ""])
async def test_a_malformed_key_is_400(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str], key: str
) -> None:
    resp = await api.post("/v1/wastelands", headers=keyed(alice, key), json=CREATE)
    assert resp.status_code == 400
    assert resp.json()["error"]["details"][0]["field"] == "Idempotency-Key"
    assert "CreateWasteland" not in backends.registry.common.calls


async def test_openapi_documents_the_key_on_every_post_put_and_delete(
    make_app: AppFactory,
) -> None:
    app, api = await make_app()
    doc = (await api.get("/openapi.json")).json()
    changes = [
        (method.lower(), path)
        for method, path in routes_of(app)
        if path.startswith("/v1/") and method in ("POST", "PUT", "DELETE")
    ]
    assert ("post", "/v1/wastelands") in changes
    for method, path in changes:
        params = doc["paths"][path][method].get("parameters", [])
        keys = [p for p in params if p["in"] == "header" and p["name"] == "Idempotency-Key"]
        assert len(keys) == 1, (method, path)
        assert "400" in keys[0]["description"]


# ---------------------------------------------------------------------------- the store
async def test_the_store_claims_remembers_and_releases(db_url: str, clock: FakeClock) -> None:
    store = IdempotencyStore.from_url(db_url, clock, ttl_seconds=100, lease_seconds=10)
    try:
        digest = fingerprint("POST", "/v1/x", b"", b'{"a": 1}')
        claimed = store.begin("u", "k", digest)
        assert isinstance(claimed, Claimed)
        assert isinstance(store.begin("u", "k", digest), Running)
        assert isinstance(store.begin("u", "k", "other"), Mismatch)
        assert isinstance(store.begin("v", "k", digest), Claimed)  # per user
        # A failed request gives the key back.
        store.release("u", "k", claimed.holder)
        again = store.begin("u", "k", digest)
        assert isinstance(again, Claimed)
        headers = [("content-type", "application/json")]
        assert store.finish("u", "k", again.holder, status=201, headers=headers, body=b"{}")
        assert store.begin("u", "k", digest) == Stored(201, headers, b"{}")
        # Nothing is released once done.
        store.release("u", "k", again.holder)
        assert isinstance(store.begin("u", "k", digest), Stored)
        clock.advance(101)
        assert store.purge_expired() == 2
        assert isinstance(store.begin("u", "k", "other"), Claimed)
    finally:
        store.close()


async def test_an_abandoned_request_loses_its_key_after_the_lease(
    db_url: str, clock: FakeClock
) -> None:
    store = IdempotencyStore.from_url(db_url, clock, ttl_seconds=1000, lease_seconds=60)
    try:
        dead = store.begin("u", "k", "f")
        assert isinstance(dead, Claimed)
        clock.advance(59)
        assert isinstance(store.begin("u", "k", "f"), Running)
        clock.advance(2)
        alive = store.begin("u", "k", "f")
        assert isinstance(alive, Claimed)
        assert alive.holder != dead.holder
        # The presumed-dead holder can no longer record or release anything.
        assert not store.finish("u", "k", dead.holder, status=200, headers=[], body=b"")
        store.release("u", "k", dead.holder)
        assert isinstance(store.begin("u", "k", "f"), Running)
        assert store.finish("u", "k", alive.holder, status=200, headers=[], body=b"ok")
    finally:
        store.close()


def test_fingerprints_compare_json_by_content() -> None:
    a = fingerprint("POST", "/v1/x", b"", b'{"a": 1, "b": [1, 2]}')
    assert a == fingerprint("post", "/v1/x", b"", b'{"b":[1,2],"a":1}')
    assert a != fingerprint("POST", "/v1/x", b"", b'{"a": 1, "b": [2, 1]}')
    assert a != fingerprint("PUT", "/v1/x", b"", b'{"a": 1, "b": [1, 2]}')
    assert a != fingerprint("POST", "/v1/y", b"", b'{"a": 1, "b": [1, 2]}')
    assert a != fingerprint("POST", "/v1/x", b"q=1", b'{"a": 1, "b": [1, 2]}')
    assert fingerprint("POST", "/v1/x", b"", b"not json") != fingerprint(
        "POST", "/v1/x", b"", b"not  json"
    )


async def test_an_oversized_body_with_a_key_is_413(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(40):
            yield b"x" * 50_000
        yield b'"}'

    key = new_key()
    streamed = await api.post(
        "/v1/wastelands",
        headers={**keyed(alice, key), "Content-Type": "application/json"},
        content=chunks(),
    )
    assert streamed.status_code == 413
    assert streamed.json()["error"]["code"] == "OUT_OF_RANGE"
    # Nothing was claimed: the key is free for a proper request.
    ok = await api.post("/v1/wastelands", headers=keyed(alice, key), json=CREATE)
    assert ok.status_code == 201


async def test_a_result_is_kept_when_the_client_hung_up(db_url: str, clock: FakeClock) -> None:
    # The work is done once the route answered, whether or not the answer arrived.
    runs: list[int] = []

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        runs.append(1)
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b'{"n": %d}' % len(runs)})

    store = IdempotencyStore.from_url(db_url, clock)
    verifier = TokenVerifier(secret=DEV_JWT_SECRET, audience=AUDIENCE, now=clock)
    app = IdempotencyMiddleware(route, store=store, verifier=verifier, wait_seconds=5)
    headers = [
        (b"authorization", bearer("alice")["Authorization"].encode()),
        (b"idempotency-key", b"k-1"),
    ]
    scope: Scope = {
        "type": "http", "method": "POST", "path": "/v1/things", "query_string": b"",
        "headers": headers,
    }  # fmt: skip

    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def gone(message: Message) -> None:
        if message["type"] == "http.response.body":
            raise OSError("connection reset by peer")

    sent: list[Message] = []

    async def collect(message: Message) -> None:
        sent.append(message)

    try:
        with pytest.raises(OSError):
            await app(scope, receive, gone)
        await app(scope, receive, collect)
    finally:
        store.close()
    assert runs == [1]
    assert sent[0]["status"] == 201
    assert (b"idempotent-replayed", b"true") in sent[0]["headers"]
    assert sent[1]["body"] == b'{"n": 1}'
