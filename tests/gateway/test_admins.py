"""Kilo site admins read every wasteland and change nothing, on every mutating route.

The list of routes comes from the app itself, so a route added later is covered
without touching this file.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi import FastAPI

from .conftest import AppFactory, bearer, routes_of
from .fakes import Backends

MUTATING = ("POST", "PUT", "PATCH", "DELETE")
ROOT = bearer("root", is_admin=True)  # a site admin with no other standing
# Read-only calls the guard may make; anything else reaching a backend is a change.
READS = {"GetWasteland"}


def mutating_routes(app: FastAPI) -> list[tuple[str, str]]:
    return [(m, p) for m, p in routes_of(app) if m in MUTATING and p.startswith("/v1/")]


def concrete(path: str, wasteland_id: str) -> str:
    """The path with its parameters filled in (the wasteland, anything well-formed)."""
    filled = path.replace("{wasteland_id}", wasteland_id)
    return re.sub(r"\{[a-z_]+\}", "x-1", filled)


def backend_calls(backends: Backends) -> dict[str, int]:
    calls: dict[str, int] = {}
    for fake in (backends.registry, backends.board, backends.executor):
        calls.update(fake.common.calls)
    return calls


async def test_every_mutating_route_refuses_an_admin_without_standing(
    make_app: AppFactory, backends: Backends
) -> None:
    app, api = await make_app()
    wid = backends.registry.seed("alice", visibility="public")
    backends.registry.connect(wid, "alice", "alice", "alice-rig")
    routes = mutating_routes(app)
    scoped = [(m, p) for m, p in routes if "{wasteland_id}" in p]
    # Every mutating route is scoped to a wasteland except creating one (the registry
    # decides that as for any user). A new unscoped route must be decided here.
    assert sorted(set(routes) - set(scoped)) == [("POST", "/v1/wastelands")]
    assert len(scoped) >= 17
    # Reading stays allowed.
    seen = await api.get(f"/v1/wastelands/{wid}", headers=ROOT)
    assert seen.status_code == 200
    assert seen.json()["my_role"] == "viewer"
    for method, path in scoped:
        before = backend_calls(backends)
        kwargs: dict[str, Any] = {"headers": ROOT}
        if method != "DELETE":
            kwargs["json"] = {}
        resp = await api.request(method, concrete(path, wid), **kwargs)
        assert resp.status_code == 403, (method, path, resp.text)
        assert resp.json()["error"]["code"] == "PERMISSION_DENIED"
        after = backend_calls(backends)
        changed = {k for k in after if after[k] != before.get(k, 0)}
        assert changed <= READS, (method, path, changed)


async def test_an_admin_who_is_a_member_keeps_the_members_rights(
    api: httpx.AsyncClient, backends: Backends
) -> None:
    wid = backends.registry.seed("alice", visibility="public")
    owner_admin = bearer("alice", is_admin=True)
    renamed = await api.patch(f"/v1/wastelands/{wid}", headers=owner_admin, json={"name": "New"})
    assert renamed.status_code == 200, renamed.text
    woke = await api.post(f"/v1/wastelands/{wid}/runtime:wake", headers=owner_admin)
    assert woke.status_code == 202


async def test_ordinary_readers_are_left_to_the_backends(
    api: httpx.AsyncClient, backends: Backends
) -> None:
    # Any signed-in user may connect to a public wasteland; the guard is for admins only.
    wid = backends.registry.seed("alice", visibility="public")
    resp = await api.put(
        f"/v1/wastelands/{wid}/credential",
        headers=bearer("bob"),
        json={"dolthub_token": "tok-123456", "dolthub_org": "bob"},
    )
    assert resp.status_code == 200, resp.text
    assert "GetWasteland" not in backends.registry.common.calls


async def test_an_admin_on_a_wasteland_that_does_not_exist_gets_404(
    api: httpx.AsyncClient, backends: Backends
) -> None:
    resp = await api.post("/v1/wastelands/nope/join", headers=ROOT, json={})
    assert resp.status_code == 404
