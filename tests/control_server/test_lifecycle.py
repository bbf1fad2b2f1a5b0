"""Parsing DoltHub rows of the wanted table into typed values."""

from __future__ import annotations

from datetime import UTC, datetime

from wl_control_server.lifecycle import WantedRow
from wl_control_server.operations import is_http_url
from wl_control_server.rigs import Commons, Rig, join_args


def test_full_row() -> None:
    row = WantedRow.from_row(
        {
            "id": "w-0123456789",
            "title": "Fix it",
            "description": None,
            "project": "core",
            "type": "bug",
            "priority": "1",
            "tags": '["a", "b"]',
            "posted_by": "hop",
            "claimed_by": "alice",
            "status": "claimed",
            "effort_level": "small",
            "sandbox_required": "1",
            "sandbox_scope": '{"net": false}',
            "sandbox_min_tier": "t1",
            "created_at": "2026-03-01 12:30:00",
            "updated_at": "2026-03-02T08:00:00Z",
            "evidence_url": None,
            "unexpected": "ignored",
        }
    )
    assert row.wanted_id == "w-0123456789"
    assert row.description == ""
    assert row.priority == 1
    assert row.tags == ("a", "b")
    assert row.sandbox_required is True
    assert row.created_at == datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    assert row.updated_at == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    item = row.to_proto()
    assert item.wanted_id == "w-0123456789"
    assert list(item.tags) == ["a", "b"]
    assert item.created_at.ToDatetime(tzinfo=UTC) == row.created_at
    assert item.status == "claimed"


def test_malformed_cells_fall_back_to_defaults() -> None:
    row = WantedRow.from_row(
        {"id": "w-1", "priority": "high", "tags": "not json", "created_at": "yesterday"}
    )
    assert row.priority == 2
    assert row.tags == ()
    assert row.created_at is None
    assert not row.to_proto().HasField("created_at")
    assert WantedRow.from_row({"id": "w-1", "tags": '{"a": 1}'}).tags == ()


def test_evidence_urls() -> None:
    assert is_http_url("https://github.com/x/y/pull/1")
    assert is_http_url("http://example.com")
    for bad in ("", "github.com/x", "ftp://x/y", "https://", "https://a b", "javascript:x"):
        assert not is_http_url(bad), bad


def test_join_args_cannot_be_read_as_flags() -> None:
    rig = Rig(handle="alice", org="alice", token="tok-secret-xyz")
    args = join_args(Commons("hop", "wl-commons"), rig, display_name="-rf", email="a@b.c")
    assert args == [
        "join",
        "hop/wl-commons",
        "--handle=alice",
        "--fork-org=alice",
        "--display-name=-rf",
        "--email=a@b.c",
    ]
    assert "tok-secret-xyz" not in repr(rig)
    assert "tok-secret-xyz" not in " ".join(args)
