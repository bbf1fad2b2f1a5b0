"""Board reads' access decisions: cached per token, dropped on the registry's changes."""

from __future__ import annotations

import asyncio

import httpx
from wl_gateway.access import AccessCache

from .conftest import AppFactory, bearer
from .fakes import Backends

# A bound on waiting for a stream message (a failure, never a timing assertion).
WAIT = 30.0


async def live_app(
    make_app: AppFactory, backends: Backends
) -> tuple[AccessCache, httpx.AsyncClient]:
    backends.registry.serve_access_changes = True
    app, api = await make_app()
    cache: AccessCache = app.state.deps.access.cache
    return cache, api


async def test_a_removed_member_is_refused_on_the_next_browse(
    make_app: AppFactory, backends: Backends
) -> None:
    wid = backends.registry.seed("alice", visibility="private")
    cache, api = await live_app(make_app, backends)
    alice, bob = bearer("alice"), bearer("bob")
    add = await api.post(
        f"/v1/wastelands/{wid}/members",
        headers=alice,
        json={"user_id": "bob", "role": "contributor", "trust_level": 1},
    )
    assert add.status_code == 201, add.text
    calls = backends.registry.common.calls
    first = await api.get(f"/v1/wastelands/{wid}/wanted", headers=bob)
    assert first.status_code == 200, first.text
    await asyncio.wait_for(cache.wait_for(lambda c: c.enabled), WAIT)
    # Stored once the stream is live; the next reads are answered from the cache.
    await api.get(f"/v1/wastelands/{wid}/wanted", headers=bob)
    asked = calls["GetWasteland"]
    again = await api.get(f"/v1/wastelands/{wid}/wanted", headers=bob)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert calls["GetWasteland"] == asked
    # Another token is never answered with bob's decision.
    carol = await api.get(f"/v1/wastelands/{wid}/wanted", headers=bearer("carol"))
    assert carol.status_code == 404
    assert calls["GetWasteland"] == asked + 1

    before = cache.cursor
    removed = await api.delete(f"/v1/wastelands/{wid}/members/bob", headers=alice)
    assert removed.status_code == 204, removed.text
    await asyncio.wait_for(cache.wait_for(lambda c: c.cursor > before), WAIT)
    refused = await api.get(f"/v1/wastelands/{wid}/wanted", headers=bob)
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "NOT_FOUND"


async def test_made_private_or_deleted_stops_being_served(
    make_app: AppFactory, backends: Backends
) -> None:
    wid = backends.registry.seed("alice")
    cache, api = await live_app(make_app, backends)
    alice, bob = bearer("alice"), bearer("bob")
    assert (await api.get(f"/v1/wastelands/{wid}/wanted", headers=bob)).status_code == 200
    await asyncio.wait_for(cache.wait_for(lambda c: c.enabled), WAIT)
    assert (await api.get(f"/v1/wastelands/{wid}/wanted", headers=bob)).status_code == 200
    assert (await api.get(f"/v1/wastelands/{wid}/wanted", headers=alice)).status_code == 200
    before = cache.cursor
    private = await api.patch(
        f"/v1/wastelands/{wid}", headers=alice, json={"visibility": "private"}
    )
    assert private.status_code == 200, private.text
    await asyncio.wait_for(cache.wait_for(lambda c: c.cursor > before), WAIT)
    assert (await api.get(f"/v1/wastelands/{wid}/wanted", headers=bob)).status_code == 404
    assert (await api.get(f"/v1/wastelands/{wid}/wanted", headers=alice)).status_code == 200

    before = cache.cursor
    deleted = await api.delete(f"/v1/wastelands/{wid}", headers=alice)
    assert deleted.status_code == 204, deleted.text
    await asyncio.wait_for(cache.wait_for(lambda c: c.cursor > before), WAIT)
    assert (await api.get(f"/v1/wastelands/{wid}/wanted", headers=alice)).status_code == 404


async def test_without_the_stream_every_read_asks_the_registry(
    api: httpx.AsyncClient, backends: Backends
) -> None:
    wid = backends.registry.seed("alice")
    calls = backends.registry.common.calls
    for n in range(3):
        assert (
            await api.get(f"/v1/wastelands/{wid}/wanted", headers=bearer("bob"))
        ).status_code == 200
        assert calls["GetWasteland"] == n + 1


def test_an_answer_fetched_across_an_invalidation_is_not_kept() -> None:
    cache = AccessCache(ttl_seconds=30, max_entries=2, clock=lambda: 0.0)
    cache._live = True
    epoch = cache.epoch
    cache.drop("wl-1")
    cache.put("token", "wl-1", "stale", epoch)
    assert cache.get("token", "wl-1") is None
    cache.put("token", "wl-1", "fresh", cache.epoch)
    assert cache.get("token", "wl-1") == "fresh"
    for n in range(3):
        cache.put(f"t{n}", "wl-2", n, cache.epoch)
    assert len(cache) == 2  # bounded, oldest first out
    assert cache.get("token", "wl-1") is None
