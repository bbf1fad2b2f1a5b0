"""The pending overlay rules: which open pull requests show on the board, and how."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wl_board_sync.commons import WantedRow, parse_wanted
from wl_board_sync.pending import (
    UNDECIDED,
    ItemBranch,
    PendingChange,
    PendingState,
    Undecided,
    Upstream,
    choose,
    overlay_for,
    overlay_with,
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


# --------------------------------------------------------------------------- one change

STATUSES = ("open", "claimed", "in_review", "completed", "withdrawn")
RIGS = ("alice", "bob", "carol")


@st.composite
def proposals_and_change(
    draw: st.DrawFn,
) -> tuple[Upstream, list[PendingChange], PendingChange]:
    """An item's upstream state, the open pull requests proposing something for it (at
    most one per rig: one branch per rig and item, one open pull request per branch), and
    one rig's next verified change: a new or updated proposal, or a withdrawal."""
    status = draw(st.sampled_from(STATUSES))
    upstream = Upstream(status, draw(st.sampled_from((None, *RIGS))) if status != "open" else None)
    rigs = draw(st.lists(st.sampled_from(RIGS), unique=True, max_size=3))
    pull_ids = draw(st.lists(st.integers(1, 50), unique=True, min_size=4, max_size=4))
    before = [
        PendingChange(
            "w-1",
            draw(st.sampled_from(STATUSES)),
            draw(st.sampled_from((None, *RIGS))),
            rig,
            str(pull_ids[index]),
        )
        for index, rig in enumerate(rigs)
    ]
    rig = draw(st.sampled_from(RIGS))
    own = [p for p in before if p.rig == rig]
    kind = draw(st.sampled_from(("same pull", "new pull", "withdrawn")))
    if kind == "withdrawn":
        pull_id = ""
    elif kind == "same pull" and own:
        pull_id = own[0].pull_id
    else:
        pull_id = str(pull_ids[3])
    change = PendingChange(
        "w-1",
        draw(st.sampled_from(STATUSES)),
        draw(st.sampled_from((None, rig, *RIGS))),
        rig,
        pull_id,
    )
    return upstream, before, change


@given(proposals_and_change())
def test_one_verified_change_gives_the_overlay_a_full_read_would(
    case: tuple[Upstream, list[PendingChange], PendingChange],
) -> None:
    upstream, before, change = case
    after = [p for p in before if p.rig != change.rig] + ([change] if change.pull_id else [])

    decided = overlay_with(upstream, choose(upstream, before), change)

    if not isinstance(decided, Undecided):
        assert decided == choose(upstream, after)


def test_withdrawing_the_shown_claim_needs_a_read_of_the_others() -> None:
    upstream = Upstream("open")
    shown = PendingState("claimed", "alice", "alice", "4")
    withdrawn = PendingChange("w-1", "open", None, "alice", "")

    assert overlay_with(upstream, shown, withdrawn) is UNDECIDED
    # A claim that was not shown going away changes nothing.
    assert overlay_with(upstream, shown, PendingChange("w-1", "open", None, "bob", "")) == shown


def test_a_new_claim_shows_unless_an_older_one_does() -> None:
    upstream = Upstream("open")
    claim = PendingChange("w-1", "claimed", "bob", "bob", "7")

    assert overlay_with(upstream, None, claim) == PendingState("claimed", "bob", "bob", "7")
    older = PendingState("claimed", "alice", "alice", "4")
    assert overlay_with(upstream, older, claim) == older
