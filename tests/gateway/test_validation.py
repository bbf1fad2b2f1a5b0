"""Bad input answers 400 with the field named; no input ever yields a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import AppFactory, bearer
from .fakes import Backends


def fields_of(resp: httpx.Response) -> list[str]:
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "INVALID_ARGUMENT"
    return [d["field"] for d in error["details"]]


CREATE_OK: dict[str, Any] = {"name": "Demo", "owner": {"type": "user"}, "visibility": "public"}

CREATE_CASES = [
    ({**CREATE_OK, "name": 5}, "name"),
    ({**CREATE_OK, "name": ""}, "name"),
    ({**CREATE_OK, "name": "x" * 101}, "name"),
    ({**CREATE_OK, "name": "line\nbreak"}, "name"),
    ({**CREATE_OK, "visibility": "secret"}, "visibility"),
    ({**CREATE_OK, "visibility": None}, "visibility"),
    ({**CREATE_OK, "owner": {"type": "team"}}, "owner.type"),
    ({**CREATE_OK, "owner": {"type": "org"}}, "owner.org_id"),
    ({**CREATE_OK, "owner": {"type": "user", "org_id": "o1"}}, "owner.org_id"),
    ({**CREATE_OK, "owner": "user"}, "owner"),
    ({**CREATE_OK, "upstream": "no-slash"}, "upstream"),
    ({**CREATE_OK, "upstream": "a/b/c"}, "upstream"),
    ({**CREATE_OK, "dolthub_org": "bad org"}, "dolthub_org"),
    ({"owner": {"type": "user"}, "visibility": "public"}, "name"),
    ([1, 2, 3], "body"),
    ("just a string", "body"),
]


@pytest.mark.parametrize(("body", "field"), CREATE_CASES)
async def test_create_wasteland_rejects(
    api: httpx.AsyncClient, alice: dict[str, str], body: Any, field: str
) -> None:
    resp = await api.post("/v1/wastelands", headers=alice, json=body)
    assert field in fields_of(resp)


async def test_bad_json_and_missing_body(api: httpx.AsyncClient, alice: dict[str, str]) -> None:
    bad = await api.post(
        "/v1/wastelands", headers={**alice, "Content-Type": "application/json"}, content=b"{nope"
    )
    assert fields_of(bad) == ["body"]
    assert "invalid JSON" in bad.json()["error"]["details"][0]["description"]
    missing = await api.post("/v1/wastelands", headers=alice)
    assert fields_of(missing) == ["body"]
    as_text = await api.post(
        "/v1/wastelands", headers={**alice, "Content-Type": "text/plain"}, content=b"hello"
    )
    assert as_text.status_code == 400


async def test_oversized_body_is_refused(api: httpx.AsyncClient, alice: dict[str, str]) -> None:
    huge = {**CREATE_OK, "padding": "x" * 2_000_000}
    resp = await api.post("/v1/wastelands", headers=alice, json=huge)
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "OUT_OF_RANGE"

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(40):
            yield b"x" * 50_000
        yield b'"}'

    streamed = await api.post(
        "/v1/wastelands",
        headers={**alice, "Content-Type": "application/json"},
        content=chunks(),
    )
    assert streamed.status_code == 413
    assert streamed.json()["error"]["code"] == "OUT_OF_RANGE"


async def test_unknown_extra_fields_are_ignored(
    api: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    resp = await api.post("/v1/wastelands", headers=alice, json={**CREATE_OK, "colour": "red"})
    assert resp.status_code == 201, resp.text


ACTION_CASES = [
    ("wanted", {"title": "t", "type": "chore", "priority": 1}, "type"),
    ("wanted", {"title": "t", "type": "bug", "priority": 5}, "priority"),
    ("wanted", {"title": "t", "type": "bug", "priority": "1"}, "priority"),
    ("wanted", {"title": "t", "type": "bug", "priority": True}, "priority"),
    ("wanted", {"title": "x" * 201, "type": "bug", "priority": 1}, "title"),
    ("wanted", {"title": "t", "type": "bug", "priority": 1, "description": "d" * 10001},
     "description"),
    ("wanted", {"title": "t", "type": "bug", "priority": 1, "effort_level": "huge"},
     "effort_level"),
    ("wanted", {"title": "t", "type": "bug", "priority": 1, "tags": "go"}, "tags"),
    ("wanted", {"title": "t", "type": "bug", "priority": 1, "tags": ["ok", 3]}, "tags[1]"),
    ("wanted", {"type": "bug", "priority": 1}, "title"),
    ("wanted/w-1/done", {"evidence": "ftp://example.com/x"}, "evidence"),
    ("wanted/w-1/done", {"evidence": "not a url"}, "evidence"),
    ("wanted/w-1/done", {"evidence": "https://" + "e" * 2000 + ".com"}, "evidence"),
    ("wanted/w-1/done", {"evidence": "https:///path-only"}, "evidence"),
    ("wanted/w-1/done", {}, "evidence"),
    ("wanted/w-1/accept", {"quality": 0, "reliability": 3}, "quality"),
    ("wanted/w-1/accept", {"quality": 3, "reliability": 6}, "reliability"),
    ("wanted/w-1/accept", {"quality": 3, "reliability": 3, "severity": "trunk"}, "severity"),
    ("wanted/w-1/reject", {"reason": 7}, "reason"),
    ("join", {"rig_handle": "has space"}, "rig_handle"),
    ("join", {"owner_email": "nobody"}, "owner_email"),
    ("credential", {"dolthub_token": "t", "dolthub_org": "a/b"}, "dolthub_org"),
    ("members", {"user_id": "carol", "role": "owner", "trust_level": 1}, "role"),
    ("members", {"user_id": "carol", "role": "contributor", "trust_level": 4}, "trust_level"),
    ("towns", {"town_id": "t1", "rig_handle": "r", "owner_email": 3}, "owner_email"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "field"), ACTION_CASES)
async def test_action_bodies_reject(
    api: httpx.AsyncClient,
    backends: Backends,
    alice: dict[str, str],
    path: str,
    body: Any,
    field: str,
) -> None:
    wid = backends.registry.seed("alice")
    method = "PUT" if path == "credential" else "POST"
    resp = await api.request(method, f"/v1/wastelands/{wid}/{path}", headers=alice, json=body)
    assert field in fields_of(resp)


QUERY_CASES = [
    ({"page_size": "0"}, "page_size"),
    ({"page_size": "201"}, "page_size"),
    ({"page_size": "many"}, "page_size"),
    ({"status": "bogus"}, "status"),
    ({"type": "chore"}, "type"),
    ({"priority": "9"}, "priority"),
    ({"sort": "random"}, "sort"),
    ({"mine": "yes"}, "mine"),
    ({"q": "q" * 201}, "q"),
]


@pytest.mark.parametrize(("params", "field"), QUERY_CASES)
async def test_browse_query_rejects(
    api: httpx.AsyncClient,
    backends: Backends,
    alice: dict[str, str],
    params: dict[str, str],
    field: str,
) -> None:
    wid = backends.registry.seed("alice")
    resp = await api.get(f"/v1/wastelands/{wid}/wanted", headers=alice, params=params)
    assert fields_of(resp) == [field]


async def test_path_ids_are_checked(api: httpx.AsyncClient, alice: dict[str, str]) -> None:
    assert fields_of(await api.get("/v1/wastelands/" + "w" * 201, headers=alice)) == [
        "wasteland_id"
    ]
    assert "wanted_id" in fields_of(
        await api.post("/v1/wastelands/wl-1/wanted/%20bad/claim", headers=alice)
    )


async def test_non_standard_json_numbers(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    raw = b'{"title": "t", "type": "bug", "priority": NaN, "tags": [Infinity]}'
    resp = await api.post(
        f"/v1/wastelands/{wid}/wanted",
        headers={**alice, "Content-Type": "application/json"},
        content=raw,
    )
    assert {"priority", "tags[0]"} <= set(fields_of(resp))


# --------------------------------------------------------------------------- fuzzing
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[dict[str, Any]]) -> Any:
    """A valid body, left alone, with a key dropped, or with a key given an odd value."""
    body = dict(draw(valid))
    how = draw(st.sampled_from(["keep", "drop", "junk", "extra"]))
    if how == "drop" and body:
        body.pop(draw(st.sampled_from(sorted(body))))
    elif how == "junk" and body:
        body[draw(st.sampled_from(sorted(body)))] = draw(json_values)
    elif how == "extra":
        body[draw(st.text(max_size=8))] = draw(json_values)
    return body


names = st.text(st.characters(categories=["L", "N", "Zs"]), min_size=1, max_size=110)
VALID_CREATE = st.fixed_dictionaries(
    {
        "name": names,
        "owner": st.just({"type": "user"})
        | st.fixed_dictionaries({"type": st.just("org"), "org_id": st.text(max_size=5)}),
        "visibility": st.sampled_from(["public", "private"]),
    },
    optional={
        "upstream": st.sampled_from(["hop/wl-commons", "bad", "a/b/c"]),
        "dolthub_org": st.sampled_from(["alice", "bad org"]),
    },
)
CREATE_BODIES = json_values | mutated(VALID_CREATE)

ACTION_VALID: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "wanted": st.fixed_dictionaries(
        {
            "title": names,
            "type": st.sampled_from(["bug", "feature", "inference"]),
            "priority": st.integers(-1, 5),
        },
        optional={
            "description": st.text(max_size=50),
            "tags": st.lists(st.text(max_size=70), max_size=22),
            "effort_level": st.sampled_from(["small", "huge"]),
            "sandbox_scope": json_values,
            "sandbox_required": st.booleans(),
        },
    ),
    "wanted/w-1/done": st.fixed_dictionaries(
        {
            "evidence": st.sampled_from(
                ["https://x.y/z", "http://[::1", "javascript:x", "http://h:99999/", ""]
            )
            | st.text(max_size=40)
        }
    ),
    "wanted/w-1/accept": st.fixed_dictionaries(
        {"quality": st.integers(0, 6), "reliability": st.integers(0, 6)},
        optional={
            "severity": st.sampled_from(["leaf", "root", "stem"]),
            "skill_tags": st.lists(st.text(max_size=10), max_size=3),
            "message": st.text(max_size=30),
        },
    ),
    "wanted/w-1/reject": st.fixed_dictionaries({}, optional={"reason": st.text(max_size=30)}),
    "join": st.fixed_dictionaries(
        {},
        optional={
            "rig_handle": st.sampled_from(["bobs-rig", "has space", ""]),
            "display_name": names,
            "owner_email": st.sampled_from(["a@b.c", "nobody"]),
        },
    ),
}
ACTION_BODIES = st.sampled_from(sorted(ACTION_VALID)).flatmap(
    lambda path: st.tuples(st.just(path), json_values | mutated(ACTION_VALID[path]))
)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
async def fuzz_api(make_app: AppFactory) -> httpx.AsyncClient:
    # Limits out of the way: fuzzing counts requests, not rate limiting.
    _, http = await make_app(RATE_LIMIT_POST=100_000, RATE_LIMIT_DONE=100_000)
    return http


@FUZZ
@given(body=CREATE_BODIES)
async def test_fuzz_create_wasteland_never_500(fuzz_api: httpx.AsyncClient, body: Any) -> None:
    resp = await fuzz_api.post("/v1/wastelands", headers=bearer("fuzzer"), json=body)
    # 403: the fake registry refuses org wastelands (the caller is in no org).
    assert resp.status_code in (201, 400, 403), resp.text
    assert set(resp.json()) >= ({"wasteland_id"} if resp.status_code == 201 else {"error"})


@FUZZ
@given(case=ACTION_BODIES)
async def test_fuzz_action_bodies_never_500(
    fuzz_api: httpx.AsyncClient, backends: Backends, case: tuple[str, Any]
) -> None:
    path, body = case
    wid = backends.registry.seed("fuzzer")
    backends.registry.connect(wid, "fuzzer", "fuzzer")
    resp = await fuzz_api.post(f"/v1/wastelands/{wid}/{path}", headers=bearer("fuzzer"), json=body)
    assert resp.status_code in (200, 400), resp.text
    if resp.status_code == 400:
        assert resp.json()["error"]["code"] == "INVALID_ARGUMENT"
        assert resp.json()["error"]["details"]


@FUZZ
@given(raw=st.binary(max_size=60))
async def test_fuzz_raw_bytes_never_500(fuzz_api: httpx.AsyncClient, raw: bytes) -> None:
    resp = await fuzz_api.post(
        "/v1/wastelands",
        headers={**bearer("fuzzer"), "Content-Type": "application/json"},
        content=raw,
    )
    assert resp.status_code in (201, 400), resp.text
