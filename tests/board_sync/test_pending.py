"""The pending overlay rules: which open pull requests show on the board, and how."""

from __future__ import annotations

import pytest
from wl_board_sync.pending import (
    ItemBranch,
    PendingChange,
    PendingState,
    choose,
    overlay_for,
    parse_item_branch,
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


def test_a_claim_by_the_branch_rig_shows_over_an_open_item() -> None:
    assert choose("open", [change("claimed", "alice")]) == PendingState(
        "claimed", "alice", "alice", "1"
    )


def test_a_claim_naming_another_rig_is_ignored() -> None:
    assert choose("open", [change("claimed", "bob")]) is None


def test_a_branch_that_no_longer_fits_upstream_is_stale() -> None:
    # Upstream already moved on (claimed by someone else): the old claim PR shows nothing.
    assert choose("claimed", [change("claimed", "alice")]) is None
    assert choose("completed", [change("in_review", "alice")]) is None


def test_unclaims_are_not_shown() -> None:
    assert choose("claimed", [change("open", None)]) is None


def test_done_and_accept_show_as_their_next_state() -> None:
    assert choose("claimed", [change("in_review", "alice")]) is not None
    assert choose("in_review", [change("completed", "alice", rig="hop")]) is not None


def test_the_oldest_pull_request_wins() -> None:
    chosen = choose(
        "open",
        [
            change("claimed", "bob", rig="bob", pull_id="12"),
            change("claimed", "alice", pull_id="3"),
        ],
    )
    assert chosen is not None
    assert chosen.claimed_by == "alice"


def test_overlay_only_covers_items_the_board_has() -> None:
    overlay = overlay_for(
        {"w-1": "open"},
        [change("claimed", "alice"), PendingChange("w-new", "claimed", "alice", "alice", "2")],
    )
    assert set(overlay) == {"w-1"}
