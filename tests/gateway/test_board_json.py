"""The hot board reads (browse, counts, one item) encode their JSON straight from the
proto, skipping the response model: the bytes must be exactly what FastAPI would have
sent through ``response_model`` (same fields, order, nulls, times, pending markers)."""

from __future__ import annotations

from typing import Any

import httpx
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, TypeAdapter
from wasteland.v1 import board_pb2, common_pb2
from wl_gateway import schemas

from .fakes import Backends


def model_json(model: type[BaseModel], value: BaseModel) -> bytes:
    """What FastAPI sends for ``value`` under ``response_model=model``."""
    return TypeAdapter(model).dump_json(value)


FULL = common_pb2.WantedItem(
    wanted_id="w-1",
    title="Fïx the “flaky” sync ✓",  # non-ASCII goes out as UTF-8, not \u escapes
    description='line one\nline "two"\t\\',
    project="gastown",
    type="bug",
    priority=1,
    tags=["go", "cli", "日本"],
    posted_by="hop",
    claimed_by="alice",
    status="in_review",
    effort_level="medium",
    sandbox_required=True,
    sandbox_scope='{"net": false}',
    sandbox_min_tier="t2",
    created_at=Timestamp(seconds=1_700_000_000),
    updated_at=Timestamp(seconds=1_700_000_120, nanos=123_456_000),
    evidence_url="https://example.com/pr/1",
    pending=True,
    pending_pull_id="42",
)
# Every optional field unset: nulls, empty lists, false flags, no times.
BARE = common_pb2.WantedItem(wanted_id="w-2", title="", status="open")
EDGES = common_pb2.WantedItem(
    wanted_id="w-3",
    title="tiny times",
    status="open",
    created_at=Timestamp(seconds=0, nanos=1_000),  # just after the epoch, not "unset"
    updated_at=Timestamp(seconds=253_402_300_799, nanos=999_999_999),  # year 9999
)


def test_a_browse_page_encodes_like_the_response_model() -> None:
    for synced, stale, token in (
        (Timestamp(seconds=1_700_000_000), True, "next"),
        (None, False, ""),
    ):
        resp = board_pb2.BrowseResponse(
            items=[FULL, BARE, EDGES], next_page_token=token, synced_at=synced, stale=stale
        )
        expected = schemas.WantedPage(
            items=[schemas.wanted_item(i) for i in resp.items],
            next_page_token=resp.next_page_token,
            synced_at=schemas.timestamp(resp.synced_at) if synced else None,
            stale=resp.stale,
        )
        assert schemas.json_bytes(schemas.wanted_page_fields(resp)) == model_json(
            schemas.WantedPage, expected
        )
    empty = schemas.WantedPage(items=[], next_page_token="", synced_at=None, stale=False)
    assert schemas.json_bytes(schemas.EMPTY_WANTED_PAGE) == model_json(schemas.WantedPage, empty)


def test_one_item_and_counts_encode_like_the_response_model() -> None:
    completion = common_pb2.Completion(
        completion_id="c-1",
        wanted_id="w-1",
        completed_by="alice",
        evidence="https://example.com/e",
        completed_at=Timestamp(seconds=1_700_000_500),
    )
    stamp = common_pb2.Stamp(
        stamp_id="s-1", author="hop", subject="alice", quality=4, reliability=5,
        skill_tags=["go"], created_at=Timestamp(seconds=1_700_000_600),
    )  # fmt: skip
    for completions, stamps in (([completion, common_pb2.Completion()], [stamp]), ([], [])):
        resp = board_pb2.GetWantedItemResponse(item=FULL, completions=completions, stamps=stamps)
        expected = schemas.WantedDetail(
            item=schemas.wanted_item(resp.item),
            completions=[schemas.completion(c) for c in resp.completions],
            stamps=[schemas.stamp(s) for s in resp.stamps],
        )
        assert schemas.json_bytes(schemas.wanted_detail_fields(resp)) == model_json(
            schemas.WantedDetail, expected
        )
    for by_status in ({}, {"open": 3, "claimed": 1}, {"open": 1, "someday": 2}):
        counts = board_pb2.CountWantedResponse(by_status=by_status)
        fields = schemas.wanted_counts_fields(counts.by_status)
        assert schemas.json_bytes(fields) == model_json(
            schemas.WantedCounts, schemas.WantedCounts(**fields)
        )
        assert set(fields["by_status"]) >= set(schemas.WANTED_STATUSES)


def test_the_field_builders_follow_the_models() -> None:
    """A field added to a model and not to its builder (or the other way) fails here."""
    pairs: list[tuple[type[BaseModel], dict[str, Any]]] = [
        (schemas.WantedItem, schemas.wanted_item_fields(FULL)),
        (schemas.Completion, schemas.completion_fields(common_pb2.Completion())),
        (schemas.Stamp, schemas.stamp_fields(common_pb2.Stamp())),
        (schemas.WantedPage, schemas.EMPTY_WANTED_PAGE),
        (schemas.WantedDetail, schemas.wanted_detail_fields(board_pb2.GetWantedItemResponse())),
        (schemas.WantedCounts, schemas.wanted_counts_fields({})),
    ]
    for model, fields in pairs:
        assert list(fields) == list(model.model_fields), model.__name__


async def test_the_routes_answer_with_those_bytes_and_keep_the_limit_headers(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    page = await api.get(f"/v1/wastelands/{wid}/wanted", headers=alice)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"] == "application/json"
    assert page.headers["content-length"] == str(len(page.content))
    assert page.headers["RateLimit-Policy"] == "60;w=60"
    assert "remaining=" in page.headers["RateLimit"]
    parsed = schemas.WantedPage.model_validate_json(page.content)
    assert page.content == model_json(schemas.WantedPage, parsed)
    assert len(parsed.items) == 5
    detail = await api.get(f"/v1/wastelands/{wid}/wanted/w-3", headers=alice)
    assert detail.status_code == 200, detail.text
    assert detail.content == model_json(
        schemas.WantedDetail, schemas.WantedDetail.model_validate_json(detail.content)
    )
    counts = await api.get(f"/v1/wastelands/{wid}/wanted:counts", headers=alice)
    assert counts.status_code == 200, counts.text
    assert counts.json()["by_status"]["open"] == 3
    # mine=true without a rig: the fixed empty page.
    mine = await api.get(f"/v1/wastelands/{wid}/wanted", headers=alice, params={"mine": "true"})
    assert mine.json() == {"items": [], "next_page_token": "", "synced_at": None, "stale": False}
    assert mine.headers["RateLimit-Policy"] == "60;w=60"
