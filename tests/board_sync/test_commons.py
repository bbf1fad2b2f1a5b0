"""Parsing DoltHub rows of the commons: every cell is checked, bad rows are skipped."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wl_board_sync import commons


def wanted_raw(**cells: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = {
        "id": "w-abc0000001",
        "title": "Fix the thing",
        "description": "It is broken",
        "project": "gastown",
        "type": "bug",
        "priority": "1",
        "tags": '["go","cli"]',
        "posted_by": "hop",
        "claimed_by": None,
        "status": "open",
        "effort_level": "small",
        "evidence_url": None,
        "sandbox_required": "0",
        "sandbox_scope": None,
        "sandbox_min_tier": None,
        "created_at": "2026-03-01 10:00:00",
        "updated_at": "2026-03-02 11:30:05",
    }
    row.update(cells)
    return row


def test_a_complete_wanted_row_parses_into_typed_values() -> None:
    parsed = commons.parse_wanted([wanted_raw()])
    assert parsed.skipped == 0
    (row,) = parsed.rows
    assert row.wanted_id == "w-abc0000001"
    assert row.priority == 1
    assert row.tags == ("go", "cli")
    assert row.status == "open"
    assert row.sandbox_required is False
    assert row.created_at == datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
    assert row.updated_at == datetime(2026, 3, 2, 11, 30, 5, tzinfo=UTC)


def test_null_cells_take_the_schema_defaults() -> None:
    (row,) = commons.parse_wanted(
        [
            wanted_raw(
                priority=None, tags=None, sandbox_required=None, created_at=None, description=None
            )
        ]
    ).rows
    assert row.priority == commons.DEFAULT_PRIORITY
    assert row.tags == ()
    assert row.sandbox_required is False
    assert row.created_at is None
    assert row.description is None


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("priority", "high"),
        ("priority", "1.5"),
        ("priority", "99999999999999999999"),
        ("tags", "not json"),
        ("tags", '{"a": 1}'),
        ("tags", "[1, 2]"),
        ("created_at", "yesterday"),
        ("created_at", "2026-13-01 10:00:00"),
        ("updated_at", "2026-02-30 10:00:00"),
        ("status", "done"),
        ("status", None),
        ("id", None),
        ("id", "   "),
        ("id", "w-" + "x" * 80),
        ("title", None),
        ("sandbox_required", "maybe"),
        ("sandbox_scope", "{broken"),
        ("posted_by", "h" * 300),
    ],
)
def test_a_row_with_a_bad_cell_is_skipped_and_the_others_kept(
    column: str, value: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    good = wanted_raw(id="w-good")
    bad = wanted_raw(id="w-bad")
    bad[column] = value
    parsed = commons.parse_wanted([good, bad, wanted_raw(id="w-good2")])
    assert [r.wanted_id for r in parsed.rows] == ["w-good", "w-good2"]
    assert parsed.skipped == 1
    assert column in caplog.text


def test_duplicate_ids_keep_the_first_row() -> None:
    parsed = commons.parse_wanted([wanted_raw(title="first"), wanted_raw(title="second")])
    assert [r.title for r in parsed.rows] == ["first"]
    assert parsed.skipped == 1


def test_timestamps_accept_fractions_and_dolts_zero_value() -> None:
    row = {"t": "2026-03-01 10:00:00.250"}
    assert commons.timestamp(row, "t") == datetime(2026, 3, 1, 10, 0, 0, 250000, tzinfo=UTC)
    assert commons.timestamp({"t": "0000-00-00 00:00:00"}, "t") is None


def test_completion_rows_need_an_id_and_an_item() -> None:
    rows: list[dict[str, str | None]] = [
        {
            "id": "c-1",
            "wanted_id": "w-1",
            "completed_by": "alice",
            "validated_by": None,
            "completed_at": "2026-03-01 10:00:00",
            "validated_at": None,
        },
        {"id": "c-2", "wanted_id": None},
        {"id": "c-3", "wanted_id": "w-3", "completed_at": "soon"},
    ]
    parsed = commons.parse_completions(rows)
    assert [c.completion_id for c in parsed.rows] == ["c-1"]
    assert parsed.skipped == 2


def test_stamps_split_the_valence_and_reject_bad_scores() -> None:
    base = {
        "id": "s-1",
        "author": "hop",
        "subject": "alice",
        "confidence": "1",
        "severity": "leaf",
        "context_id": "c-1",
        "context_type": "completion",
        "skill_tags": '["go"]',
        "created_at": "2026-03-01 10:00:00",
    }
    rows: list[dict[str, str | None]] = [
        {**base, "valence": '{"quality": 4, "reliability": 5}'},
        {**base, "id": "s-2", "valence": '{"quality": "great"}'},
        {**base, "id": "s-3", "valence": "[4, 5]"},
        {**base, "id": "s-4", "valence": '{"quality": 3.0}'},
        {**base, "id": "s-5", "valence": '{"quality": 3}', "confidence": "very"},
    ]
    parsed = commons.parse_stamps(rows)
    assert [(s.stamp_id, s.quality, s.reliability) for s in parsed.rows] == [
        ("s-1", 4, 5),
        ("s-4", 3, 0),
    ]
    assert parsed.rows[0].skill_tags == ("go",)
    assert parsed.skipped == 3


def test_rig_rows_check_the_trust_level() -> None:
    rows: list[dict[str, str | None]] = [
        {"handle": "alice", "trust_level": "1", "registered_at": "2026-03-01 10:00:00"},
        {"handle": "bob", "trust_level": "one"},
        {"handle": None, "trust_level": "1"},
    ]
    parsed = commons.parse_rigs(rows)
    assert [(r.handle, r.trust_level) for r in parsed.rows] == [("alice", 1)]
    assert parsed.skipped == 2


cells = st.one_of(st.none(), st.text(max_size=40))


@given(st.lists(st.dictionaries(st.sampled_from(list(wanted_raw())), cells), max_size=8))
def test_arbitrary_rows_never_crash_the_parser(rows: list[dict[str, str | None]]) -> None:
    parsed = commons.parse_wanted(rows)
    assert len(parsed.rows) + parsed.skipped == len(rows)
    for row in parsed.rows:
        assert row.status in commons.STATUSES
