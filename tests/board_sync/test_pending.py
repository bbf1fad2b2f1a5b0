"""The pending overlay rules: which open pull requests show on the board, and how."""

from __future__ import annotations

import pytest
from wl_board_sync.commons import WantedRow, parse_wanted
from wl_board_sync.pending import (
    ItemBranch,
    PendingChange,
    PendingState,
    Upstream,
    choose,
    overlay_for,
    parse_item_branch,
    pending_posts,
    reachable,
)


@pytest.mark.parametrize(
    ("branch", "expected"),
    [
        ("wl/alice/w-abc", ItemBranch("alice", "w-abc")),
        ("wl/register/alice", None),
        ("wl/alice", None),
        ("wl/alice/w-abc/extra", None),
        ("main", None),
        ("feature/wl/alice/w-1", None),
        ("wl//w-1", None),
        ("wl/alice/" + "x" * 65, None),
    ],
)
def test_item_branches_name_a_rig_and_an_item(branch: str, expected: ItemBranch | None) -> None:
    assert parse_item_branch(branch) == expected


def change(
    status: str, claimed_by: str | None, rig: str = "alice", pull_id: str = "1"
) -> PendingChange:
    return PendingChange("w-1", status, claimed_by, rig, pull_id)


OPEN = Upstream("open")


def test_a_claim_by_the_branch_rig_shows_over_an_open_item() -> None:
    assert choose(OPEN, [change("claimed", "alice")]) == PendingState(
        "claimed", "alice", "alice", "1"
    )


def test_a_claim_naming_another_rig_is_ignored() -> None:
    assert choose(OPEN, [change("claimed", "bob")]) is None


def test_a_branch_that_no_longer_fits_upstream_is_stale() -> None:
    # Upstream already moved on (claimed by someone else): the old claim PR shows nothing.
    assert choose(Upstream("claimed", "bob"), [change("claimed", "alice")]) is None
    assert choose(Upstream("completed", "alice"), [change("in_review", "alice")]) is None
    # The claimer is not changed by a later step.
    assert choose(Upstream("claimed", "bob"), [change("in_review", "alice")]) is None


def test_unclaims_are_not_shown() -> None:
    assert choose(Upstream("claimed", "alice"), [change("open", None)]) is None


def test_done_accept_and_reject_show_as_the_state_they_propose() -> None:
    assert choose(Upstream("claimed", "alice"), [change("in_review", "alice")]) is not None
    accepted = choose(Upstream("in_review", "alice"), [change("completed", "alice", rig="hop")])
    assert accepted == PendingState("completed", "alice", "hop", "1")
    rejected = choose(Upstream("in_review", "alice"), [change("claimed", "alice", rig="hop")])
    assert rejected == PendingState("claimed", "alice", "hop", "1")


def test_several_steps_on_one_branch_show_as_their_end_state() -> None:
    """A claim and a done on one branch (one pull request) propose in_review."""
    assert choose(OPEN, [change("in_review", "alice")]) == PendingState(
        "in_review", "alice", "alice", "1"
    )
    assert choose(OPEN, [change("in_review", "bob")]) is None  # alice's branch, bob's claim


@pytest.mark.parametrize("start", ["open", "claimed", "in_review", "completed", "withdrawn"])
def test_reachable_follows_the_lifecycle(start: str) -> None:
    expected = {
        "open": {"claimed", "in_review", "completed", "withdrawn", "open"},
        "claimed": {"open", "in_review", "completed", "claimed", "withdrawn"},
        "in_review": {"completed", "claimed", "open", "in_review", "withdrawn"},
        "completed": set(),
        "withdrawn": set(),
    }[start]
    assert reachable(start) == expected


def test_the_oldest_pull_request_wins() -> None:
    chosen = choose(
        OPEN,
        [
            change("claimed", "bob", rig="bob", pull_id="12"),
            change("claimed", "alice", pull_id="3"),
        ],
    )
    assert chosen is not None
    assert chosen.claimed_by == "alice"


def test_overlay_only_covers_items_the_board_has() -> None:
    overlay = overlay_for(
        {"w-1": OPEN},
        [change("claimed", "alice"), PendingChange("w-new", "claimed", "alice", "alice", "2")],
    )
    assert set(overlay) == {"w-1"}


def _row(wanted_id: str, posted_by: str, status: str = "open") -> WantedRow:
    parsed = parse_wanted(
        [{"id": wanted_id, "title": "New", "posted_by": posted_by, "status": status}], "branch"
    )
    return parsed.rows[0]


def test_a_post_not_merged_yet_is_the_posters_pending_post() -> None:
    posts = pending_posts(
        {"w-1": OPEN},
        [
            PendingChange("w-new", "open", None, "alice", "7", _row("w-new", "alice")),
            PendingChange("w-new", "open", None, "alice", "9", _row("w-new", "alice")),
            # A branch of bob's holding an item posted by alice is not bob's post.
            PendingChange("w-odd", "open", None, "bob", "8", _row("w-odd", "alice")),
            # Already upstream: an ordinary item, not a post.
            PendingChange("w-1", "open", None, "alice", "5", _row("w-1", "alice")),
        ],
    )
    assert [(p.row.wanted_id, p.rig, p.pull_id) for p in posts] == [("w-new", "alice", "7")]
