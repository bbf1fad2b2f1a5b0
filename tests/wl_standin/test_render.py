"""Output rendering: browse table and JSON, status block, mutation summaries, colour."""

from __future__ import annotations

from wl_standin import render
from wl_standin.commons import CompletionRecord, Stamp, WantedItem, WantedSummary
from wl_standin.sdk import DetailResult, MutationResult
from wl_standin.style import Styler, strip_ansi

PLAIN = Styler(enabled=False)


def test_browse_table_layout_and_truncation() -> None:
    items = [
        WantedSummary(
            "w-abcdef1234", "T" * 45, "", "gastown", "feature", 0, "alice", "", "open", "small"
        ),
        WantedSummary("w-2", "Short", "", "", "", 7, "", "", "claimed", "medium"),
    ]
    text = render.browse_table(PLAIN, items, long=False)
    lines = text.split("\n")
    assert lines[0] == "Wanted items (2):"
    assert lines[1] == ""
    assert lines[2] == (
        "  ID           TITLE                                    PROJECT      TYPE        PRI "
        "POSTED BY        STATUS     EFFORT  "
    )
    assert lines[3] == "  " + "─" * 119  # 112 columns + 7 separators
    # 45-char title cut to 37 chars + "..."; priority right-aligned as P0; unknown priority raw.
    assert lines[4] == (
        "  w-abcdef1234 "
        + "T" * 37
        + "... gastown      feature      P0 alice            open       small   "
    )
    assert lines[5].startswith("  w-2          Short")
    assert "   7 " in lines[5]
    assert text.endswith("\n")


def test_browse_table_long_adds_description_column() -> None:
    items = [WantedSummary("w-1", "t", "described", "", "", 2, "", "", "open", "medium")]
    header = render.browse_table(PLAIN, items, long=True).split("\n")[2]
    assert "TITLE                                    DESCRIPTION " in header
    assert (
        render.browse_table(PLAIN, [], long=False)
        == "No wanted items found matching your filters.\n"
    )


def test_browse_json_shapes() -> None:
    assert render.browse_json([]) == "null\n"
    items = [
        WantedSummary("w-1", "a<b", "", "", "", 2, "", "", "open", "medium"),
        WantedSummary("w-2", "t", "d", "p", "bug", 0, "alice", "bob", "claimed", "small"),
    ]
    assert render.browse_json(items) == (
        "[\n"
        "  {\n"
        '    "id": "w-1",\n'
        '    "title": "a\\u003cb",\n'
        '    "priority": 2,\n'
        '    "status": "open",\n'
        '    "effort_level": "medium"\n'
        "  },\n"
        "  {\n"
        '    "id": "w-2",\n'
        '    "title": "t",\n'
        '    "description": "d",\n'
        '    "project": "p",\n'
        '    "type": "bug",\n'
        '    "priority": 0,\n'
        '    "posted_by": "alice",\n'
        '    "claimed_by": "bob",\n'
        '    "status": "claimed",\n'
        '    "effort_level": "small"\n'
        "  }\n"
        "]\n"
    )


def test_status_block_full() -> None:
    detail = DetailResult(
        item=WantedItem(
            id="w-1",
            title="Fix",
            description="Long text",
            project="gt",
            type="bug",
            priority=1,
            tags=["go", "auth"],
            posted_by="hop",
            claimed_by="bob",
            status="completed",
            effort_level="small",
            created_at="2026-03-01 10:00:00",
            updated_at="2026-03-02 10:00:00",
        ),
        completion=CompletionRecord(
            id="c-1", wanted_id="w-1", completed_by="bob", evidence="https://x"
        ),
        stamp=Stamp(
            id="s-1",
            author="hop",
            subject="bob",
            quality=4,
            reliability=5,
            severity="leaf",
            skill_tags=["go"],
            message="nice",
        ),
        branch="wl/alice/w-1",
        branch_url="https://u",
        delta="accept",
        main_status="in_review",
        pr_url="https://pr",
    )
    assert render.detail_status(PLAIN, detail) == (
        "w-1: Fix\n\n"
        "  Status:      completed\n"
        "  Type:        bug           Priority: P1\n"
        "  Project:     gt            Effort:   small\n"
        "  Posted by:   hop\n"
        "  Tags:        go, auth\n"
        "  Created:     2026-03-01 10:00:00\n"
        "  Updated:     2026-03-02 10:00:00\n"
        "\n  Description:\n    Long text\n"
        "\n  Claimed by:  bob\n"
        "\n  Branch:      wl/alice/w-1\n"
        "  Branch URL:  https://u\n"
        "  Delta:       accept\n"
        "  Main status: in_review\n"
        "  PR:          https://pr\n"
        "\n  Completion:  c-1\n    Evidence:    https://x\n    Completed by: bob\n"
        "\n  Stamp:       s-1\n"
        "    Quality: 4  Reliability: 5  Severity: leaf\n"
        "    Skills:      go\n"
        "    Accepted by: hop\n"
        "    Message:     nice\n"
    )


def test_status_block_minimal() -> None:
    detail = DetailResult(
        item=WantedItem(id="w-1", title="T", priority=2, status="open", effort_level="medium")
    )
    assert render.detail_status(PLAIN, detail) == (
        "w-1: T\n\n  Status:      open\n  Priority: P2\n  Effort:   medium\n"
    )


def test_mutation_result_lines() -> None:
    result = MutationResult(
        detail=DetailResult(
            item=WantedItem(id="w-1", title="T", status="claimed"),
            branch_url="https://b",
            pr_url="https://p",
            delta="claim",
        ),
        branch="wl/alice/w-1",
        hint="a hint",
    )
    assert render.mutation_result(PLAIN, "Claimed", "w-1", result, ["Claimed by: alice"]) == (
        "✓ Claimed w-1\n  Title: T\n  Status: claimed\n  Claimed by: alice\n"
        "  Branch: wl/alice/w-1\n  Branch URL: https://b\n  PR: https://p\n  Delta: claim\n"
        "\n  a hint\n"
    )
    bare = MutationResult(detail=DetailResult(item=WantedItem(id="w-1", title="", status="")))
    assert render.mutation_result(PLAIN, "Closed", "w-1", bare) == "✓ Closed w-1\n  Title: \n"


def test_colour_only_when_enabled() -> None:
    colour = Styler(enabled=True)
    styled = render.mutation_result(colour, "Claimed", "w-1", MutationResult())
    assert "\x1b[1m✓\x1b[0m" in styled
    assert strip_ansi(styled) == "✓ Claimed w-1\n"
    table = render.browse_table(
        colour, [WantedSummary("w-1", "t", "", "", "", 0, "", "", "open", "m")], False
    )
    plain = render.browse_table(
        PLAIN, [WantedSummary("w-1", "t", "", "", "", 0, "", "", "open", "m")], False
    )
    assert strip_ansi(table) == plain
